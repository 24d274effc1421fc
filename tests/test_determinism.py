"""Determinism on real claims: the same base seed on the same machine gives identical numbers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUBSET = ("relu-units-can-die", "sgd-beats-gd-on-redundant-data")  # a torch claim and a numpy claim, both quick


def _numbers(data: dict) -> dict:
    out = {}
    for c in data["claims"]:
        for k in c["cases"]:
            ev = k.get("evidence") or {}
            out[k["nodeid"]] = (
                [m["values"] for m in ev.get("measurements", [])],
                [(j["effect"], j["ci"], j["p"]) for j in ev.get("judgements", [])],
                k["verdict"],
            )
    return out


def _run(tmp: Path, seed: int) -> dict:
    args = [
        sys.executable,
        "-m",
        "pytest",
        "claims/",
        "--claims-profile",
        "quick",
        "--claims-seed",
        str(seed),
        "--claims-report-dir",
        str(tmp),
        "-p",
        "no:cacheprovider",
        "-q",
    ]
    for cid in SUBSET:
        args += ["--claim", cid]
    subprocess.run(args, cwd=ROOT, capture_output=True, check=False)
    return json.loads((tmp / "claims.json").read_text())


def test_same_seed_same_numbers_and_the_thread_count_is_recorded(tmp_path):
    a, b = _run(tmp_path / "a", 11), _run(tmp_path / "b", 11)
    na, nb = _numbers(a), _numbers(b)
    ran = [v for v in na.values() if v[2] != "skipped"]  # a case the quick profile skips measures nothing
    assert len(ran) >= len(SUBSET) and all(v[0] for v in ran)
    assert na == nb
    assert a["run"]["environment"]["threads"] == 1
