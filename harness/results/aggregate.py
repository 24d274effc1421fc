"""From case verdicts to a claim's verdict, its key number, and the run's counts."""

from __future__ import annotations

from dataclasses import dataclass

from harness import verdicts as V


@dataclass(frozen=True)
class ClaimVerdict:
    verdict: str
    reason: str
    as_expected: bool  # what the catalogue declares (a run fails on a claim that is not)
    scope: str = ""  # where it holds and where it does not, when the cases disagree
    disputed: str = ""  # the dispute's reference, for a claim the catalogue declares disputed
    declared: str = ""  # 'refuted' with its reference, when a declared refutation was not measured


def _names(cases: list[dict]) -> str:
    return ", ".join(c["case"] or c["test"] for c in cases)


def _as_expected(case: dict) -> bool:
    """Is a case what its declaration expects?  A refutation must be measured (not supported)."""
    if case["expected"] == "disputed":
        return True
    if case["expected"] == "refuted":
        return case["verdict"] == V.NOT_SUPPORTED
    return case["verdict"] == V.SUPPORTED


def aggregate(claim: dict, cases: list[dict]) -> ClaimVerdict:
    """A claim's verdict from its cases' measured verdicts, and whether it is what the catalogue declares.

    Cases carry 'verdict' (measured) and 'expected' ('supported', 'refuted' or 'disputed').
    - any error -> error; nothing ran -> not-measured (sanity checks only), skipped or not-run;
    - any case inconclusive -> inconclusive (a declared refutation that was not measured says so),
      unless some cases held and others were measured not supported: then supported in part whichever
      way the undecided ones go, with them named in the scope;
    - every measured case supported -> supported; none -> not-supported, or known-refuted when every
      case was declared refuted (a refutation is known only when measured); some -> supported in part,
      with the scope naming where it holds and where not;
    - as expected when every case is (supported when declared supported, not supported when declared
      refuted); a claim declared disputed shows its measured verdict, annotated, and is always as
      expected unless it errs.
    """
    if claim["kind"] == "not-testable":
        return ClaimVerdict(V.NOT_TESTABLE, claim.get("reason", ""), True)
    if not cases:
        return ClaimVerdict(V.NOT_RUN, claim.get("not_run_reason") or "no case of this claim was collected in this run", True)
    disputed = claim.get("expected_reference", "") if claim.get("expected") == "disputed" else ""
    errors = [c for c in cases if c["verdict"] == V.ERROR]
    if errors:
        return ClaimVerdict(V.ERROR, f"{len(errors)} of {len(cases)} case(s) errored: {errors[0]['reason']}", False, disputed=disputed)
    ran = [c for c in cases if c["verdict"] not in (*V.NOT_RAN, V.NOT_MEASURED)]
    if not ran:
        sanity = [c for c in cases if c["verdict"] == V.NOT_MEASURED]
        if sanity:
            return ClaimVerdict(V.NOT_MEASURED, sanity[0]["reason"], True, disputed=disputed)
        verdict = V.SKIPPED if any(c["verdict"] == V.SKIPPED for c in cases) else V.NOT_RUN
        return ClaimVerdict(verdict, cases[0]["reason"], True, disputed=disputed)
    ok = all(_as_expected(c) for c in ran) or bool(disputed)
    held = [c for c in ran if c["verdict"] == V.SUPPORTED]
    failed = [c for c in ran if c["verdict"] == V.NOT_SUPPORTED]
    unclear = [c for c in ran if c["verdict"] == V.INCONCLUSIVE]
    skipped = len(cases) - len(ran)
    tail = f", {skipped} skipped or sanity-only" if skipped else ""
    declared = ""
    if unclear:
        unmeasured = [c for c in unclear if c["expected"] == "refuted"]
        if unmeasured:
            declared = (
                f"declared refuted ({claim.get('expected_reference') or 'see the catalogue'}) but not measured so: {_names(unmeasured)}"
            )
        if held and failed:  # whichever way the undecided cases go, the claim holds in part: the run has decided that much
            scope = _scope(held, failed, unclear)
            return ClaimVerdict(
                V.SUPPORTED_IN_PART,
                f"supported in {len(held)} of {len(ran)} case(s), not in {len(failed)}, undecided in {len(unclear)}{tail}: {scope}",
                ok,
                scope=scope,
                disputed=disputed,
                declared=declared,
            )
        return ClaimVerdict(
            V.INCONCLUSIVE,
            f"{len(unclear)} of {len(ran)} case(s) inconclusive ({_names(unclear)}): {unclear[0]['reason']}",
            ok,
            scope=_scope(held, failed, unclear),
            disputed=disputed,
            declared=declared,
        )
    if held and not failed:
        return ClaimVerdict(V.SUPPORTED, f"supported in {len(held)} of {len(ran)} case(s){tail}", ok, disputed=disputed)
    if failed and not held:
        if all(c["expected"] == "refuted" for c in failed) and not disputed:
            ref = claim.get("expected_reference") or failed[0]["reason"]
            return ClaimVerdict(V.KNOWN_REFUTED, f"measured not supported, as declared ({ref}): {failed[0]['reason']}", ok)
        return ClaimVerdict(
            V.NOT_SUPPORTED,
            f"{len(failed)} of {len(ran)} case(s) not supported ({_names(failed)}): {failed[0]['reason']}",
            ok,
            disputed=disputed,
        )
    scope = _scope(held, failed, [])
    why = "; out of scope as declared" if all(c["expected"] == "refuted" for c in failed) else ""
    return ClaimVerdict(
        V.SUPPORTED_IN_PART, f"supported in {len(held)} of {len(ran)} case(s){tail}{why}: {scope}", ok, scope=scope, disputed=disputed
    )


