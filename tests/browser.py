"""Opening a written page in a real headless Chromium (Debian's chromium and chromium-driver,
which .ci/run installs), as a person's browser would: what rendered, and what went wrong."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = next((p for p in (shutil.which("chromium"), "/usr/bin/chromium") if p and Path(p).exists()), None)
CHROMEDRIVER = next((p for p in (shutil.which("chromedriver"), "/usr/bin/chromedriver") if p and Path(p).exists()),
                    None)


@dataclass
class Rendered:
    charts: int
    """plotly charts on the page"""
    drawn: int
    """of those, charts that drew their SVG"""
    traces: int
    errors: list[str]
    """the browser console's errors (script errors, failed loads)"""
    external: int
    """elements that would load something from elsewhere (scripts, styles, images by URL)"""
    text: str


def open_page(path: Path, *, timeout: float = 30) -> Rendered:
    if CHROMIUM is None or CHROMEDRIVER is None:
        raise RuntimeError("chromium is not installed: apt-get install -y chromium chromium-driver (.ci/run does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(path.resolve().as_uri())
        deadline = time.monotonic() + timeout
        while True:
            charts, drawn = driver.execute_script(
                "const c = document.querySelectorAll('.js-plotly-plot');"
                "return [c.length, [...c].filter(e => e.querySelector('.main-svg')).length];")
            if (charts and drawn == charts) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        traces = driver.execute_script("return document.querySelectorAll('.js-plotly-plot .trace').length")
        external = driver.execute_script(
            "return document.querySelectorAll('script[src], link[href], img[src^=\"http\"], iframe').length")
        text = driver.execute_script("return document.body.innerText")
        errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        return Rendered(charts, drawn, traces, errors, external, text)
    finally:
        driver.quit()
