"""``python -m harness stability``: rerun the claims with several base seeds and report verdict flips.

Each run is a separate ``pytest claims/`` process with its own report folder, so runs cannot share
state.  Per claim, the table lists the verdicts seen and the spread of the key effect; a claim whose
verdict differs between seeds is *unstable*; a claim whose verdict holds while one of its cases
flips is listed apart, and so is every run with a claim not as declared; the command exits 1 on any.  A throughput claim that
skipped a case because other processes held the cores ("machine busy") measured nothing in that
run: the run is listed for it ("skipped under load") but not compared, since the skip is the
machine's state, not the base seed's.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from harness.results import ResultsError, load_results, write_json_atomic


def run_seeds(seeds: list[int], profile: str, out: Path, extra: list[str]) -> list[tuple[int, Path, float]]:
    runs = []
    for seed in seeds:
        folder = out / f"seed-{seed}"
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "claims/",
            "--claims-profile",
            profile,
            "--claims-seed",
            str(seed),
            "--claims-report-dir",
            str(folder),
            "-p",
            "no:cacheprovider",
            "-q",
            *extra,
        ]
        print(f"[stability] {' '.join(cmd[2:])}", flush=True)
        t0 = time.time()
        subprocess.run(cmd, check=False)  # pytest's progress streams to this terminal as it runs
        runs.append((seed, folder / "claims.json", time.time() - t0))
    return runs


LOAD_SKIP = "machine busy"  # how a throughput case words a skip for foreign load (claims/test_hardware.py, test_sequence.py)


def skipped_under_load(claim: dict) -> bool:
    """Whether a case of ``claim`` was skipped because other processes held the cores."""
    return any(c.get("verdict") == "skipped" and str(c.get("reason", "")).startswith(LOAD_SKIP) for c in claim.get("cases", []))


def analyse(results: list[tuple[int, dict]]) -> dict:
    """Per claim: verdict per seed, distinct verdicts, key effect per seed and its spread, unstable or not.
    Runs in which a claim skipped a case under foreign load are kept apart (``under_load``), not compared."""
    claims: dict[str, dict] = {}
    for seed, data in results:
        for c in data["claims"]:
            row = claims.setdefault(
                c["id"],
                {
                    "id": c["id"],
                    "theme": c["theme"],
                    "verdicts": {},
                    "effects": {},
                    "under_load": [],
                    "unit": (c.get("key") or {}).get("unit", ""),
                },
            )
            if skipped_under_load(c):
                row["under_load"].append(seed)
                continue
            row["verdicts"][str(seed)] = c["verdict"]
            row["effects"][str(seed)] = (c.get("key") or {}).get("effect")
            for case in c.get("cases", []):
                name = "::".join(x for x in (case.get("test", ""), case.get("case", "")) if x)
                row.setdefault("case_verdicts", {}).setdefault(name, {})[str(seed)] = case.get("verdict")
            if c.get("as_expected") is False:
                row.setdefault("not_as_expected", []).append(seed)
    for row in claims.values():
        if not row["verdicts"]:  # skipped under load in every run: nothing to compare
            row.update(verdict="skipped", held=0, runs=0, seen=["skipped under load"], unstable=False, effect_min=None, effect_max=None)
            row.update(case_flips=[], not_as_expected=row.get("not_as_expected", []))
            row.pop("case_verdicts", None)
            continue
        seen = sorted(set(row["verdicts"].values()))
        effects = [e for e in row["effects"].values() if e is not None]
        counted = [v for v in row["verdicts"].values()]
        modal = max(seen, key=counted.count)
        row["verdict"], row["held"], row["runs"] = modal, counted.count(modal), len(counted)  # "held on k of N base seeds"
        row["seen"] = seen
        row["unstable"] = len(seen) > 1
        # a case whose verdict changes while the claim's does not (e.g. one case of a claim supported in part)
        row["case_flips"] = sorted(n for n, v in row.pop("case_verdicts", {}).items() if len(set(v.values())) > 1)
        row["not_as_expected"] = row.get("not_as_expected", [])
        row["effect_min"] = min(effects) if effects else None
        row["effect_max"] = max(effects) if effects else None
    return {
        "claims": sorted(claims.values(), key=lambda r: (r["theme"], r["id"])),
        "unstable": [r["id"] for r in claims.values() if r["unstable"]],
        "case_flips": [r["id"] for r in claims.values() if r["case_flips"] and not r["unstable"]],
        "not_as_expected": {str(seed): sorted(r["id"] for r in claims.values() if seed in r["not_as_expected"]) for seed, _ in results},
    }


def render(table: dict) -> str:
    lines = [f"{'claim':44s} {'verdict (held on k of N seeds)':40s} {'verdicts seen':32s} key effect (min .. max)"]
    for r in table["claims"]:
        eff = "-" if r["effect_min"] is None else f"{r['effect_min']:.4g} .. {r['effect_max']:.4g} {r['unit']}"
        mark = "  UNSTABLE" if r["unstable"] else ""
        held = f"{r['verdict']} ({r['held']} of {r['runs']})"
        if r.get("under_load"):
            held += f", {len(r['under_load'])} under load"
        lines.append(f"{r['id']:44s} {held:40s} {', '.join(r['seen']):32s} {eff}{mark}")
        if r.get("case_flips"):
            lines.append(f"{'':44s} cases that flipped: {', '.join(r['case_flips'])}")
    n = len(table["unstable"])
    lines.append(
        f"{n} unstable claim(s): {', '.join(table['unstable'])}"
        if n
        else f"no verdict flips over {len(table['seeds'])} base seeds ({table['profile']} profile)"
    )
    if table.get("case_flips"):
        lines.append(f"{len(table['case_flips'])} claim(s) with the same verdict but a case that flipped: {', '.join(table['case_flips'])}")
    failed = {s: ids for s, ids in table.get("not_as_expected", {}).items() if ids}
    lines.append(
        "runs with claims not as declared: " + "; ".join(f"seed {s}: {', '.join(ids)}" for s, ids in failed.items())
        if failed
        else "every run as declared"
    )
    return "\n".join(lines)


def main(args) -> int:
    out = Path(args.out)
    seeds = list(range(args.first_seed, args.first_seed + args.runs))
    if args.reuse:
        runs = [(s, out / f"seed-{s}" / "claims.json", 0.0) for s in seeds]
    else:
        runs = run_seeds(seeds, args.profile, out, args.pytest_args)
    loaded = []
    for seed, path, _ in runs:
        try:
            loaded.append((seed, load_results(path)))
        except ResultsError as exc:
            print(f"error: the run with seed {seed} left no readable results: {exc}", file=sys.stderr)
            return 2
    table = analyse(loaded) | {"profile": args.profile, "seeds": seeds, "durations_s": {str(s): round(d, 1) for s, _, d in runs}}
    write_json_atomic(table, out / "stability.json")
    print(render(table))
    print(f"wrote {out / 'stability.json'}")
    return 1 if table["unstable"] or table["case_flips"] or any(table["not_as_expected"].values()) else 0


def add_parser(sub) -> None:
    p = sub.add_parser("stability", help="rerun the claims with several base seeds and report verdict flips")
    p.add_argument("--runs", type=int, default=5, help="number of base seeds (default: 5)")
    p.add_argument("--first-seed", type=int, default=0, help="base seeds first-seed .. first-seed+runs-1 (default: 0)")
    p.add_argument("--profile", default="default", choices=("quick", "default", "full"))
    p.add_argument("--out", default="reports/stability", help="folder for each run's report and stability.json")
    p.add_argument("--reuse", action="store_true", help="analyse the runs already in --out without rerunning")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments after --, e.g. -- -n 2")
    p.set_defaults(func=main)
