"""The run's state and the pytest hooks that feed it: catalogue, profile, collection, payloads, the end.

Hooks only wire; state lives on the :class:`ClaimsSession` object (registered as a plugin) and on
items' stashes.  Evidence travels from a test to the writer inside the TestReport
(``user_properties``), which is what survives pytest-xdist; the writer runs on the controller only.
"""

from __future__ import annotations

import difflib
import json
import os
import shlex
import time
from pathlib import Path

import pytest

from harness.catalogue import Catalogue, CatalogueError, load_catalogue
from harness.evidence import ClaimInconclusive, ClaimNotSupported, Evidence
from harness.plugin import summary
from harness.plugin.collection import case_expectation, case_ids, check_module, expectation_reference
from harness.plugin.exclusive import exclusive_slot
from harness.plugin.payload import case_payload, concise_failure, crash_payload, key_property, short
from harness.profiles import PROFILES, Profile, derive_seeds
from harness.results.build import RunState, natural_key

EVIDENCE_KEY = pytest.StashKey[Evidence]()
PAYLOAD = "dlclaims"  # name of the user property that carries a case's payload
RUNNING = "dlclaims_running"  # on a setup report only: the claim whose case is running
PLAN = "dlclaims_plan"  # on a worker's first setup report: every claim's node ids (the xdist controller collects nothing)
SESSION_PLUGIN = "dlclaims-session"


