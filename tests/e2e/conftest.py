"""Browser journeys: Debian's Chromium, driven by Playwright, against pytest-django's live server.

`playwright install` cannot download browsers here, so Playwright launches /usr/bin/chromium
(`make browser` installs it).
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pytest_django.live_server_helper import LiveServer

from tests.readiness import DEADLINE_SECONDS

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def live_server(request) -> Iterator[LiveServer]:
    """pytest-django's live server, on 127.0.0.1 rather than its default "localhost".

    The journeys check that every request goes to the live server's host; an IP address
    keeps that exact, whatever "localhost" resolves to. Static files are served from the
    finders (node_modules included) because django.contrib.staticfiles is installed.
    """
    server = LiveServer(request.config.getvalue("liveserver") or "127.0.0.1")
    yield server
    server.stop()


@pytest.fixture
def browser(unavailable, transactional_db):
    """Chromium for one test, started after the test's data and closed before the flush.

    Playwright's sync API keeps an asyncio loop running in this thread while it is open, and
    Django then keys its connections by async context: ORM calls made meanwhile would use a
    second connection, and the flush after the test would run on it, miss the serialized
    rollback and recreate content types. So the browser is never open while this thread
    touches the database; Django's async-safety check (left on) stops any test that tries.
    Create data in fixtures requested before `page`, and check results through the pages.
    """
    try:
        # Late on purpose: without the package, unavailable() skips (or fails under CI) with a
        # reason instead of an import error.
        from playwright.sync_api import expect, sync_playwright  # noqa: PLC0415
    except ImportError:
        unavailable("the Python package playwright is not installed")
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"no Chromium at {CHROMIUM} (make browser installs Debian's)")
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        # Playwright's own 30 s to start Chromium is too short on a loaded 2-core machine.
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            timeout=DEADLINE_SECONDS * 1000,
        )
        yield browser
        browser.close()


@dataclass
class PageLog:
    """What a page did besides what the test looks at: every request, and every error."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def on_failed(self, request) -> None:
        # A request the browser abandons because the page moved on (a favicon still loading
        # when a form is submitted) is not a failure of the portal; every other one is.
        if "ERR_ABORTED" not in (request.failure or ""):
            self.errors.append(f"failed: {request.url} {request.failure}")

    def on_console(self, message) -> None:
        # Content-Security-Policy violations are reported here, as console errors.
        if message.type == "error":
            self.errors.append(f"console: {message.text} at {message.location.get('url')}")

    def on_response(self, response) -> None:
        if response.status >= 400:
            self.errors.append(f"HTTP {response.status}: {response.url}")


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


@pytest.fixture
def page(browser, live_server, page_log):
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("request", lambda request: page_log.requests.append(request.url))
    page.on("requestfailed", page_log.on_failed)
    page.on("response", page_log.on_response)
    page.on("console", page_log.on_console)
    page.on("pageerror", lambda error: page_log.errors.append(f"page error: {error}"))
    yield page
    context.close()
