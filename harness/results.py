"""The results file ``reports/claims.json``: the one source of truth every other artefact reads.

Builds it from the catalogue and the per-case payloads that travel in pytest reports, aggregates
case verdicts into claim verdicts, and reads/validates it back for ``python -m harness report``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("schema") / "claims.schema.json"

# Claim-level verdicts, in the order the report lists them.
VERDICTS = ("supported", "not-supported", "inconclusive", "known-refuted", "disputed", "skipped", "error",
            "not-run", "not-testable")
# Case-level verdicts ('xfail' cases keep their measured verdict and record the expectation).
CASE_VERDICTS = ("supported", "not-supported", "inconclusive", "skipped", "error", "not-run")


class ResultsError(ValueError):
    """A results file cannot be read: names the file and the problem."""

    def __init__(self, path, message: str):
        super().__init__(f"{path}: {message}")


def aggregate(claim: dict, cases: list[dict]) -> tuple[str, str, bool]:
    """Claim verdict, reason, and whether it is what the catalogue expects.

    Cases carry 'verdict' (measured) and 'expected' ('supported', 'refuted' or 'disputed').
    Rules: any error -> error; no case ran -> skipped / not-run; a case not as expected decides
    (not-supported before inconclusive); cases all expected-refuted -> known-refuted; claim
    declared disputed -> disputed; else supported (with the refuted cases named as out of scope).
    """
    if claim["kind"] == "not-testable":
        return "not-testable", claim.get("reason", ""), True
    if not cases:
        return "not-run", claim.get("not_run_reason") or "no case of this claim was collected in this run", True
    errors = [c for c in cases if c["verdict"] == "error"]
    if errors:
        return "error", f"{len(errors)} of {len(cases)} case(s) errored: {errors[0]['reason']}", False
    ran = [c for c in cases if c["verdict"] not in ("skipped", "not-run")]
    if not ran:
        verdict = "skipped" if any(c["verdict"] == "skipped" for c in cases) else "not-run"
        return verdict, cases[0]["reason"], True
    unexpected = [c for c in ran if c["expected"] == "supported" and c["verdict"] != "supported"]
    xpassed = [c for c in ran if c["expected"] == "refuted" and c["verdict"] == "supported"]
    for level in ("not-supported", "inconclusive"):
        bad = [c for c in unexpected if c["verdict"] == level]
        if bad:
            names = ", ".join(c["case"] or c["test"] for c in bad)
            return level, f"{len(bad)} of {len(ran)} case(s) {level} ({names}): {bad[0]['reason']}", False
    if xpassed:
        names = ", ".join(c["case"] or c["test"] for c in xpassed)
        return "supported", f"supported in case(s) declared refuted ({names}): update the catalogue's expectation", False
    refuted = [c for c in ran if c["expected"] == "refuted"]
    held = [c for c in ran if c["verdict"] == "supported"]
    if claim["expected"] == "disputed":
        measured = "supported" if len(held) == len(ran) else "not supported in every case"
        return "disputed", f"declared disputed ({claim['expected_reference']}); measured: {measured}", True
    if len(refuted) == len(ran):
        return "known-refuted", f"not supported, as declared: {claim['expected_reference'] or refuted[0]['reason']}", True
    skipped = len(cases) - len(ran)
    reason = f"supported in {len(held)} of {len(ran)} case(s)" + (f", {skipped} skipped" if skipped else "")
    if refuted:
        reason += "; out of scope, as declared: " + ", ".join(f"{c['case']} ({c['verdict']})" for c in refuted)
    return "supported", reason, True


def key_number(claim: dict, cases: list[dict]) -> dict | None:
    """The first declared hypothesis's weakest measured effect among in-scope cases, for the summary row."""
    hyps = claim.get("hypotheses") or []
    if not hyps:
        return None
    name = hyps[0]["name"]
    in_scope = [c for c in cases if c["expected"] == "supported"] or cases  # out-of-scope cases are shown elsewhere
    found = [(c, j) for c in in_scope for j in (c.get("evidence") or {}).get("judgements", []) if j["hypothesis"] == name]
    if not found:
        return None
    sign = 1 if hyps[0]["direction"] == "greater" else -1
    case, j = min(found, key=lambda cj: sign * cj[1]["effect"])
    return {"hypothesis": name, "effect": j["effect"], "ci": j["ci"], "threshold": j["threshold"], "unit": j["unit"],
            "direction": j["direction"], "comparison": j["comparison"], "case": case["case"], "label": j["label"]}


def environment(device: str = "cpu") -> dict:
    import numpy
    import scipy

    try:
        import torch

        torch_version, threads = torch.__version__, torch.get_num_threads()
        cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:  # the report CLI can run without torch
        torch_version, threads, cuda = None, None, None
    return {
        "python": platform.python_version(),
        "torch": torch_version,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "cuda_device": cuda,
        "device": device,
        "git_commit": git_commit(),
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent)
        commit = out.stdout.strip() if out.returncode == 0 else None
        if commit:
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                                   text=True, timeout=5, cwd=Path(__file__).parent).stdout.strip()
            return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def summary(claims: list[dict]) -> dict:
    counts = {v: 0 for v in VERDICTS}
    for c in claims:
        counts[c["verdict"]] += 1
    return {"counts": counts, "total": len(claims),
            "unexpected": [c["id"] for c in claims if not c["as_expected"]]}


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
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


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
        raise ResultsError(path, f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                                 "it may be truncated or corrupt") from None
    if not isinstance(data, dict) or data.get("tool") != "dlclaims":
        raise ResultsError(path, "is not a dlclaims results file (no \"tool\": \"dlclaims\" at the top level)")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ResultsError(path, f"has schema_version {data.get('schema_version')!r}; this harness reads version {SCHEMA_VERSION}")
    validate(data, path)
    return data
