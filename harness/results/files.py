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
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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
