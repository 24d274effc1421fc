"""Do two results files hold the same verdicts and numbers?  For refactors that must not change a measurement.

Compares, claim by claim and case by case, the verdicts, every recorded measurement and every
judgement (effect, interval, p-value, per-seed values); timings, dates and the environment are left
out, since they differ between any two runs.
"""

from __future__ import annotations

import math


def _close(a, b, rel: float) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, bool) or isinstance(b, bool):
            return a == b
        return math.isclose(a, b, rel_tol=rel, abs_tol=rel)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], rel) for k in a)
    return a == b


def differences(a: dict, b: dict, *, rel: float = 1e-9, skip_claims: frozenset[str] = frozenset()) -> list[str]:
    """Every difference in verdicts or numbers between results ``a`` and ``b``, one line each.

    ``skip_claims``: claims whose numbers are timings (throughput) and so differ in every run; their
    verdicts are still compared.
    """
    out = []
    ca, cb = {c["id"]: c for c in a["claims"]}, {c["id"]: c for c in b["claims"]}
    for cid in sorted(ca.keys() | cb.keys()):
        if cid not in ca or cid not in cb:
            out.append(f"{cid}: only in {'the first' if cid in ca else 'the second'} file")
            continue
        x, y = ca[cid], cb[cid]
        if x["verdict"] != y["verdict"]:
            out.append(f"{cid}: verdict {x['verdict']} -> {y['verdict']}")
        if cid in skip_claims:
            continue
        kx, ky = {k["nodeid"].split("::", 1)[-1]: k for k in x["cases"]}, {k["nodeid"].split("::", 1)[-1]: k for k in y["cases"]}
        for case in sorted(kx.keys() | ky.keys()):
            if case not in kx or case not in ky:
                out.append(f"{cid} [{case}]: case only in {'the first' if case in kx else 'the second'} file")
                continue
            p, q = kx[case], ky[case]
            if p["verdict"] != q["verdict"]:
                out.append(f"{cid} [{case}]: case verdict {p['verdict']} -> {q['verdict']}")
            ep, eq = p.get("evidence") or {}, q.get("evidence") or {}
            for m1, m2 in zip(ep.get("measurements", []), eq.get("measurements", [])):
                if m1["name"] != m2["name"] or not _close(m1["values"], m2["values"], rel):
                    out.append(f"{cid} [{case}]: measurement '{m1['name']}' differs")
            if len(ep.get("measurements", [])) != len(eq.get("measurements", [])):
                out.append(f"{cid} [{case}]: {len(ep.get('measurements', []))} vs {len(eq.get('measurements', []))} measurements")
            for j1, j2 in zip(ep.get("judgements", []), eq.get("judgements", [])):
                for f in ("hypothesis", "effect", "ci", "p", "values"):
                    if not _close(j1.get(f), j2.get(f), rel):
                        out.append(f"{cid} [{case}]: judgement '{j1['hypothesis']}' field {f}: {j1.get(f)!r:.80} -> {j2.get(f)!r:.80}")
                        break
    return out
