"""``--claims-changed``: rerun only the claims whose fingerprint differs from the existing report's.

The other claims are deselected; as in any partial run, they keep their results from the report they
come from, each marked with that run (``from_earlier_run``, ``from_run``: start, commit, profile),
so the report says which claims are older.  A report of another profile or base seed, or none at all,
reruns everything.
"""

from __future__ import annotations

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
            keep[c["id"]] = c
    rerun = len(cat.claims) - len(keep)
    return keep, f"--claims-changed: {rerun} claim(s) changed since {report}, {len(keep)} kept from it"
