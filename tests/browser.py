"""Headless Chromium for the dashboard tests, driven by Selenium through Debian's chromedriver.

Install with `apt-get install -y chromium chromium-driver` (Playwright's browser
download is not reachable here). The flags keep Chromium from reaching the
network on its own (updates, field trials, first-run pages), so any request the
page makes is the page's own; root needs --no-sandbox.
"""
from __future__ import annotations

import contextlib
import shutil
import tempfile
from typing import Iterator

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMEDRIVER_CANDIDATES = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage", "--hide-scrollbars")


def _first(paths: tuple[str, ...], name: str) -> str | None:
    for path in paths:
        if shutil.which(path):
            return path
    return shutil.which(name)


def missing_reason() -> str | None:
    """None when Chromium, its driver and selenium are all there; else what is missing and how to get it."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    if _first(CHROMIUM_CANDIDATES, "chromium") is None:
        return "no chromium binary (apt-get install -y chromium)"
    if _first(CHROMEDRIVER_CANDIDATES, "chromedriver") is None:
        return "no chromedriver (apt-get install -y chromium-driver)"
    return None


@contextlib.contextmanager
def chromium(width_px: int = 1400, height_px: int = 1000) -> Iterator["object"]:
    """A headless Chromium WebDriver with a fresh profile, its console log captured; quit on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _first(CHROMIUM_CANDIDATES, "chromium")
    profile = tempfile.mkdtemp(prefix="callmood-chromium-")
    for flag in FLAGS + (f"--user-data-dir={profile}", f"--window-size={width_px},{height_px}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(_first(CHROMEDRIVER_CANDIDATES, "chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver) -> list[str]:
    """Console messages at SEVERE level since the last call (uncaught exceptions, failed loads)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