def _scope(held: list[dict], failed: list[dict], unclear: list[dict]) -> str:
    parts = []
    if held:
        parts.append(f"holds in {_names(held)}")
    if failed:
        parts.append(f"not in {_names(failed)}")
    if unclear:
        parts.append(f"undecided in {_names(unclear)}")
    return "; ".join(parts)


def claim_fields(claim: dict, cases: list[dict], cv: ClaimVerdict) -> dict:
    """The fields a claim's entry in the results gets from its cases and its verdict."""
    return {
        "verdict": cv.verdict,
        "verdict_reason": cv.reason,
        "as_expected": cv.as_expected,
        "scope": cv.scope,
        "disputed": cv.disputed,
        "declared": cv.declared,
        "key": key_number(claim, cases, cv.verdict),
        "duration_s": round(sum(c["duration_s"] for c in cases), 3),
        "counts": {v: sum(1 for c in cases if c["verdict"] == v) for v in V.CASE_VERDICTS},
        "cases": cases,
    }


def key_number(claim: dict, cases: list[dict], verdict: str | None = None) -> dict | None:
    """The first declared evidence hypothesis's weakest effect among the cases that carry the claim's verdict.

    A supported claim shows its weakest supported case; an inconclusive or not-supported claim one of
    the cases that made it so; a claim supported in part its weakest case where it holds."""
    hyps = [h for h in claim.get("hypotheses") or [] if h.get("role", "evidence") == "evidence"]
    if not hyps:
        return None
    name = hyps[0]["name"]
    carrying = {
        V.SUPPORTED: (V.SUPPORTED,),
        V.SUPPORTED_IN_PART: (V.SUPPORTED,),
        V.KNOWN_REFUTED: (V.NOT_SUPPORTED,),
        V.NOT_SUPPORTED: (V.NOT_SUPPORTED,),
        V.INCONCLUSIVE: (V.INCONCLUSIVE,),
    }.get(verdict or "", ())
    chosen = [c for c in cases if c["verdict"] in carrying] or [c for c in cases if c["expected"] == "supported"] or cases
    found = [(c, j) for c in chosen for j in (c.get("evidence") or {}).get("judgements", []) if j["hypothesis"] == name]
    if not found:
        return None
    sign = 1 if hyps[0]["direction"] == "greater" else -1
    case, j = min(found, key=lambda cj: sign * cj[1]["effect"])
    return {
        "hypothesis": name,
        "effect": j["effect"],
        "ci": j["ci"],
        "threshold": j["threshold"],
        "unit": j["unit"],
        "direction": j["direction"],
        "comparison": j["comparison"],
        "case": case["case"],
        "label": j["label"],
        "verdict": j["verdict"],
    }


def summary(claims: list[dict]) -> dict:
    """Counts per verdict, claims resting on measured evidence, sanity checks apart, and what is not as expected."""
    counts = {v: 0 for v in V.ORDER}
    for c in claims:
        counts[c["verdict"]] += 1
    measured = [c for c in claims if c["verdict"] in V.MEASURED and c["kind"] in ("empirical", "analytic")]
    sanity = [j for c in claims for k in c["cases"] for j in (k.get("evidence") or {}).get("judgements", []) if j.get("role") == "sanity"]
    return {
        "counts": counts,
        "total": len(claims),
        "measured_claims": len(measured),
        "cited_claims": sum(1 for c in claims if c["kind"] == "citational" and c["verdict"] in V.MEASURED),
        "sanity_checks": len(sanity),
        "disputed": [c["id"] for c in claims if c.get("disputed")],
        "unexpected": [c["id"] for c in claims if not c["as_expected"]],
    }
