"""The dlclaims pytest plugin: options, fixtures, catalogue checks, verdicts and report writing.

Hooks only wire; state lives on the :class:`ClaimsSession` object (registered as a plugin) and on
items' stashes.  Evidence travels from a test to the writer inside the TestReport
(``user_properties``), which is what survives pytest-xdist; the writer runs on the controller only.
"""

from __future__ import annotations

import difflib
import json
import os
import shlex
import sys
import time
from pathlib import Path

import pytest

from harness import judge as J
from harness.catalogue import Catalogue, CatalogueError, load_catalogue
from harness.evidence import ClaimNotSupported, Evidence
from harness.profiles import PROFILES, Profile, derive_seeds

EVIDENCE_KEY = pytest.StashKey[Evidence]()
PAYLOAD = "dlclaims"  # name of the user property that carries a case's payload
SESSION_PLUGIN = "dlclaims-session"


def _positive_seconds(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--claims-case-budget: '{text}' is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"--claims-case-budget: {text} is not a positive number of seconds")
    return value


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("dlclaims", "deep-learning claims")
    g.addoption("--claims-profile", choices=sorted(PROFILES), default="default",
                help="run profile: seeds and sizes (default: %(default)s)")
    g.addoption("--claims-seed", type=int, default=0, help="base seed from which every claim's seeds derive (default: 0)")
    g.addoption("--claims-report-dir", default=None,
                help="where claims.json, index.html and badges/ go (default: reports/ under the root dir)")
    g.addoption("--claim", action="append", default=[], metavar="ID",
                help="run only this claim (repeatable); unknown ids are a usage error")
    g.addoption("--claims-device", choices=("cpu", "cuda"), default="cpu",
                help="device for claims that can use one (default: cpu)")
    g.addoption("--claims-no-report", action="store_true", help="do not write reports/ at the end of the run")
    g.addoption("--claims-case-budget", type=_positive_seconds, default=None, metavar="SECONDS",
                help="per-case time budget, overriding the profile's (quick 6, default 30, full 150 s); a case over it "
                     "is flagged, a case over 10 times it is stopped as an error")
    parser.addini("claims_catalogue", "folder of <theme>.toml claim catalogues", default="claims/catalogue")
    parser.addini("claims_sources", "folder of the source documents the quotes come from", default="fixtures/sources")
    parser.addini("claims_dir", "folder of the claim test modules", default="claims")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "claim(id): the catalogue claim this test gives evidence for")
    config.addinivalue_line("markers", "exclusive: needs the whole machine (throughput); runs alone under xdist")
    session = ClaimsSession(config)
    config.pluginmanager.register(session, SESSION_PLUGIN)


def _root_path(config: pytest.Config, ini: str) -> Path:
    return (config.rootpath / config.getini(ini)).resolve()


