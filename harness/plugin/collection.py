"""Collection checks and expectations: does a test module match its catalogue, and what does each case expect?"""

from __future__ import annotations

import difflib

import pytest

from harness.catalogue import Catalogue


def check_module(cat: Catalogue, module: pytest.Module, result) -> list[str]:
    """Problems of one claim test module against the catalogue (empty when it matches)."""
    theme = module.path.stem.removeprefix("test_")
    functions = []
    stack = list(result)
    while stack:
        node = stack.pop()
        if isinstance(node, pytest.Function):
            functions.append(node)
        elif isinstance(node, pytest.Class):
            stack.extend(node.collect())
    problems, tested, seen = [], set(), set()
    for fn in functions:
        marks = list(fn.iter_markers("claim"))
        # parametrised cases share one declaration, unless each case names its own claim (pytest.param marks)
        key = (fn.originalname, marks[0].args[0] if marks and marks[0].args else None)
        if key in seen:
            continue
        seen.add(key)
        if not marks or not marks[0].args:
            problems.append(f"test {fn.originalname} has no @pytest.mark.claim('<id>') naming the claim it tests")
            continue
        cid = marks[0].args[0]
        if cid not in cat:
            close = difflib.get_close_matches(cid, list(cat.claims), n=1)
            problems.append(
                f"test {fn.originalname} names claim '{cid}', which no catalogue declares"
                + (f" (did you mean '{close[0]}'?)" if close else "")
            )
            continue
        claim = cat[cid]
        if claim.theme != theme:
            problems.append(
                f"test {fn.originalname} names claim '{cid}' of theme '{claim.theme}' "
                f"({claim.catalogue_file}); move the test to claims/{claim.test_module}"
            )
        elif not claim.testable:
            problems.append(f"test {fn.originalname} names claim '{cid}', declared not-testable in {claim.catalogue_file}")
        tested.add(cid)
    for claim in cat.by_theme().get(theme, []):
        if claim.testable and claim.id not in tested:
            problems.append(
                f"claim '{claim.id}' is declared in {claim.catalogue_file} but no test in "
                f"{module.path.name} has @pytest.mark.claim('{claim.id}')"
            )
    # every declared case must name a case that exists: a misspelt key would silently judge it as 'supported'
    ids: dict[str, list[set[str]]] = {}
    for fn in functions:
        marks = list(fn.iter_markers("claim"))
        if marks and marks[0].args:
            ids.setdefault(marks[0].args[0], []).append(case_ids(fn))
    for cid, cases in ids.items():
        if cid not in cat:
            continue
        known = sorted({i for c in cases for i in c})
        for key in cat[cid].cases:
            if not any(key in c for c in cases):
                close = difflib.get_close_matches(key, known, n=1)
                problems.append(
                    f"{cat[cid].catalogue_file}: [{cid}.cases.{key}] names no case of the claim's tests "
                    f"(case ids: {', '.join(known) or 'none, the tests are not parametrised'})"
                    + (f"; did you mean '{close[0]}'?" if close else "")
                )
    return problems


def case_ids(item) -> set[str]:
    """The names a catalogue's ``cases.<key>`` may use for this case: its whole id ('depth8', 'relu-depth8')
    and, where several parametrize decorators stack, each one's own id ('relu', 'depth8'). Never a
    fragment of one id: 'depth8' does not name 'gradient-at-depth8'."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or not callspec.id:
        return set()
    parts = list(getattr(callspec, "_idlist", ()) or ())
    return {callspec.id} | (set(parts) if len(parts) > 1 else set())


def case_expectation(claim, case: set[str]) -> str:
    if claim.expected in ("refuted", "disputed"):
        return claim.expected
    for key, exp in claim.cases.items():
        if key in case:
            return exp.expected
    return "supported"


def expectation_reference(claim, case: set[str]) -> str:
    for key, exp in claim.cases.items():
        if key in case:
            return exp.reference
    return claim.expected_reference
