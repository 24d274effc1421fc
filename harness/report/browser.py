"""Open a report in headless Chromium (Debian's ``chromium``) through Playwright, offline.

Used by the browser test and by ``python -m harness screenshot``.  Every request that is not for a
local file or inline data is recorded and aborted, so a report that would fetch anything from the
network is caught rather than silently served.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str | None:
    env = os.environ.get("DLCLAIMS_CHROMIUM")
    if env:
        return env
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@contextlib.contextmanager
def open_page(html: Path, *, javascript: bool = True, color_scheme: str = "light", width: int = 1280):
    """Yield (page, blocked) where ``blocked`` lists every non-local request the page tried."""
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if exe is None:
        raise FileNotFoundError("no Chromium found (install Debian's 'chromium', or set DLCLAIMS_CHROMIUM)")
    blocked: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox"])
        try:
            ctx = browser.new_context(java_script_enabled=javascript, color_scheme=color_scheme, viewport={"width": width, "height": 900})

            def guard(route):
                url = route.request.url
                if url.startswith(("file:", "data:", "about:")):
                    route.continue_()
                else:
                    blocked.append(url)
                    route.abort()

            ctx.route("**/*", guard)
            page = ctx.new_page()
            page.goto(Path(html).resolve().as_uri())
            yield page, blocked
        finally:
            browser.close()


def screenshot(html: Path, png: Path, *, full_page: bool = False, color_scheme: str = "light") -> Path:
    png.parent.mkdir(parents=True, exist_ok=True)
    with open_page(html, color_scheme=color_scheme) as (page, _):
        page.screenshot(path=str(png), full_page=full_page)
    return png
