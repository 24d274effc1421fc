"""A finished case as a payload: the dict that travels in the pytest report to the results file.

:func:`case_payload` reads the facts off pytest's objects (phase, outcome, exception type, the
evidence); :func:`classify` is the policy that turns those facts into the case's verdict, a pure
function with no pytest in it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from harness import verdicts as V
from harness.catalogue import Claim
from harness.evidence import ClaimInconclusive, ClaimNotSupported, Evidence
from harness.plugin.collection import case_expectation, case_ids


@dataclass(frozen=True)
class Outcome:
    """What pytest saw of one case's final phase, in plain values."""

    phase: str  # 'setup' or 'call'
    passed: bool
    skipped: bool
    failed: bool
    xfail_marked: bool  # the report carries 'wasxfail' (an expected failure, strict or not)
    exception: str | None  # the exception's type name, None when nothing was raised
    message: str  # the skip reason or the exception's first line
    claim_not_supported: bool  # the exception is assert_supported's (ClaimNotSupported or ClaimInconclusive)
    strict_xpass: bool  # a strict xfail that passed (pytest marks it failed, with no exception)


def classify(o: Outcome, measured: tuple[str, str] | None, asserted: bool) -> tuple[str, str]:
    """The case's verdict and reason from what pytest saw and what the evidence measured.

    ``measured`` is the judge's (verdict, reason) when the test judged anything; ``asserted`` says
    whether the test reached ``assert_supported``.  A test that judged nothing, or never asserted,
    is an error: a case cannot pass without evidence.
    """
    if o.phase == "setup":
        return (V.SKIPPED, o.message) if o.skipped else (V.ERROR, f"set-up failed: {o.message}")
    if o.claim_not_supported and measured:
        return measured
    if (o.xfail_marked and o.passed) or o.strict_xpass:  # an expected failure that was measured supported
        return measured or (V.ERROR, "passed without judging anything")
    if o.skipped and o.exception is not None and not o.xfail_marked:
        return V.SKIPPED, o.message
    if o.exception is not None:
        return V.ERROR, f"{o.exception}: {o.message}"
    if measured is None:
        return V.ERROR, "the test passed but judged no hypothesis (call evidence.paired/bound/family)"
    if not asserted:
        return V.ERROR, f"the test never called assert_supported(evidence); measured: {measured[0]}"
    return measured


def short(longrepr) -> str:
    """One line of a report's longrepr: a skip's reason, or the crash message."""
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # skip: (path, line, reason)
        return str(longrepr[2]).removeprefix("Skipped: ")
    text = getattr(longrepr, "reprcrash", None)
    if text is not None:
        return f"{text.message}"
    return str(longrepr).strip().splitlines()[-1] if str(longrepr).strip() else ""


def outcome(call, report) -> Outcome:
    """The plain facts of a case's final phase (``report.when`` is 'setup' or 'call')."""
    exc = call.excinfo
    xfail_marked = hasattr(report, "wasxfail")
    first_line = ""
    if exc is not None and str(exc.value).strip():
        first_line = str(exc.value).strip().splitlines()[0][:400]
    skipped_reason = short(report.longrepr) if report.skipped or report.when == "setup" else ""
    return Outcome(
        phase=report.when,
        passed=report.passed,
        skipped=report.skipped,
        failed=report.failed,
        xfail_marked=xfail_marked,
        exception=exc.typename if exc is not None else None,
        message=skipped_reason or first_line,
        claim_not_supported=exc is not None and exc.errisinstance((ClaimNotSupported, ClaimInconclusive)),
        # pytest reports a strict xpass as a failure without an exception; its longrepr says so
        strict_xpass=report.failed and exc is None and not xfail_marked and "XPASS(strict)" in str(report.longrepr),
    )


def case_payload(item, call, report, claim: Claim, ev: Evidence | None) -> dict:
    """The case's payload: identity, verdict, expectation, timing and the full evidence."""
    callspec = getattr(item, "callspec", None)
    measured = ev.verdict() if ev is not None and ev.judgements else None
    verdict, reason = classify(outcome(call, report), measured, ev.asserted if ev is not None else False)
    return {
        "claim": claim.id,
        "nodeid": item.nodeid,
        "test": item.originalname if hasattr(item, "originalname") else item.name,
        "case": callspec.id if callspec else "",
        "params": {
            k: repr(v) if not isinstance(v, (int, float, str, bool)) else v for k, v in (callspec.params.items() if callspec else [])
        },
        "verdict": verdict,
        "reason": reason,
        "expected": case_expectation(claim, case_ids(item)),
        "outcome": report.outcome,
        "duration_s": round(float(report.duration), 4),
        "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
        "evidence": ev.to_dict() if ev is not None else None,
    }


def key_property(payload: dict) -> str:
    """The case's first judgement in one line, for JUnit's ``claim_key_number`` property."""
    ev = payload.get("evidence") or {}
    js = ev.get("judgements") or []
    if not js:
        return ""
    j = js[0]
    rel = ">=" if j["direction"] == "greater" else "<="
    return f"{j['hypothesis']}: {j['effect']:.4g} {j['unit']} (required {rel} {j['threshold']:g}, p={j['p']:.3g})"


def concise_failure(message: str, claim: Claim, reproduce: str) -> str:
    """A claim case's failure in the terminal: the judge's message (measured against required, the
    seeds, the source), each threshold's reason and the command that reruns the case; never the
    test's source."""
    reasons = [f"  why {h.name} {h.threshold:g}: {h.reason}" for h in claim.hypotheses.values() if h.reason]
    return "\n".join([message.rstrip(), *reasons, f"  reproduce: {reproduce}"])


def crash_payload(claim: Claim, nodeid: str, message: str) -> dict:
    """A case whose process died (a worker killed, e.g. by the out-of-memory killer): an error with the reason."""
    name = nodeid.rsplit("::", 1)[-1]
    case = name[name.index("[") + 1 : -1] if name.endswith("]") and "[" in name else ""
    return {
        "claim": claim.id,
        "nodeid": nodeid,
        "test": name.split("[", 1)[0],
        "case": case,
        "params": {},
        "verdict": V.ERROR,
        "reason": f"the process running this case crashed ({message or 'no message'}); "
        "it may have run out of memory: rerun it alone to see",
        "expected": case_expectation(claim, {case} if case else set()),
        "outcome": "failed",
        "duration_s": 0.0,
        "worker": "crashed",
        "evidence": None,
    }