def root_path(config: pytest.Config, ini: str) -> Path:
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
                raise pytest.UsageError(
                    "--claims-device cuda: this machine has no CUDA device (torch.cuda.is_available() "
                    "is False); run on a GPU machine, or leave the option out for the CPU"
                )
        self.run_profile = self.run_profile.on(self.device)
        self.is_worker = hasattr(config, "workerinput")
        self.claims_dir = root_path(config, "claims_dir")
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
        self.kept: dict[str, dict] = {}  # --claims-changed: unchanged claims' results from the last report
        self.running: dict[str, str] = {}  # node id -> claim id of cases set up but not finished (controller)
        self.lock = None  # the report folder's lock (controller; see harness.results.files.ReportLock)
        self._sigterm = None  # the SIGTERM handler this run replaced
        self.pending: dict[str, set[str]] = {}  # claim id -> node ids still to run (serial runs: progress per claim)
        self.claims_total = 0  # claims selected to run (for the progress line)
        self.plan: dict[str, list[str]] | None = None  # claim id -> its node ids (an xdist worker sends it once)
        self.claims_done = 0

    # -- set-up --------------------------------------------------------------------------------
    def load(self) -> Catalogue:
        if self.catalogue is None:
            try:
                self.catalogue = load_catalogue(root_path(self.config, "claims_catalogue"), root_path(self.config, "claims_sources"))
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
        from harness.lab import runtime

        runtime.configure_threads_and_determinism()
        from harness.lab import data

        data.import_before_sockets_are_blocked()
        if not self.claims_dir.is_dir():
            return
        if not self.is_worker:
            self._catch_sigterm()
            if self._targets_claims() and not self.config.option.collectonly and not self.config.getoption("claims_no_report"):
                from harness.results import files as R

                try:  # before the first test: a wrong folder must not cost a whole run
                    self.lock = R.ReportLock.acquire(self.report_dir, option="--claims-report-dir")
                except R.ResultsError as exc:
                    raise pytest.UsageError(str(exc)) from None
        cat = self.load()
        for theme, claims in cat.by_theme().items():
            module = self.claims_dir / claims[0].test_module
            if not module.exists() and any(c.testable for c in claims):
                # Every other theme still runs; these claims become errors and the run fails.
                self.missing_modules[claims[0].test_module] = (
                    f"{claims[0].catalogue_file} declares theme '{theme}' (claims: {', '.join(c.id for c in claims)}) "
                    f"but its test module {module} does not exist"
                )
        for wanted in self.config.getoption("claim"):
            if wanted not in cat:
                close = difflib.get_close_matches(wanted, list(cat.claims), n=3)
                hint = f" Did you mean: {', '.join(close)}?" if close else " Run `python -m harness list` for the ids."
                raise pytest.UsageError(f"--claim {wanted!r} is not a claim id in {cat.directory}.{hint}")

    def _targets_claims(self) -> bool:
        """True when the run's paths include claim modules (``pytest tests/`` writes no report)."""
        for a in self.config.args:
            path = Path(str(a).split("::")[0]).resolve()
            if path == self.claims_dir or self.claims_dir in path.parents or path in self.claims_dir.parents:
                return True
        return False

    def _catch_sigterm(self) -> None:
        """SIGTERM ends the run like Ctrl-C: what finished is written, helper processes stopped."""
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            return

        def interrupt(signum, frame):
            raise KeyboardInterrupt(f"signal {signum} (SIGTERM)")

        self._sigterm = signal.signal(signal.SIGTERM, interrupt)

    def is_partial(self) -> bool:
        """A run of some claims (--claim, -k, -m, a module path) or one that stopped early: it updates
        only its own claims in an existing results file."""
        return (
            self.interrupted
            or not self.runs_every_claim()
            or bool(self.config.option.keyword or self.config.option.markexpr)
            or bool(self.kept)  # --claims-changed: the unchanged claims keep their earlier results
            or self.shard() is not None
        )

    def runs_every_claim(self) -> bool:
        """True when the run targets the whole claims folder (not one module, not --claim)."""
        if self.config.getoption("claim"):
            return False
        roots = {self.claims_dir, self.config.rootpath.resolve()}
        return any(Path(str(a).split("::")[0]).resolve() in roots for a in self.config.args)

    def reproduce_command(self, nodeid: str | None = None) -> str:
        """The invocation with the profile and seed made explicit (their old values dropped); for one
        case (``nodeid``) the command that runs that case alone."""
        if nodeid is not None:
            device = " --claims-device cuda" if self.device == "cuda" else ""
            return f"pytest {shlex.quote(nodeid)} --claims-profile {self.run_profile.name} --claims-seed {self.base_seed}{device}"
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
        return [
            f"dlclaims: profile {p.name} ({p.description}), base seed {self.base_seed}, device {self.device}, "
            f"per-case budget {p.case_budget_s:g} s (stopped at {p.timeout_s:g} s)",
            f"dlclaims: reproduce with: {self.reproduce_command()}",
        ]

    # -- collection ----------------------------------------------------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector):
        report = yield
        if isinstance(collector, pytest.Dir) and Path(collector.path).resolve() == self.claims_dir and report.outcome == "passed":
            missing = self.load().missing_quotes()  # a quote not in its document: the claim would cite what no text says
            if missing:
                report.outcome = "failed"
                report.longrepr = "dlclaims: quotes not found verbatim in their source documents:\n" + "\n".join(
                    f"  - claim '{c.id}' ({c.catalogue_file}): {s.document} does not contain {s.quote[:100]!r}" for c, s in missing
                )
        if isinstance(collector, pytest.Module) and self._under_claims(collector.path) and report.outcome == "passed":
            problems = check_module(self.load(), collector, report.result)
            if problems:
                report.outcome = "failed"
                report.longrepr = f"dlclaims: {collector.path.name} does not match the claim catalogue:\n" + "\n".join(
                    f"  - {p}" for p in problems
                )
        return report

    def pytest_collection_modifyitems(self, session, config, items: list) -> None:
        wanted = set(config.getoption("claim"))
        if config.getoption("claims_changed"):  # on xdist workers too: every process must deselect the same claims
            from harness.plugin.changed import unchanged

            self.kept, why = unchanged(self.load(), self.claims_dir, self.report_dir / "claims.json", self.run_profile.name, self.base_seed)
            if not self.is_worker:
                config.get_terminal_writer().line(why)
        keep, drop = [], []
        for item in items:
            mark = item.get_closest_marker("claim")
            if mark is None or not mark.args:
                keep.append(item)
                continue
            self.collected_claims = True
            cid = mark.args[0]
            if (wanted and cid not in wanted) or cid in self.kept:
                drop.append(item)
                continue
            keep.append(item)
            claim = self.load()[cid]
            case = case_ids(item)
            expectation = case_expectation(claim, case)
            if expectation == "refuted":
                item.add_marker(
                    pytest.mark.xfail(strict=True, raises=ClaimNotSupported, reason=f"known refuted: {expectation_reference(claim, case)}")
                )
            elif expectation == "disputed":
                item.add_marker(
                    pytest.mark.xfail(
                        strict=False,
                        raises=(ClaimNotSupported, ClaimInconclusive),
                        reason=f"disputed: {expectation_reference(claim, case)}",
                    )
                )
            if config.pluginmanager.hasplugin("timeout") and item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(self.run_profile.timeout_s))
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
        self.plan = summary.claim_nodes(items)
        if not self.is_worker:
            self.pending, self.claims_total = {k: set(v) for k, v in self.plan.items()}, len(self.plan)
        self._plan_early_figures(items)

    EARLY_MIN_CLAIMS = 12  # below this a report draws fast enough; a worker process would cost more than it saves

    def _plan_early_figures(self, items: list) -> None:
        """In a serial run (no xdist) of many claims on a machine with a spare core, draw each claim's
        figures in a worker process as soon as its last case has run."""
        if (
            self.is_worker
            or getattr(self.config.option, "numprocesses", None)
            or self.config.option.collectonly
            or self.config.getoption("claims_no_report")
            or (os.cpu_count() or 1) < 2
        ):
            return
        for item in items:
            mark = item.get_closest_marker("claim")
            if mark is not None and mark.args:
                self.unfinished.setdefault(mark.args[0], set()).add(item.nodeid)
        if len(self.unfinished) >= self.EARLY_MIN_CLAIMS:
            from harness.report.worker import EarlyFigures

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
            cases = sorted((p for p in self.payloads.values() if p["claim"] == claim_id), key=lambda p: natural_key(p["nodeid"]))
            self.early.submit({"id": claim_id, "kind": self.catalogue.claims[claim_id].kind, "cases": cases})

    def pytest_collectreport(self, report) -> None:
        if report.failed and report.fspath and self._under_claims(report.fspath):
            self.collected_claims = True
            self.collect_errors[Path(report.fspath).name] = str(report.longrepr)[-2000:]

    # -- running -------------------------------------------------------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
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
        if report.when == "setup":  # the controller learns which claim a case belongs to (a crashed worker's case)
            report.user_properties = [*report.user_properties, (RUNNING, mark.args[0])]
            if self.is_worker and self.plan is not None:  # ... and, once, which cases make up each claim (progress)
                report.user_properties.append((PLAN, json.dumps(self.plan)))
                self.plan = None
        final_phase = report.when == "call" or (report.when == "setup" and not report.passed)
        if final_phase and call.excinfo is not None and call.excinfo.errisinstance((ClaimNotSupported, ClaimInconclusive)):
            if not hasattr(report, "wasxfail"):
                report.longrepr = concise_failure(str(call.excinfo.value), self.load()[mark.args[0]], self.reproduce_command(item.nodeid))
        if final_phase:
            payload = case_payload(item, call, report, self.load()[mark.args[0]], item.stash.get(EVIDENCE_KEY, None))
            item.user_properties.append((PAYLOAD, json.dumps(payload, allow_nan=False)))
            item.user_properties.append(("claim_id", payload["claim"]))
            item.user_properties.append(("claim_verdict", payload["verdict"]))
            key = key_property(payload)
            if key:
                item.user_properties.append(("claim_key_number", key))
        return report

    @pytest.hookimpl(tryfirst=True)  # before junitxml, which would write the plan as a property
    def pytest_runtest_logreport(self, report) -> None:
        if self.is_worker:
            return
        for name, value in report.user_properties:
            if name == RUNNING:
                self.running[report.nodeid] = value
            if name == PLAN and not self.claims_total:  # xdist: the first worker's plan (all workers collect the same)
                plan = json.loads(value)
                self.pending, self.claims_total = {k: set(v) for k, v in plan.items()}, len(plan)
        report.user_properties = [p for p in report.user_properties if p[0] != PLAN]
        if report.when not in ("setup", "call", "teardown") and report.failed and report.nodeid in self.running:
            # pytest-xdist reports a worker that died (killed, out of memory) with when='???'
            cid = self.running.pop(report.nodeid)
            self.payloads[report.nodeid] = crash_payload(self.load()[cid], report.nodeid, short(report.longrepr))
            self.collected_claims = True
            return
        if report.when == "teardown" and report.failed:
            self.teardown_errors[report.nodeid] = short(report.longrepr)
        for name, value in report.user_properties:
            if name == PAYLOAD:  # under xdist this is the controller's only sign that claims ran
                self.collected_claims = True
                self.payloads[report.nodeid] = json.loads(value)
        if report.when == "teardown":
            self.running.pop(report.nodeid, None)
        if report.when == "teardown" and report.nodeid in self.payloads:
            self._claim_finished(report.nodeid, self.payloads[report.nodeid]["claim"])
            self._progress(report.nodeid, self.payloads[report.nodeid]["claim"])

    def _progress(self, nodeid: str, claim_id: str) -> None:
        """One line per finished claim (serial or xdist): how many claims are done, this one's verdict and time."""
        left = self.pending.get(claim_id)
        if left is None:
            return
        left.discard(nodeid)
        if left:
            return
        del self.pending[claim_id]
        self.claims_done += 1
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        if tr is None or self.config.get_verbosity() < 0:
            return
        from harness.results.aggregate import aggregate

        cases = [p for p in self.payloads.values() if p["claim"] == claim_id]
        verdict = aggregate(self.load()[claim_id].to_dict(), cases).verdict
        seconds = sum(p["duration_s"] for p in cases)
        tr.write_line(f"  [{self.claims_done}/{self.claims_total} claims] {claim_id}: {verdict} ({len(cases)} case(s), {seconds:.1f} s)")
        tr.currentfspath = None  # the next result starts a fresh line with its file name

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
        ev = Evidence(
            claim=claim,
            seeds=derive_seeds(self.base_seed, claim.seed_group, self.run_profile.n_seeds),
            placebo_seeds=derive_seeds(self.base_seed, f"{claim.seed_group}/placebo", self.run_profile.n_seeds),
            profile=self.run_profile,
            case=callspec.id if callspec else "",
            params=dict(callspec.params) if callspec else {},
        )
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
            if self.lock is not None:
                self.lock.release()
                self.lock = None
            if self._sigterm is not None:
                import signal

                signal.signal(signal.SIGTERM, self._sigterm)
                self._sigterm = None

    def _finish(self, session: pytest.Session, exitstatus) -> None:
        if self.is_worker or not self.collected_claims or self.catalogue is None:
            return
        if self.config.option.collectonly:  # nothing ran: keep the last run's results and report
            return
        from harness.report import render_all
        from harness.results import build, history
        from harness.results import files as R

        if exitstatus == pytest.ExitCode.INTERRUPTED:
            self.interrupted = True
        data = build.build_results(self.run_state(session))
        self.results = data
        if any(not c["as_expected"] and c["verdict"] == "error" for c in data["claims"]) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if self.config.getoption("claims_no_report"):
            return
        data = build.with_evidence_from_elsewhere(data, self.report_dir)
        if self.is_partial():  # a partial run never destroys a full one: only its own claims change
            data = build.update_previous(data, self.report_dir / "claims.json")
        self.results = data
        R.write_json_atomic(data, self.report_dir / "claims.json")
        history.archive(data, self.report_dir)
        render_all(data, self.report_dir, figures_ready=self.early.take(data["claims"]) if self.early else None)

    def shard(self) -> tuple[int, int] | None:
        """(group, splits) when pytest-split runs one shard of the suite, else None."""
        splits, group = getattr(self.config.option, "splits", None), getattr(self.config.option, "group", None)
        return (int(group), int(splits)) if splits and group else None

    def run_state(self, session: pytest.Session) -> RunState:
        """What this run knows, in plain values, for :func:`harness.results.build.build_results`."""
        args = list(self.config.invocation_params.args)
        return RunState(
            catalogue=self.catalogue,
            profile=self.run_profile,
            base_seed=self.base_seed,
            device=self.device,
            started=self.started,
            command="pytest " + " ".join(shlex.quote(a) for a in args),
            reproduce=self.reproduce_command(),
            exit_status=int(session.exitstatus),
            workers=int(getattr(self.config.option, "numprocesses", 0) or 0),
            payloads=self.payloads,
            teardown_errors=self.teardown_errors,
            collect_errors=self.collect_errors,
            missing_modules=self.missing_modules,
            runs_every_claim=self.runs_every_claim(),
            selected=tuple(self.config.getoption("claim")),
            shard=self.shard(),
            claims_dir=self.claims_dir,
            kept=tuple(self.kept),
            interrupted=self.interrupted,
            partial=self.is_partial(),
        )

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config) -> None:
        for message in self.missing_modules.values():
            terminalreporter.write_line(f"dlclaims: catalogue error: {message}", red=True)
        if self.results is not None:
            summary.write(terminalreporter, self.results, None if config.getoption("claims_no_report") else self.report_dir)


def session_catalogue(config: pytest.Config) -> Catalogue:
    """The run's catalogue, for ``pytest_generate_tests`` in modules that parametrise over claims."""
    return config.pluginmanager.get_plugin(SESSION_PLUGIN).load()
