"""Faults in one claim never cost the others their verdicts: hangs, memory errors, Ctrl-C."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from conftest import CATALOGUE, TESTS


def test_a_hanging_claim_becomes_an_error_at_its_timeout_and_the_rest_is_reported(project):
    hang = TESTS.replace('@pytest.mark.claim("gradients-fade")', '@pytest.mark.claim("gradients-fade")\n@pytest.mark.timeout(1)').replace(
        'evidence.bound("small"', '__import__("time").sleep(30)\n    evidence.bound("small"'
    )
    result = project.write(tests=hang).run(subprocess=True)
    assert result.ret == 1
    data = project.results()
    by_id = {c["id"]: c for c in data["claims"]}
    assert by_id["fox-is-quick"]["verdict"] == "supported"
    assert by_id["gradients-fade"]["verdict"] == "error"
    assert "Timeout" in by_id["gradients-fade"]["verdict_reason"]


def test_the_profile_sets_each_case_s_timeout(project):
    """Without a marker of its own a case gets its profile's timeout: 10 times its per-case budget (quick: 60 s)."""
    probe = (
        TESTS.replace(
            '    assert_supported(evidence)\n\n@pytest.mark.claim("gradients-fade")',
            '    assert_supported(evidence)\n\n@pytest.mark.claim("gradients-fade")',
            1,
        )
        .replace('evidence.bound("small"', 'assert request.node.get_closest_marker("timeout").args == (60,)\n    evidence.bound("small"')
        .replace("def test_fade(evidence):", "def test_fade(evidence, request):")
    )
    project.write(tests=probe).run()
    assert project.verdicts()["gradients-fade"] == "supported"


def test_running_out_of_memory_is_an_error_with_its_message(project):
    greedy = TESTS.replace(
        'evidence.bound("small"', 'import numpy as np\n    np.ones(2 ** 47, dtype=np.float64)  # 1 PiB\n    evidence.bound("small"'
    )
    result = project.write(tests=greedy).run()
    assert result.ret == 1
    gf = next(c for c in project.results()["claims"] if c["id"] == "gradients-fade")
    assert gf["verdict"] == "error"
    assert "MemoryError" in gf["verdict_reason"] and "allocate" in gf["verdict_reason"]


def test_ctrl_c_writes_what_finished_and_marks_the_rest_not_run(project):
    interrupted = TESTS.replace(
        'evidence.bound("small"',
        # a run started in the background inherits SIGINT ignored (POSIX shells do that to '&' jobs): restore Python's own
        # handler first, as a terminal's Ctrl-C would find it
        "import os, signal\n    signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        '    os.kill(os.getpid(), signal.SIGINT)\n    evidence.bound("small"',
    )
    result = project.write(tests=interrupted).run(subprocess=True)
    assert result.ret == 2  # pytest's exit code for an interrupted run
    data = project.results()
    assert data["run"]["interrupted"] is True
    by_id = {c["id"]: c for c in data["claims"]}
    assert by_id["fox-is-quick"]["verdict"] == "supported"
    assert by_id["gradients-fade"]["verdict"] == "not-run"
    assert "interrupted" in by_id["gradients-fade"]["verdict_reason"]
    assert not list((project.pytester.path / "reports").glob(".*.tmp")), "no half-written file is left behind"


def test_a_case_over_its_budget_is_flagged_and_keeps_its_verdict(project):
    slow = TESTS.replace('evidence.bound("small"', '__import__("time").sleep(0.6)\n    evidence.bound("small"')
    result = project.write(tests=slow).run("--claims-case-budget", "0.3", subprocess=True)
    assert result.ret == 0
    data = project.results()
    assert data["run"]["case_budget_s"] == 0.3 and data["run"]["timeout_s"] == 3.0
    case = next(c for c in data["claims"] if c["id"] == "gradients-fade")["cases"][0]
    assert case["over_budget"] is True and case["verdict"] == "supported"
    fast = next(c for c in data["claims"] if c["id"] == "fox-is-quick")["cases"][0]
    assert fast["over_budget"] is False
    result.stdout.fnmatch_lines(["*1 case(s) over the per-case budget of 0.3 s (stopped as errors at 3 s)*"])
    html = (project.pytester.path / "reports" / "index.html").read_text()
    assert "1 case(s) over budget" in html and "over budget</strong>" in html


