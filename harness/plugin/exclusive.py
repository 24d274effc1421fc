"""The exclusive slot: throughput cases run alone under pytest-xdist."""

from __future__ import annotations

import contextlib
import fcntl
import tempfile
from pathlib import Path


@contextlib.contextmanager
def exclusive_slot(config, exclusive: bool):
    """A writer-preferring readers-writer lock across xdist workers (no-op without xdist).

    Ordinary cases hold the lock shared; an exclusive case holds it alone.  The turnstile stops
    new shared holders from starving a waiting exclusive case.
    """
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        yield
        return
    base = Path(tempfile.gettempdir()) / f"dlclaims-{workerinput.get('testrunuid', 'run')}"
    with open(f"{base}.turnstile", "a+") as turn, open(f"{base}.lock", "a+") as lock:
        if exclusive:
            fcntl.flock(turn, fcntl.LOCK_EX)
            fcntl.flock(lock, fcntl.LOCK_EX)
        else:
            fcntl.flock(turn, fcntl.LOCK_EX)
            fcntl.flock(lock, fcntl.LOCK_SH)
            fcntl.flock(turn, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            if exclusive:
                fcntl.flock(turn, fcntl.LOCK_UN)
