"""From case verdicts to a claim's verdict, its key number, and the run's counts."""

from __future__ import annotations

from harness import verdicts as V


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


def summary(claims: list[dict]) -> dict:
    counts = {v: 0 for v in V.ORDER}
    for c in claims:
        counts[c["verdict"]] += 1
    return {"counts": counts, "total": len(claims),
            "unexpected": [c["id"] for c in claims if not c["as_expected"]]}