class ClaimsSession:
    """Per-run state: the catalogue, the profile, and (on the controller) the case payloads."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.run_profile: Profile = PROFILES[config.getoption("claims_profile")]
        if config.getoption("claims_case_budget") is not None:
            self.run_profile = self.run_profile.with_budget(config.getoption("claims_case_budget"))
        self.base_seed: int = config.getoption("claims_seed")
        self.device: str = config.getoption("claims_device")
        if self.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise pytest.UsageError("--claims-device cuda: this machine has no CUDA device (torch.cuda.is_available() "
                                        "is False); run on a GPU machine, or leave the option out for the CPU")
        self.run_profile = self.run_profile.on(self.device)
        self.is_worker = hasattr(config, "workerinput")
        self.claims_dir = _root_path(config, "claims_dir")
        self.catalogue: Catalogue | None = None
        self.payloads: dict[str, dict] = {}  # nodeid -> payload (controller)
        self.teardown_errors: dict[str, str] = {}
        self.collect_errors: dict[str, str] = {}  # module path -> message
        self.missing_modules: dict[str, str] = {}  # test module name -> message (theme declared, module absent)
        self.collected_claims = False
        self.started = time.time()
        self.results: dict | None = None
        self.report_dir = Path(config.getoption("claims_report_dir") or (config.rootpath / "reports"))
        self.interrupted = False
        self.early = None  # plots.EarlyFigures in a serial run of many claims: figures drawn on an idle core
        self.unfinished: dict[str, set[str]] = {}  # claim id -> node ids still to run (serial runs)

    # -- set-up --------------------------------------------------------------------------------
    def load(self) -> Catalogue:
        if self.catalogue is None:
            try:
                self.catalogue = load_catalogue(_root_path(self.config, "claims_catalogue"),
                                                _root_path(self.config, "claims_sources"))
            except CatalogueError as exc:
                raise pytest.UsageError(f"claim catalogue error: {exc}") from None
        return self.catalogue

    def _under_claims(self, path) -> bool:
        try:
            Path(path).resolve().relative_to(self.claims_dir)
            return True
        except ValueError:
            return False

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from harness import runtime

        runtime.configure_threads_and_determinism()
        if not self.claims_dir.is_dir():
            return
        cat = self.load()
        for theme, claims in cat.by_theme().items():
            module = self.claims_dir / claims[0].test_module
            if not module.exists() and any(c.testable for c in claims):
                # Every other theme still runs; these claims become errors and the run fails.
                self.missing_modules[claims[0].test_module] = (
                    f"{claims[0].catalogue_file} declares theme '{theme}' (claims: {', '.join(c.id for c in claims)}) "
                    f"but its test module {module} does not exist")
        for wanted in self.config.getoption("claim"):
            if wanted not in cat:
                close = difflib.get_close_matches(wanted, list(cat.claims), n=3)
                hint = f" Did you mean: {', '.join(close)}?" if close else " Run `python -m harness list` for the ids."
                raise pytest.UsageError(f"--claim {wanted!r} is not a claim id in {cat.directory}.{hint}")

    def runs_every_claim(self) -> bool:
        """True when the run targets the whole claims folder (not one module, not --claim)."""
        if self.config.getoption("claim"):
            return False
        roots = {self.claims_dir, self.config.rootpath.resolve()}
        return any(Path(str(a).split("::")[0]).resolve() in roots for a in self.config.args)

    def reproduce_command(self) -> str:
        """The invocation with the profile and seed made explicit (their old values dropped)."""
        args, out, skip = list(self.config.invocation_params.args), [], False
        for a in args:
            if skip:
                skip = False
                continue
            if a in ("--claims-profile", "--claims-seed"):
                skip = True
                continue
            if a.startswith(("--claims-profile=", "--claims-seed=")):
                continue
            out.append(a)
        words = " ".join(shlex.quote(a) for a in out) or "claims/"
        return f"pytest {words} --claims-profile {self.run_profile.name} --claims-seed {self.base_seed}"

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        p = self.run_profile
        return [f"dlclaims: profile {p.name} ({p.description}), base seed {self.base_seed}, device {self.device}, "
                f"per-case budget {p.case_budget_s:g} s (stopped at {p.timeout_s:g} s)",
                f"dlclaims: reproduce with: {self.reproduce_command()}"]

    # -- collection ----------------------------------------------------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector):
        report = yield
        if (isinstance(collector, pytest.Module) and self._under_claims(collector.path)
                and report.outcome == "passed"):
            problems = self._check_module(collector, report.result)
            if problems:
                report.outcome = "failed"
                report.longrepr = f"dlclaims: {collector.path.name} does not match the claim catalogue:\n" + \
                    "\n".join(f"  - {p}" for p in problems)
        return report

    def _check_module(self, module: pytest.Module, result) -> list[str]:
        cat = self.load()
        theme = module.path.stem.removeprefix("test_")
        functions = []
        stack = list(result)
        while stack:
            node = stack.pop()
            if isinstance(node, pytest.Function):
                functions.append(node)
            elif isinstance(node, pytest.Class):
                stack.extend(node.collect())
        problems, tested, seen = [], set(), set()
        for fn in functions:
            marks = list(fn.iter_markers("claim"))
            # parametrised cases share one declaration, unless each case names its own claim (pytest.param marks)
            key = (fn.originalname, marks[0].args[0] if marks and marks[0].args else None)
            if key in seen:
                continue
            seen.add(key)
            if not marks or not marks[0].args:
                problems.append(f"test {fn.originalname} has no @pytest.mark.claim('<id>') naming the claim it tests")
                continue
            cid = marks[0].args[0]
            if cid not in cat:
                close = difflib.get_close_matches(cid, list(cat.claims), n=1)
                problems.append(f"test {fn.originalname} names claim '{cid}', which no catalogue declares"
                                + (f" (did you mean '{close[0]}'?)" if close else ""))
                continue
            claim = cat[cid]
            if claim.theme != theme:
                problems.append(f"test {fn.originalname} names claim '{cid}' of theme '{claim.theme}' "
                                f"({claim.catalogue_file}); move the test to claims/{claim.test_module}")
            elif not claim.testable:
                problems.append(f"test {fn.originalname} names claim '{cid}', declared not-testable in {claim.catalogue_file}")
            tested.add(cid)
        for claim in cat.by_theme().get(theme, []):
            if claim.testable and claim.id not in tested:
                problems.append(f"claim '{claim.id}' is declared in {claim.catalogue_file} but no test in "
                                f"{module.path.name} has @pytest.mark.claim('{claim.id}')")
        # every declared case must name a case that exists: a misspelt key would silently judge it as 'supported'
        ids: dict[str, list[set[str]]] = {}
        for fn in functions:
            marks = list(fn.iter_markers("claim"))
            if marks and marks[0].args:
                ids.setdefault(marks[0].args[0], []).append(_case_ids(fn))
        for cid, cases in ids.items():
            if cid not in cat:
                continue
            known = sorted({i for c in cases for i in c})
            for key in cat[cid].cases:
                if not any(key in c for c in cases):
                    close = difflib.get_close_matches(key, known, n=1)
                    problems.append(f"{cat[cid].catalogue_file}: [{cid}.cases.{key}] names no case of the claim's tests "
                                    f"(case ids: {', '.join(known) or 'none, the tests are not parametrised'})"
                                    + (f"; did you mean '{close[0]}'?" if close else ""))
        return problems

    def pytest_collection_modifyitems(self, session, config, items: list) -> None:
        wanted = set(config.getoption("claim"))
        keep, drop = [], []
        for item in items:
            mark = item.get_closest_marker("claim")
            if mark is None or not mark.args:
                keep.append(item)
                continue
            self.collected_claims = True
            cid = mark.args[0]
            if wanted and cid not in wanted:
                drop.append(item)
                continue
            keep.append(item)
            claim = self.load()[cid]
            case = _case_ids(item)
            expectation = _case_expectation(claim, case)
            if expectation == "refuted":
                item.add_marker(pytest.mark.xfail(strict=True, raises=ClaimNotSupported,
                                                  reason=f"known refuted: {_expectation_reference(claim, case)}"))
            elif expectation == "disputed":
                item.add_marker(pytest.mark.xfail(strict=False, raises=ClaimNotSupported,
                                                  reason=f"disputed: {_expectation_reference(claim, case)}"))
            if config.pluginmanager.hasplugin("timeout") and item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(self.run_profile.timeout_s))
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
        self._plan_early_figures(items)

    EARLY_MIN_CLAIMS = 12  # below this a report draws fast enough; a worker process would cost more than it saves

    def _plan_early_figures(self, items: list) -> None:
        """In a serial run (no xdist) of many claims on a machine with a spare core, draw each claim's
        figures in a worker process as soon as its last case has run."""
        if self.is_worker or getattr(self.config.option, "numprocesses", None) or self.config.option.collectonly \
                or self.config.getoption("claims_no_report") or (os.cpu_count() or 1) < 2:
            return
        for item in items:
            mark = item.get_closest_marker("claim")
            if mark is not None and mark.args:
                self.unfinished.setdefault(mark.args[0], set()).add(item.nodeid)
        if len(self.unfinished) >= self.EARLY_MIN_CLAIMS:
            from harness.plots import EarlyFigures

            self.early = EarlyFigures()
        else:
            self.unfinished = {}

    def _claim_finished(self, nodeid: str, claim_id: str) -> None:
        left = self.unfinished.get(claim_id)
        if self.early is None or left is None:
            return
        left.discard(nodeid)
        if not left:
            del self.unfinished[claim_id]
            cases = sorted((p for p in self.payloads.values() if p["claim"] == claim_id), key=lambda p: _natural(p["nodeid"]))
            self.early.submit({"id": claim_id, "kind": self.catalogue.claims[claim_id].kind, "cases": cases})

    def pytest_collectreport(self, report) -> None:
        if report.failed and report.fspath and self._under_claims(report.fspath):
            self.collected_claims = True
            self.collect_errors[Path(report.fspath).name] = str(report.longrepr)[-2000:]

    # -- running -------------------------------------------------------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        from harness.runtime import exclusive_slot

        exclusive = item.get_closest_marker("exclusive") is not None
        if exclusive and self.early is not None:
            self.early.wait_idle()  # a throughput case measures the whole machine: no figure worker busy then
        with exclusive_slot(self.config, exclusive=exclusive):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        mark = item.get_closest_marker("claim")
        if mark is None or not mark.args:
            return report
        final_phase = report.when == "call" or (report.when == "setup" and not report.passed)
        if final_phase:
            payload = _case_payload(item, call, report, mark.args[0])
            item.user_properties.append((PAYLOAD, json.dumps(payload, allow_nan=False)))
            item.user_properties.append(("claim_id", payload["claim"]))
            item.user_properties.append(("claim_verdict", payload["verdict"]))
            key = _key_property(payload)
            if key:
                item.user_properties.append(("claim_key_number", key))
        return report

    def pytest_runtest_logreport(self, report) -> None:
        if self.is_worker:
            return
        if report.when == "teardown" and report.failed:
            self.teardown_errors[report.nodeid] = _short(report.longrepr)
        for name, value in report.user_properties:
            if name == PAYLOAD:  # under xdist this is the controller's only sign that claims ran
                self.collected_claims = True
                self.payloads[report.nodeid] = json.loads(value)
        if report.when == "teardown" and report.nodeid in self.payloads:
            self._claim_finished(report.nodeid, self.payloads[report.nodeid]["claim"])

    def pytest_keyboard_interrupt(self, excinfo) -> None:
        self.interrupted = True

    # -- fixtures --------------------------------------------------------------------------------
    @pytest.fixture
    def evidence(self, request) -> Evidence:
        """The evidence recorder of this case: seeds, measurements, plots and the judge."""
        mark = request.node.get_closest_marker("claim")
        if mark is None or not mark.args:
            raise pytest.UsageError(f"{request.node.nodeid} uses the evidence fixture without @pytest.mark.claim('<id>')")
        claim = self.load()[mark.args[0]]
        callspec = getattr(request.node, "callspec", None)
        ev = Evidence(claim=claim, seeds=derive_seeds(self.base_seed, claim.id, self.run_profile.n_seeds),
                      profile=self.run_profile, case=callspec.id if callspec else "",
                      params=dict(callspec.params) if callspec else {})
        request.node.stash[EVIDENCE_KEY] = ev
        return ev

    @pytest.fixture
    def claims_catalogue(self) -> Catalogue:
        """The loaded catalogue, with the reference table of citational claims."""
        return self.load()

    @pytest.fixture
    def profile(self) -> Profile:
        """The run profile: ``profile.pick(quick=..., default=..., full=...)`` for sizes."""
        return self.run_profile

    @pytest.fixture
    def claims_device(self) -> str:
        """'cpu' or 'cuda' (from --claims-device); claims that need CUDA skip when it is absent."""
        return self.device

    # -- the end -------------------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus) -> None:
        try:
            self._finish(session, exitstatus)
        finally:
            if self.early is not None:
                self.early.close()
                self.early = None

    def _finish(self, session: pytest.Session, exitstatus) -> None:
        if self.is_worker or not self.collected_claims or self.catalogue is None:
            return
        if self.config.option.collectonly:  # nothing ran: keep the last run's results and report
            return
        from harness import history
        from harness import results as R
        from harness.report import render_all

        if exitstatus == pytest.ExitCode.INTERRUPTED:
            self.interrupted = True
        data = build_results(self, session)
        self.results = data
        if any(not c["as_expected"] and c["verdict"] == "error" for c in data["claims"]) \
                and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if self.config.getoption("claims_no_report"):
            return
        data = _with_evidence_from_elsewhere(data, self.report_dir)
        self.results = data
        R.write_json_atomic(data, self.report_dir / "claims.json")
        history.archive(data, self.report_dir)
        render_all(data, self.report_dir, figures_ready=self.early.take(data["claims"]) if self.early else None)

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config) -> None:
        for message in self.missing_modules.values():
            terminalreporter.write_line(f"dlclaims: catalogue error: {message}", red=True)
        if self.results is None:
            return
        data = self.results
        counts = {k: v for k, v in data["summary"]["counts"].items() if v}
        tr = terminalreporter
        tr.section("dlclaims verdicts")
        tr.write_line(", ".join(f"{v} {k}" for k, v in counts.items()) + f"  ({data['summary']['total']} claims, "
                      f"profile {data['run']['profile']}, seed {data['run']['seed']})")
        for c in data["claims"]:
            if c["verdict"] in ("not-supported", "inconclusive", "error") or not c["as_expected"]:
                tr.write_line(f"  {c['verdict'].upper():14s} {c['id']}: {c['verdict_reason'][:200]}",
                              red=not c["as_expected"])
        over = [k for c in data["claims"] for k in c["cases"] if k.get("over_budget")]
        if over:
            budget = data["run"].get("case_budget_s")
            tr.write_line(f"  {len(over)} case(s) over the per-case budget of {budget:g} s (stopped as errors at "
                          f"{data['run'].get('timeout_s'):g} s):", yellow=True)
            for k in sorted(over, key=lambda k: -k["duration_s"])[:10]:
                tr.write_line(f"    {k['duration_s']:.1f} s  {k['nodeid']}", yellow=True)
        if not config.getoption("claims_no_report"):
            tr.write_line(f"report: {self.report_dir / 'index.html'}  (results: {self.report_dir / 'claims.json'})")


def _case_ids(item) -> set[str]:
    """The names a catalogue's ``cases.<key>`` may use for this case: its whole id ('depth8', 'relu-depth8')
    and, where several parametrize decorators stack, each one's own id ('relu', 'depth8'). Never a
    fragment of one id: 'depth8' does not name 'gradient-at-depth8'."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or not callspec.id:
        return set()
    parts = list(getattr(callspec, "_idlist", ()) or ())
    return {callspec.id} | (set(parts) if len(parts) > 1 else set())