def test_a_case_ten_times_over_its_budget_is_stopped_as_an_error(project):
    hang = TESTS.replace('evidence.bound("small"', '__import__("time").sleep(30)\n    evidence.bound("small"')
    result = project.write(tests=hang).run("--claims-case-budget", "0.1", subprocess=True)
    assert result.ret == 1
    by_id = {c["id"]: c for c in project.results()["claims"]}
    assert by_id["fox-is-quick"]["verdict"] == "supported"
    assert by_id["gradients-fade"]["verdict"] == "error" and "Timeout" in by_id["gradients-fade"]["verdict_reason"]


def test_a_bad_case_budget_is_a_usage_error_naming_the_option(project):
    result = project.write().run("--claims-case-budget", "-1", subprocess=True)
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--claims-case-budget: -1 is not a positive number of seconds*"])


def test_a_nan_threshold_is_a_usage_error_naming_the_claim(project):
    bad = CATALOGUE.replace("threshold = 1.0", "threshold = nan")
    result = project.write(catalogue=bad).run(subprocess=True)
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*gradients-fade*"])
    assert not (project.pytester.path / "reports" / "claims.json").exists()


def test_a_file_in_the_way_of_the_report_folder_is_a_usage_error_before_any_test(project):
    project.write()
    (project.pytester.path / "taken").write_text("not a folder")
    result = project.run("--claims-report-dir", "taken", subprocess=True)
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--claims-report-dir: is a file, not a folder*"])
    assert "passed" not in result.stdout.str()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_report_folder_is_a_usage_error_before_any_test(project):
    project.write()
    folder = project.pytester.path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        result = project.run("--claims-report-dir", "ro", subprocess=True)
    finally:
        folder.chmod(0o755)
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--claims-report-dir*"])


def test_a_second_run_into_the_same_folder_is_refused(project):
    from harness.results.files import ReportLock

    project.write()
    lock = ReportLock.acquire(project.pytester.path / "reports")
    try:
        result = project.run(subprocess=True)
    finally:
        lock.release()
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*another run is writing its report here (pid*); wait for it to finish*"])
    assert project.run(subprocess=True).ret == 0, "the lock goes with the run that held it"


def test_a_killed_worker_is_a_crash_of_the_claim_it_was_running(project):
    killed = TESTS.replace(
        'evidence.bound("small"', 'import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)\n    evidence.bound("small"'
    )
    result = project.write(tests=killed).run("-n", "1", "-p", "no:randomly", subprocess=True)
    assert result.ret == 1
    by_id = {c["id"]: c for c in project.results()["claims"]}
    assert by_id["fox-is-quick"]["verdict"] == "supported"
    assert by_id["gradients-fade"]["verdict"] == "error"
    assert "crashed" in by_id["gradients-fade"]["verdict_reason"]


def test_sigterm_writes_what_finished_and_the_heading_says_interrupted(project):
    terminated = TESTS.replace(
        'evidence.bound("small"', 'import os, signal\n    os.kill(os.getpid(), signal.SIGTERM)\n    evidence.bound("small"'
    )
    result = project.write(tests=terminated).run(subprocess=True)
    assert result.ret == 2
    data = project.results()
    assert data["run"]["interrupted"] is True
    by_id = {c["id"]: c for c in data["claims"]}
    assert by_id["fox-is-quick"]["verdict"] == "supported" and by_id["gradients-fade"]["verdict"] == "not-run"
    html = (project.pytester.path / "reports" / "index.html").read_text()
    assert "run interrupted" in html and "This run was interrupted" in html


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return "zombie" not in fh.read()
    except FileNotFoundError:
        return False


def test_the_figure_worker_does_not_outlive_a_killed_run(tmp_path):
    script = (
        "import os, signal, sys\n"
        "from harness.report.worker import EarlyFigures\n"
        "f = EarlyFigures()\n"
        "print(f._proc.pid, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    pid = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), "the drawing process stops once its run is gone"
