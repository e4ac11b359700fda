"""Steps every browser journey takes (signing in and out), and reading the database while the
browser is open."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db import connections
from playwright.sync_api import Page, expect


def off_the_loop(task: Callable):
    """Run a database read in a thread of its own while the browser is open.

    Playwright keeps an asyncio loop in this thread, so Django refuses ORM calls here (see
    conftest). A fresh thread has no loop and its own connection, closed when it is done, so
    the test's connection, and the flush that follows, are left alone.
    """

    def run():
        try:
            return task()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def sign_in(page: Page, user, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("User name").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()


def sign_out(page: Page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("User name")).to_be_visible()