def _case_expectation(claim, case: set[str]) -> str:
    if claim.expected in ("refuted", "disputed"):
        return claim.expected
    for key, exp in claim.cases.items():
        if key in case:
            return exp.expected
    return "supported"


def _expectation_reference(claim, case: set[str]) -> str:
    for key, exp in claim.cases.items():
        if key in case:
            return exp.reference
    return claim.expected_reference


def _short(longrepr) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # skip: (path, line, reason)
        return str(longrepr[2]).removeprefix("Skipped: ")
    text = getattr(longrepr, "reprcrash", None)
    if text is not None:
        return f"{text.message}"
    return str(longrepr).strip().splitlines()[-1] if str(longrepr).strip() else ""


def _case_payload(item, call, report, claim_id: str) -> dict:
    """Classify the case on the worker, where the exception type is still known."""
    ev: Evidence | None = item.stash.get(EVIDENCE_KEY, None)
    callspec = getattr(item, "callspec", None)
    session: ClaimsSession = item.config.pluginmanager.get_plugin(SESSION_PLUGIN)
    claim = session.load()[claim_id]
    expected = _case_expectation(claim, _case_ids(item))
    exc = call.excinfo
    measured = ev.verdict() if ev is not None and ev.judgements else None
    if report.when == "setup":
        if report.skipped:
            verdict, reason = "skipped", _short(report.longrepr)
        else:
            verdict, reason = "error", f"set-up failed: {_short(report.longrepr)}"
    elif exc is not None and exc.errisinstance(ClaimNotSupported) and measured:
        verdict, reason = measured
    elif hasattr(report, "wasxfail") and report.passed:  # non-strict xpass (disputed): measured supported
        verdict, reason = measured or ("error", "passed without judging anything")
    elif report.failed and exc is None and hasattr(report, "wasxfail") is False and "XPASS(strict)" in str(report.longrepr):
        verdict, reason = measured or ("error", "passed without judging anything")
    elif report.skipped and exc is not None and not hasattr(report, "wasxfail"):
        verdict, reason = "skipped", _short(report.longrepr)
    elif exc is not None:
        verdict, reason = "error", f"{exc.typename}: {str(exc.value).strip().splitlines()[0][:400] if str(exc.value).strip() else ''}"
    elif measured is None:
        verdict, reason = "error", "the test passed but judged no hypothesis (call evidence.paired/bound/family)"
    elif not ev.asserted:
        verdict, reason = "error", f"the test never called assert_supported(evidence); measured: {measured[0]}"
    else:
        verdict, reason = measured
    return {
        "claim": claim_id, "nodeid": item.nodeid, "test": item.originalname if hasattr(item, "originalname") else item.name,
        "case": callspec.id if callspec else "", "params": {k: repr(v) if not isinstance(v, (int, float, str, bool)) else v
                                                           for k, v in (callspec.params.items() if callspec else [])},
        "verdict": verdict, "reason": reason, "expected": expected, "outcome": report.outcome,
        "duration_s": round(float(report.duration), 4), "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
        "evidence": ev.to_dict() if ev is not None else None,
    }


