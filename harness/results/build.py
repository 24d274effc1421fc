"""Building the results dict (``reports/claims.json``) from a run's case payloads and its catalogue."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import verdicts as V
from harness.catalogue import Catalogue, CatalogueError
from harness.profiles import Profile
from harness.results import aggregate as A
from harness.results import files
from harness.results.environment import environment
from harness.results.fingerprint import fingerprint


@dataclass
class RunState:
    """What the plugin knows at the end of a run, in plain values (no pytest objects)."""

    catalogue: Catalogue
    profile: Profile
    base_seed: int
    device: str
    started: float  # time.time() at the start
    command: str  # the invocation, shell-quoted
    reproduce: str  # the invocation with profile and seed made explicit
    exit_status: int
    workers: int  # pytest-xdist workers, 0 for a serial run
    payloads: dict[str, dict] = field(default_factory=dict)  # nodeid -> case payload
    teardown_errors: dict[str, str] = field(default_factory=dict)  # nodeid -> message
    collect_errors: dict[str, str] = field(default_factory=dict)  # test module file name -> message
    missing_modules: dict[str, str] = field(default_factory=dict)  # test module file name -> message
    runs_every_claim: bool = True  # the run targets the whole claims folder
    selected: tuple[str, ...] = ()  # --claim ids, empty for all
    shard: tuple[int, int] | None = None  # (group, splits) of a pytest-split shard (--splits N --group I)
    claims_dir: Path | None = None  # the claim test modules, for each claim's fingerprint
    kept: tuple[str, ...] = ()  # --claims-changed: claims not rerun (their results are carried over)
    interrupted: bool = False
    partial: bool = False  # some claims only (--claim, -k, a module path) or interrupted


def build_results(s: RunState) -> dict:
    """The results dict of one run, valid against the schema."""
    cat = s.catalogue
    by_claim: dict[str, list[dict]] = {cid: [] for cid in cat.claims}
    for nodeid, p in s.payloads.items():
        if nodeid in s.teardown_errors and p["verdict"] != V.ERROR:
            p = p | {"verdict": V.ERROR, "reason": f"teardown failed: {s.teardown_errors[nodeid]}"}
        by_claim.setdefault(p["claim"], []).append(p)
    claims = []
    for cid, claim in cat.claims.items():
        d = claim.to_dict()
        cases = sorted(by_claim.get(cid, []), key=lambda p: natural_key(p["nodeid"]))
        module_error = s.collect_errors.get(claim.test_module) or (s.missing_modules.get(claim.test_module) if s.runs_every_claim else None)
        if module_error and not cases:
            cv = A.ClaimVerdict(V.ERROR, f"collection error in claims/{claim.test_module}: {module_error[-600:]}", False)
        else:
            if not cases and s.collect_errors:
                d["not_run_reason"] = f"the run stopped at a collection error in {', '.join(sorted(s.collect_errors))}"
            elif not cases and s.interrupted:
                d["not_run_reason"] = "the run was interrupted before this claim ran"
            elif not cases and s.selected:
                d["not_run_reason"] = "not selected (--claim)"
            elif not cases and cid in s.kept:
                d["not_run_reason"] = "unchanged since the last report (--claims-changed)"
            elif not cases and s.shard:
                d["not_run_reason"] = f"in another shard (this is shard {s.shard[0]} of {s.shard[1]})"
            cv = A.aggregate(d, cases)
            d.pop("not_run_reason", None)
        budget = s.profile.case_budget_s
        for c in cases:
            c["over_budget"] = c["duration_s"] > budget
        if s.claims_dir is not None:
            d["fingerprint"] = fingerprint(claim, s.claims_dir, s.profile.name, s.base_seed, cat.sources_dir.parent / "references.toml")
        d.update(A.claim_fields(d, cases, cv))
        claims.append(d)
    finished = time.time()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(s.started))
    origin = from_run(started, s.profile.name, s.base_seed, s.partial)
    for d in claims:
        d["from_run"] = origin
    return {
        "tool": "dlclaims",
        "schema_version": files.SCHEMA_VERSION,
        "run": {
            "started": started,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(finished)),
            "duration_s": round(finished - s.started, 2),
            "profile": s.profile.name,
            "n_seeds": s.profile.n_seeds,
            "seed": s.base_seed,
            "case_budget_s": s.profile.case_budget_s,
            "timeout_s": s.profile.timeout_s,
            "command": s.command,
            "reproduce": s.reproduce,
            "interrupted": s.interrupted,
            "partial": s.partial,
            "exit_status": s.exit_status,
            "workers": s.workers,
            "environment": environment(s.device),
            "recorded_elsewhere": False,
            **({"shard": {"group": s.shard[0], "splits": s.shard[1]}} if s.shard else {}),
        },
        "summary": A.summary(claims),
        "documents": _documents(cat),
        "claims": claims,
        "references": [r.to_dict() for r in cat.references.values()],
        "coverage": _coverage(cat, {c["id"]: c["verdict"] for c in claims}),
    }


def from_run(started: str, profile: str, seed: int, partial: bool) -> dict:
    """Where a claim's verdict comes from: the run's start, profile, seed and commit."""
    from harness.results.environment import git_commit

    return {"started": started, "profile": profile, "seed": seed, "git_commit": git_commit(), "partial": partial}


def update_previous(data: dict, previous: Path) -> dict:
    """A partial run's results laid over the folder's existing ``claims.json``: the claims this run ran
    (any verdict but not run) take its result; every other claim keeps its earlier one, with the run it
    comes from (``from_run``).  No readable earlier file: this run's results alone."""
    if not previous.exists():
        return data
    try:
        old = files.load_results(previous)
    except files.ResultsError as exc:
        data["run"].setdefault("warnings", []).append(f"kept nothing of the earlier results: {exc}")
        return data
    earlier = {c["id"]: c for c in old["claims"]}
    r = old["run"]
    origin = {"started": r["started"], "profile": r["profile"], "seed": r["seed"], "git_commit": r["environment"].get("git_commit")}
    origin["partial"] = bool(r.get("partial"))
    claims, kept = [], 0
    for c in data["claims"]:
        before = earlier.get(c["id"])
        if c["verdict"] == V.NOT_RUN and before is not None and before["verdict"] != V.NOT_RUN:
            before = dict(before, from_earlier_run=True)
            before.setdefault("from_run", origin)
            claims.append(before)
            kept += 1
        else:
            claims.append(c)
    data = dict(data, claims=claims, summary=A.summary(claims))
    data["run"] = dict(data["run"], kept_from_earlier=kept)
    return data


