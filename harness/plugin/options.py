"""The plugin's command-line options and ini keys."""

from __future__ import annotations

import argparse

import pytest

from harness.profiles import PROFILES


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--claims-case-budget: '{text}' is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"--claims-case-budget: {text} is not a positive number of seconds")
    return value


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("dlclaims", "deep-learning claims")
    g.addoption("--claims-profile", choices=sorted(PROFILES), default="default", help="run profile: seeds and sizes (default: %(default)s)")
    g.addoption("--claims-seed", type=int, default=0, help="base seed from which every claim's seeds derive (default: 0)")
    g.addoption(
        "--claims-report-dir", default=None, help="where claims.json, index.html and badges/ go (default: reports/ under the root dir)"
    )
    g.addoption(
        "--claim", action="append", default=[], metavar="ID", help="run only this claim (repeatable); unknown ids are a usage error"
    )
    g.addoption("--claims-device", choices=("cpu", "cuda"), default="cpu", help="device for claims that can use one (default: cpu)")
    g.addoption("--claims-no-report", action="store_true", help="do not write reports/ at the end of the run")
    g.addoption(
        "--claims-changed",
        action="store_true",
        help="rerun only the claims whose fingerprint (catalogue entry, test module, the harness code it imports, profile, "
        "seed, package versions) differs from the existing report's; keep the others, marked with the run they come from",
    )
    g.addoption(
        "--claims-case-budget",
        type=_positive_seconds,
        default=None,
        metavar="SECONDS",
        help="per-case time budget, overriding the profile's (quick 6, default 30, full 150 s); a case over it "
        "is flagged, a case over 10 times it is stopped as an error",
    )
    parser.addini("claims_catalogue", "folder of <theme>.toml claim catalogues", default="claims/catalogue")
    parser.addini("claims_sources", "folder of the source documents the quotes come from", default="fixtures/sources")
    parser.addini("claims_dir", "folder of the claim test modules", default="claims")
