"""The dlclaims pytest plugin: pytest wiring only.

- :mod:`~harness.plugin.options`: command-line options and ini keys.
- :mod:`~harness.plugin.session`: the run's state (:class:`ClaimsSession`), its hooks and fixtures.
- :mod:`~harness.plugin.collection`: does a test module match the catalogue; what each case expects.
- :mod:`~harness.plugin.payload`: a finished case as the payload the results are built from.
- :mod:`~harness.plugin.exclusive`: throughput cases run alone under pytest-xdist.
- :mod:`~harness.plugin.summary`: the verdicts in the terminal.

Loaded by the root ``conftest.py`` (``pytest_plugins = ["harness.plugin"]``).
"""

from __future__ import annotations

import pytest

from harness.plugin.options import pytest_addoption
from harness.plugin.session import SESSION_PLUGIN, ClaimsSession, session_catalogue

__all__ = ["pytest_addoption", "pytest_configure", "session_catalogue"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "claim(id): the catalogue claim this test gives evidence for")
    config.addinivalue_line("markers", "exclusive: needs the whole machine (throughput); runs alone under xdist")
    config.addinivalue_line("markers", "device: can run on a GPU (--claims-device cuda); select the GPU shard with -m device")
    config.pluginmanager.register(ClaimsSession(config), SESSION_PLUGIN)