def _coverage(cat: Catalogue, verdicts: dict[str, str]) -> list[dict]:
    from harness.results import coverage

    try:
        return coverage.summary(cat, coverage.account(cat), verdicts)
    except CatalogueError as exc:  # a broken coverage.toml must not cost the run its results
        return [
            {
                "document": "(all)",
                "units": 0,
                "status": {},
                "claims": 0,
                "claims_by_kind": {},
                "unaccounted": [],
                "not_testable": [],
                "error": str(exc),
            }
        ]


def natural_key(text: str) -> list:
    """Sort key that puts depth5 before depth10."""
    import re

    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _documents(cat: Catalogue) -> list[dict]:
    import tomllib

    meta_path = cat.sources_dir / "documents.toml"
    meta = tomllib.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
    out = []
    for p in sorted(cat.sources_dir.glob("*.txt")):
        m = meta.get(p.name, {})
        out.append(
            {
                "file": p.name,
                "title": m.get("title", p.name),
                "author": m.get("author", ""),
                "url": m.get("url", ""),
                "text": p.read_text(encoding="utf-8"),
            }
        )
    return out


def with_evidence_from_elsewhere(data: dict, report_dir: Path) -> dict:
    """Claims that did not run here (e.g. GPU-only) take their verdict from results committed under
    ``reports/evidence/`` (recorded on another machine), clearly labelled as such.  A bad file there
    is reported in the run's notes, not fatal."""
    from harness.results import merge

    recorded = merge.recorded_elsewhere(report_dir)
    if not recorded:
        return data
    runs = [("this run", data)]
    for f in recorded:
        try:
            runs.append((str(f), files.load_results(f)))
        except files.ResultsError as exc:
            data["run"].setdefault("warnings", []).append(f"ignored recorded evidence: {exc}")
    if len(runs) == 1:
        return data
    return merge.merge(runs, allow_mixed=True)  # e.g. a GPU run of the full profile: each claim marked
