"""Where and when the report's figures are drawn: a process pool at report time, or a drawing
subprocess that takes each claim as soon as its last case has run (:class:`EarlyFigures`).

Drawing (matplotlib) is the slowest part of writing a report; a serial run trains on one thread and
leaves the other core idle.  The drawing itself is :func:`harness.report.figures.claim_figures`.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import time
from pathlib import Path

from harness.report.figures import claim_figures


def all_figures(
    claims: list[dict], workers: int | None = None, ready: dict[str, list[tuple[str, str]]] | None = None
) -> dict[str, list[tuple[str, str]]]:
    """Every claim's figures, drawn in worker processes when there are many (matplotlib is the
    slowest part of writing a report).  ``ready``: figures already drawn (by :class:`EarlyFigures`)."""

    out = dict(ready or {})
    todo = [c for c in claims if c["id"] not in out]
    workers = workers if workers is not None else min(os.cpu_count() or 1, 4)
    if workers <= 1 or len(todo) < 12:
        return out | {c["id"]: claim_figures(c) for c in todo}
    with _pool(workers) as pool:
        drawn = list(pool.map(_draw_function(), todo, chunksize=max(1, len(todo) // (4 * workers))))
    return out | {c["id"]: f for c, f in zip(todo, drawn)}


def _pool(workers: int):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # 'spawn': the parent may hold torch's thread pools, which a fork would copy in a broken state
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _draw_function():
    # Pickle sends functions by name; look it up where pickle will (a test run may have re-imported this module).
    return importlib.import_module("harness.report.figures").claim_figures


def fingerprint(claim: dict) -> str:
    """What a claim's figures depend on: its kind and each case's name and evidence."""
    import hashlib
    import json

    parts = [claim["kind"]] + [[c["case"], c["test"], c.get("evidence")] for c in claim["cases"]]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class EarlyFigures:
    """Draws a claim's figures as soon as its last case has run, while the rest of the run goes on.

    A serial run trains on one thread and leaves the other cores idle; drawing there takes the report's
    slowest part off the end of the run.  The drawing process is a plain subprocess that exchanges files
    with this one, so the test process gains no thread and no allocation while claims measure it (a
    claim that traces memory sees only its own).  ``take`` hands back only figures whose claim did not
    change since (same :func:`fingerprint`); anything else is drawn at report time as before.
    """

    def __init__(self) -> None:
        import subprocess
        import sys
        import tempfile

        self.dir = Path(tempfile.mkdtemp(prefix="dlclaims-figures-"))
        (self.dir / "todo").mkdir()
        (self.dir / "done").mkdir()
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "harness.report.worker", "--serve", str(self.dir), str(os.getpid())],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._sent: dict[str, str] = {}  # claim id -> fingerprint of what was sent

    def submit(self, claim: dict) -> None:
        name = _file_name(claim["id"])
        tmp = self.dir / "todo" / f".{name}.tmp"
        tmp.write_text(json.dumps(claim), encoding="utf-8")
        tmp.replace(self.dir / "todo" / f"{name}.json")  # the worker sees whole files only
        self._sent[claim["id"]] = fingerprint(claim)

    def wait_idle(self, timeout: float = 120.0) -> None:
        """Block until every submitted claim is drawn (before a throughput case measures the machine)."""
        deadline = time.monotonic() + timeout
        while self._proc.poll() is None and any((self.dir / "todo").iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)

    def take(self, claims: list[dict]) -> dict[str, list[tuple[str, str]]]:
        (self.dir / "stop").touch()  # the worker finishes what it has, then exits
        try:
            self._proc.wait(timeout=120)
        except Exception:  # noqa: BLE001 - a stuck worker: draw everything at report time
            self._proc.kill()
            return {}
        out = {}
        for c in claims:
            done = self.dir / "done" / f"{_file_name(c['id'])}.json"
            if c["id"] in self._sent and self._sent[c["id"]] == fingerprint(c) and done.exists():
                out[c["id"]] = [tuple(f) for f in json.loads(done.read_text(encoding="utf-8"))]
        return out

    def close(self) -> None:
        import shutil

        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def _file_name(claim_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", claim_id)


def serve(folder: Path, parent: int | None = None) -> None:
    """The drawing process of :class:`EarlyFigures`: draw todo/<claim>.json into done/<claim>.json until
    the file 'stop' appears and nothing is left, or the run that started it (``parent``) is gone
    (killed by SIGKILL, it could not say stop): no drawing process outlives its run."""
    import contextlib

    with contextlib.suppress(OSError):
        os.nice(5)  # the run's own work comes first
    todo, done = folder / "todo", folder / "done"
    while True:
        if parent is not None and os.getppid() != parent:  # orphaned: the run died
            return
        jobs = sorted(todo.glob("*.json"))
        if not jobs:
            if (folder / "stop").exists():
                return
            time.sleep(0.05)
            continue
        for job in jobs:
            claim = json.loads(job.read_text(encoding="utf-8"))
            try:
                figures = claim_figures(claim)
            except Exception:  # noqa: BLE001 - left for report time, which shows the error
                job.unlink()
                continue
            tmp = done / f".{job.name}.tmp"
            tmp.write_text(json.dumps(figures), encoding="utf-8")
            tmp.replace(done / job.name)
            job.unlink()


if __name__ == "__main__":
    import sys

    if len(sys.argv) in (3, 4) and sys.argv[1] == "--serve":
        serve(Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) == 4 else None)
    else:
        sys.exit("usage: python -m harness.report.worker --serve FOLDER  (the report's figure worker; see EarlyFigures)")
