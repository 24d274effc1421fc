"""One badge per claim: ``badges/<claim-id>.svg`` and ``.json`` (the shields.io endpoint format)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.verdicts import COLOURS, LABELS


def badge_json(claim: dict) -> dict:
    """shields.io endpoint badge: https://shields.io/badges/endpoint-badge."""
    return {
        "schemaVersion": 1,
        "label": claim["id"],
        "message": LABELS[claim["verdict"]],
        "color": COLOURS[claim["verdict"]].lstrip("#"),
        "isError": claim["verdict"] == "error",
    }


def badge_svg(claim: dict) -> str:
    import anybadge

    return anybadge.Badge(label=claim["id"], value=LABELS[claim["verdict"]], default_color=COLOURS[claim["verdict"]]).badge_svg_text


def write_badges(data: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    keep = set()
    for c in data["claims"]:
        (out / f"{c['id']}.json").write_text(json.dumps(badge_json(c)) + "\n", encoding="utf-8")
        (out / f"{c['id']}.svg").write_text(badge_svg(c), encoding="utf-8")
        keep |= {f"{c['id']}.json", f"{c['id']}.svg"}
    for stale in out.glob("*"):  # a claim removed from the catalogue loses its badge
        if stale.name not in keep and stale.suffix in (".svg", ".json"):
            stale.unlink()
