"""Joining the shards of one run: results files written by ``pytest claims/ --splits N --group I``.

pytest-split selects shard I of N by test item, balanced by the durations stored in the repository
(``.test_durations``), so the cases of one claim may run in different shards.  Joining puts every
claim's cases back together and decides its verdict again from all of them, exactly as one run would
(:func:`harness.results.aggregate.aggregate`).  Each case keeps the environment of the machine that
ran it.  Shards of different profiles, base seeds, split counts or claim catalogues are refused, and
so is a shard given twice or a missing one.
"""

from __future__ import annotations

import copy
from pathlib import Path

from harness.results import aggregate as A
from harness.results import files as R


class ShardError(ValueError):
    """The files are not the shards of one run: names the file and the mismatch."""


def _shard(path: str, data: dict) -> tuple[int, int]:
    shard = data["run"].get("shard")
    if not shard:
        raise ShardError(f"{path}: not a shard (no run.shard; was it run with --splits N --group I?)")
    return int(shard["group"]), int(shard["splits"])


def join(runs: list[tuple[str, dict]]) -> dict:
    """One results dict from the loaded shards ``(path, data)`` of a run (any order)."""
    if not runs:
        raise ShardError("no shard given")
    first_path, first = runs[0]
    groups: dict[int, str] = {}
    splits = _shard(first_path, first)[1]
    for path, data in runs:
        group, n = _shard(path, data)
        for key in ("profile", "seed"):
            if data["run"][key] != first["run"][key]:
                raise ShardError(f"{path}: {key} {data['run'][key]!r}, but {first_path} has {first['run'][key]!r}: not one run")
        if n != splits:
            raise ShardError(f"{path}: one of {n} shards, but {first_path} is one of {splits}")
        if group in groups:
            raise ShardError(f"{path}: shard {group} of {n} is also {groups[group]}")
        if [c["id"] for c in data["claims"]] != [c["id"] for c in first["claims"]]:
            raise ShardError(f"{path}: its catalogue differs from {first_path}'s (another commit?)")
        groups[group] = path
    missing = sorted(set(range(1, splits + 1)) - set(groups))
    if missing:
        raise ShardError(f"shard(s) {', '.join(map(str, missing))} of {splits} missing (have: {', '.join(groups.values())})")
    out = copy.deepcopy(first)
    claims = []
    for i, declared in enumerate(first["claims"]):
        d = copy.deepcopy(declared)
        cases = []
        for path, data in runs:
            env = data["run"]["environment"] | {"shard": f"{_shard(path, data)[0]} of {splits}"}
            if data["claims"][i].get("from_earlier_run"):  # kept from an earlier run in that shard's folder
                continue
            for case in data["claims"][i]["cases"]:
                cases.append(copy.deepcopy(case) | {"environment": case.get("environment", env)})
        cases.sort(key=lambda c: c["nodeid"])
        for k in ("verdict", "verdict_reason", "as_expected", "scope", "disputed", "declared", "key", "counts", "duration_s", "cases"):
            d.pop(k, None)
        if not cases:  # never collected in any shard: keep the first file's reason (e.g. a collection error)
            claims.append(declared)
            continue
        cv = A.aggregate(d, cases)
        d.update(A.claim_fields(d, cases, cv))
        claims.append(d)
    out["claims"] = claims
    out["summary"] = A.summary(claims)
    run = out["run"]
    run.pop("shard", None)
    run["shards"] = [
        {
            "file": str(p),
            "group": _shard(p, d)[0],
            "cpu_model": d["run"]["environment"].get("cpu_model"),
            "cuda_device": d["run"]["environment"].get("cuda_device"),
            "duration_s": d["run"]["duration_s"],
        }
        for p, d in sorted(runs, key=lambda pd: _shard(*pd)[0])
    ]
    run["duration_s"] = max(d["run"]["duration_s"] for _, d in runs)
    run["exit_status"] = max(int(d["run"]["exit_status"]) for _, d in runs)
    run["interrupted"] = any(d["run"]["interrupted"] for _, d in runs)
    return out


def join_files(paths: list[str | Path]) -> dict:
    """Load (each validated) and join; a bad file raises ResultsError, a mismatch ShardError, naming the file."""
    out = join([(str(p), R.load_results(p)) for p in paths])
    R.validate(out, "joined shards")
    return out
