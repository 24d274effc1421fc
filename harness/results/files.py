"""The results file ``reports/claims.json``: written atomically, read back and validated against its schema.

It is the one source of truth every other artefact (HTML, badges, tables, history) reads.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

SCHEMA_VERSION = 2  # 2: verdicts 'supported-in-part' and 'not-measured'; 'disputed' became an annotation
SCHEMA_PATH = Path(__file__).with_name("schema") / "claims.schema.json"


class ResultsError(ValueError):
    """A results file cannot be read: names the file and the problem."""

    def __init__(self, path, message: str):
        super().__init__(f"{path}: {message}")


def write_json_atomic(data: dict, path: Path) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=False, allow_nan=False)
            fh.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the results from a web server or a colleague
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class ReportLock:
    """One run at a time per report folder: ``<folder>/.lock`` held with ``flock`` from the first test to
    the last file written.  A second run into the same folder is refused, naming the holder.  The
    kernel releases the lock when the holder dies, so a killed run never leaves the folder locked."""

    def __init__(self, fh, path: Path):
        self.fh, self.path = fh, path

    @classmethod
    def acquire(cls, folder: Path, option: str = "the report folder") -> ReportLock:
        """Check that ``folder`` can take a report (create it) and lock it; ResultsError naming ``option``
        when it cannot, before anything has run."""
        import fcntl

        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise ResultsError(folder, f"{option}: is a file, not a folder; remove it or name another folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fh = open(folder / ".lock", "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        except OSError as exc:
            raise ResultsError(folder, f"{option}: cannot write a report there ({exc.strerror}); name a writable folder") from None
        if not os.access(folder, os.W_OK):
            fh.close()
            raise ResultsError(folder, f"{option}: the folder is read-only; name a writable folder")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise ResultsError(
                folder,
                f"{option}: another run is writing its report here ({holder}); wait for it to finish, or give this run its own folder",
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}, since {__import__('time').strftime('%H:%M:%S')}\n")
        fh.flush()
        return cls(fh, folder / ".lock")

    def release(self) -> None:
        import fcntl

        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def load_schema() -> dict:
    """The JSON Schema of the results file, with its verdict lists taken from :mod:`harness.verdicts`."""
    from harness import verdicts as V

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    defs = schema["$defs"]
    defs["verdict"]["enum"], defs["case_verdict"]["enum"] = list(V.ORDER), list(V.CASE_VERDICTS)
    defs["judgement_verdict"]["enum"] = list(V.JUDGEMENTS)
    return schema


def validate(data: dict, path="results") -> None:
    """Raise ResultsError naming the first schema violation (with its JSON path)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema())
    error = next(iter(sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ResultsError(path, f"does not match the dlclaims results schema at {where}: {error.message}")
    seen: set[str] = set()
    for c in data["claims"]:
        if c["id"] in seen:
            raise ResultsError(path, f"claim id '{c['id']}' appears more than once; each claim has one entry")
        seen.add(c["id"])


def load_results(path: Path | str) -> dict:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(path, "no such file (run `pytest claims/` first, or name another results file)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsError(path, f"cannot be read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(
            path, f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); it may be truncated or corrupt"
        ) from None
    if not isinstance(data, dict) or data.get("tool") != "dlclaims":
        raise ResultsError(path, 'is not a dlclaims results file (no "tool": "dlclaims" at the top level)')
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ResultsError(path, f"has schema_version {data.get('schema_version')!r}; this harness reads version {SCHEMA_VERSION}")
    validate(data, path)
    return data
