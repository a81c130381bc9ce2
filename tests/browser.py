"""Driving the dashboard in a real browser: Debian's headless Chromium through
Playwright (its own browser download is never used). Shared by the in-process browser
tests (tests/unit/api/dashboard) and the one through Ray Serve (tests/integration)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright import sync_api

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts" / "dashboard"


@contextmanager
def browser_session() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox", "--disable-gpu"])
        try:
            yield browser
        finally:
            browser.close()


class Tab:
    """One browser tab on the dashboard; collects the console's errors (a CSP
    violation is one)."""

    def __init__(self, browser: sync_api.Browser, base: str) -> None:
        self.base = base
        self.context = browser.new_context(viewport={"width": 1280, "height": 860})
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.page.on("console", lambda m: self.console.append(m.text)
                     if m.type == "error" else None)

    def go(self, path: str) -> sync_api.Page:
        self.page.goto(self.base + path)
        return self.page

    def shot(self, name: str) -> None:
        """The page's screenshot, a test artifact (tests/artifacts/ is git-ignored)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def sign_in(self, secret: str) -> None:
        self.go("/dashboard")  # anonymous: sent to sign in
        assert "/dashboard/login" in self.page.url
        self.page.fill("#api_key", secret)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(self.base + "/dashboard")

    def csp_violations(self) -> list[str]:
        return [m for m in self.console if "Content Security Policy" in m]
