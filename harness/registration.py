"""Pre-registration: the lock file of every claim's registered design, and the check that guards it.

A claim's registered fields (:meth:`harness.catalogue.Claim.registered`: the design, the decision
rules with their thresholds, alpha and the expected verdicts) are written to the lock file
``claims/catalogue/registered.lock.json`` before its confirmatory run.  Afterwards, a registered
field may change only together with an amendment entry in the claim (date, field, old and new
value, why, and the verdict it had before), so a reviewer sees every change made after results
were seen.  ``tests/test_registration.py`` fails on an unamended change; ``python -m harness
register`` re-locks claims whose changes are amended (and registers new claims).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from harness.catalogue import Catalogue, Claim

LOCK_NAME = "registered.lock.json"
LOCK_VERSION = 1


def fingerprint(fields: dict) -> str:
    """sha256 of the registered fields in canonical JSON (sorted keys)."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


def lock_path(cat: Catalogue) -> Path:
    return cat.directory / LOCK_NAME


def read_lock(path: Path) -> dict[str, dict]:
    """The lock's entries by claim id (empty when there is no lock file yet)."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("version") != LOCK_VERSION:
        raise ValueError(f"{path}: lock version {data.get('version')!r}, expected {LOCK_VERSION}")
    return data["claims"]


def _flatten(value, prefix: str = "") -> dict[str, object]:
    """Leaves of nested tables by dotted path; an empty table has no leaves (so filling it names the new fields)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out |= _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    return {prefix: value}


def changed_fields(old: dict, new: dict) -> list[tuple[str, object, object]]:
    """(dotted field, old value, new value) for every registered field that differs."""
    a, b = _flatten(old), _flatten(new)
    missing = object()
    return [(k, a.get(k, missing), b.get(k, missing)) for k in sorted(a.keys() | b.keys()) if a.get(k, missing) != b.get(k, missing)]


def _covered(field: str, amendments) -> bool:
    return any(field == a.field or field.startswith(a.field + ".") for a in amendments)


def _show(v) -> str:
    return "(absent)" if not isinstance(v, (str, int, float, bool, list, dict, type(None))) else json.dumps(v)[:120]


def problems(cat: Catalogue, lock: dict[str, dict]) -> list[str]:
    """Every registered field changed without an amendment, every claim not registered, every claim gone."""
    out = []
    for cid, claim in cat.claims.items():
        entry = lock.get(cid)
        if entry is None:
            out.append(f"{claim.catalogue_file} [{cid}]: not registered; run `python -m harness register {cid}` before its first run")
            continue
        fields = claim.registered()
        if fingerprint(fields) == entry["hash"]:
            continue
        new_amendments = claim.amendments[entry["amendments"] :]
        for field, old, new in changed_fields(entry["fields"], fields):
            if not _covered(field, new_amendments):
                out.append(
                    f"{claim.catalogue_file} [{cid}]: registered field '{field}' changed from {_show(old)} to {_show(new)} "
                    f"without an amendment; add [[{cid}.amendments]] with date, field = '{field}', old, new, why and "
                    "verdict_before, then run `python -m harness register " + cid + "`"
                )
    for cid in sorted(set(lock) - set(cat.claims)):
        out.append(f"[{cid}]: registered in the lock but no longer in the catalogue; a claim is never deleted to change a verdict")
    return out


def entry(claim: Claim) -> dict:
    fields = claim.registered()
    return {"hash": fingerprint(fields), "amendments": len(claim.amendments), "fields": fields}


def register(cat: Catalogue, ids: list[str] | None = None) -> tuple[list[str], list[str]]:
    """Re-lock the given claims (all when None) whose changes are amended; returns (registered, refused)."""
    path = lock_path(cat)
    lock = read_lock(path)
    wanted = ids or list(cat.claims)
    done, refused = [], []
    for cid in wanted:
        claim = cat.claims[cid]
        if cid in lock:
            issues = problems(Catalogue({cid: claim}, cat.directory, cat.sources_dir, cat.references), {cid: lock[cid]})
            if issues:
                refused += issues
                continue
        new = entry(claim)
        if lock.get(cid) != new:
            lock[cid] = new
            done.append(cid)
    for cid in [c for c in lock if c not in cat.claims and (ids is None)]:
        refused.append(f"[{cid}]: in the lock but not in the catalogue; restore the claim (a claim is never deleted)")
    data = {"version": LOCK_VERSION, "claims": {k: lock[k] for k in sorted(lock)}}
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return done, refused
