"""``--claims-changed``: rerun only the claims whose fingerprint differs from the existing report's.

The other claims are deselected, and their results are carried over from the report they come from,
each marked with that run's start, commit and profile (``carried_from``), so the report says which
claims are older.  A report of another profile or base seed, or none at all, reruns everything.
"""

from __future__ import annotations

import copy
from pathlib import Path

from harness import verdicts as V
from harness.catalogue import Catalogue
from harness.results import files
from harness.results.fingerprint import fingerprint


def unchanged(cat: Catalogue, claims_dir: Path, report: Path, profile: str, seed: int) -> tuple[dict[str, dict], str]:
    """Claims of ``report`` that need no rerun (id -> their old results), and a line saying why others do."""
    try:
        old = files.load_results(report)
    except files.ResultsError as exc:
        return {}, f"--claims-changed: every claim runs ({exc})"
    if old["run"]["profile"] != profile or old["run"]["seed"] != seed:
        return {}, (
            f"--claims-changed: every claim runs ({report} is profile {old['run']['profile']}, seed {old['run']['seed']}; "
            f"this run is profile {profile}, seed {seed})"
        )
    refs = cat.sources_dir.parent / "references.toml"
    keep = {}
    for c in old["claims"]:
        claim = cat.claims.get(c["id"])
        if claim is None or c["verdict"] in (V.ERROR, V.NOT_RUN) or not c.get("fingerprint"):
            continue
        if c["fingerprint"] == fingerprint(claim, claims_dir, profile, seed, refs):
            origin = c.get("carried_from") or {
                "started": old["run"]["started"],
                "git_commit": old["run"]["environment"].get("git_commit"),
                "profile": old["run"]["profile"],
                "seed": old["run"]["seed"],
            }
            keep[c["id"]] = copy.deepcopy(c) | {"carried_from": origin}
    rerun = len(cat.claims) - len(keep)
    return keep, f"--claims-changed: {rerun} claim(s) changed since {report}, {len(keep)} kept from it"


def carry_over(data: dict, kept: dict[str, dict]) -> dict:
    """The run's results with the kept claims' old entries in place of their not-run ones."""
    from harness.results import aggregate as A

    data["claims"] = [kept.get(c["id"], c) if c["verdict"] == V.NOT_RUN else c for c in data["claims"]]
    data["summary"] = A.summary(data["claims"])
    return data