def _key_property(payload: dict) -> str:
    ev = payload.get("evidence") or {}
    js = ev.get("judgements") or []
    if not js:
        return ""
    j = js[0]
    rel = ">=" if j["direction"] == "greater" else "<="
    return f"{j['hypothesis']}: {j['effect']:.4g} {j['unit']} (required {rel} {j['threshold']:g}, p={j['p']:.3g})"


def build_results(s: ClaimsSession, session: pytest.Session) -> dict:
    from harness import results as R

    cat = s.catalogue
    by_claim: dict[str, list[dict]] = {cid: [] for cid in cat.claims}
    for nodeid, p in s.payloads.items():
        if nodeid in s.teardown_errors and p["verdict"] != "error":
            p = p | {"verdict": "error", "reason": f"teardown failed: {s.teardown_errors[nodeid]}"}
        by_claim.setdefault(p["claim"], []).append(p)
    claims = []
    for cid, claim in cat.claims.items():
        d = claim.to_dict()
        cases = sorted(by_claim.get(cid, []), key=lambda p: _natural(p["nodeid"]))
        module_error = s.collect_errors.get(claim.test_module) or \
            (s.missing_modules.get(claim.test_module) if s.runs_every_claim() else None)
        if module_error and not cases:
            verdict, reason, ok = "error", f"collection error in claims/{claim.test_module}: {module_error[-600:]}", False
        else:
            if not cases and s.collect_errors:
                d["not_run_reason"] = f"the run stopped at a collection error in {', '.join(sorted(s.collect_errors))}"
            elif not cases and s.interrupted:
                d["not_run_reason"] = "the run was interrupted before this claim ran"
            elif not cases and s.config.getoption("claim"):
                d["not_run_reason"] = "not selected (--claim)"
            verdict, reason, ok = R.aggregate(d, cases)
            d.pop("not_run_reason", None)
        budget = s.run_profile.case_budget_s
        for c in cases:
            c["over_budget"] = c["duration_s"] > budget
        d.update(verdict=verdict, verdict_reason=reason, as_expected=ok, key=R.key_number(d, cases),
                 duration_s=round(sum(c["duration_s"] for c in cases), 3),
                 counts={v: sum(1 for c in cases if c["verdict"] == v) for v in R.CASE_VERDICTS},
                 cases=cases)
        claims.append(d)
    finished = time.time()
    args = list(s.config.invocation_params.args)
    return {
        "tool": "dlclaims",
        "schema_version": R.SCHEMA_VERSION,
        "run": {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(s.started)),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(finished)),
            "duration_s": round(finished - s.started, 2),
            "profile": s.run_profile.name, "n_seeds": s.run_profile.n_seeds, "seed": s.base_seed,
            "case_budget_s": s.run_profile.case_budget_s, "timeout_s": s.run_profile.timeout_s,
            "command": "pytest " + " ".join(shlex.quote(a) for a in args),
            "reproduce": s.reproduce_command(),
            "interrupted": s.interrupted, "exit_status": int(session.exitstatus),
            "workers": int(getattr(s.config.option, "numprocesses", 0) or 0),
            "environment": R.environment(s.device),
            "recorded_elsewhere": False,
        },
        "summary": R.summary(claims),
        "documents": _documents(cat),
        "claims": claims,
        "references": [r.to_dict() for r in cat.references.values()],
        "coverage": _coverage(cat, {c["id"]: c["verdict"] for c in claims}),
    }


def _coverage(cat: Catalogue, verdicts: dict[str, str]) -> list[dict]:
    from harness import coverage

    try:
        return coverage.summary(cat, coverage.account(cat), verdicts)
    except CatalogueError as exc:  # a broken coverage.toml must not cost the run its results
        return [{"document": "(all)", "units": 0, "status": {}, "claims": 0, "claims_by_kind": {}, "unaccounted": [],
                 "not_testable": [], "error": str(exc)}]


def _natural(text: str) -> list:
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
        out.append({"file": p.name, "title": m.get("title", p.name), "author": m.get("author", ""),
                    "url": m.get("url", ""), "text": p.read_text(encoding="utf-8")})
    return out


def session_catalogue(config: pytest.Config) -> Catalogue:
    """The run's catalogue, for ``pytest_generate_tests`` in modules that parametrise over claims."""
    return config.pluginmanager.get_plugin(SESSION_PLUGIN).load()


def _with_evidence_from_elsewhere(data: dict, report_dir: Path) -> dict:
    """Claims that did not run here (e.g. GPU-only) take their verdict from results committed under
    ``reports/evidence/`` (recorded on another machine), clearly labelled as such.  A bad file there
    is reported in the run's notes, not fatal."""
    from harness import merge
    from harness import results as R

    files = merge.recorded_elsewhere(report_dir)
    if not files:
        return data
    runs = [("this run", data)]
    for f in files:
        try:
            runs.append((str(f), R.load_results(f)))
        except R.ResultsError as exc:
            data["run"].setdefault("warnings", []).append(f"ignored recorded evidence: {exc}")
    if len(runs) == 1:
        return data
    return merge.merge(runs)
