"""The dashboard in a real headless browser (Debian's chromium through chromedriver, Selenium).

The app runs on a real server (werkzeug, a free port on 127.0.0.1) against the test database,
seeded with the demo workforce of `make run`. The test signs in through the form, checks that every
chart drew the seeded figures (and that the stylesheet applied and the CSP blocked nothing), follows
a worker link, and saves screenshots into the test's temporary folder. `make test` installs
chromium and chromium-driver when they are missing; without them this test skips, loudly.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from backend.extensions import db

pytestmark = pytest.mark.sqlite_only  # database-light: once, in the SQLite pass

CHROMIUM = os.environ.get("CHROMIUM_BINARY") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
MANAGER = ("dashboard-browser@labelpath.test", "browser test password 1")


def _browser():
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    try:
        from selenium import webdriver
    except ImportError:
        missing.append("the selenium package (requirements-dev.txt)")
    if missing:
        pytest.skip("!!! BROWSER TEST SKIPPED: no headless browser here (missing " + ", ".join(missing)
                    + "); `make test` installs Debian's chromium and chromium-driver when it may !!!")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1400,1000", "--lang=ko-KR", "--force-device-scale-factor=1"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


@pytest.fixture
def server(app):
    """The app on a real HTTP server in a thread, seeded with the demo workforce and a manager."""
    from backend import demo
    from backend.accounts import services as accounts

    with app.app_context():
        demo.seed_demo()
        accounts.create_user(*MANAGER, "대시보드 관리자", role="manager")
        db.session.commit()
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_port}"
    finally:
        http.shutdown()
        thread.join(10)


def _expected(app) -> dict:
    from backend.workforce import services

    with app.app_context():
        summary = services.summary()
        funnel = services.funnel(8)
        return {
            "summary": summary,
            "levels": sum(e["workers"] for s in summary["skills"] for e in s["levels"] if e["level"] >= 1),
            "funnel": [stage["count"] for stage in funnel["total"]],
            "accuracy": services.accuracy_histogram()["workers"],
            "answers": sum(item["answers"] for item in services.answers_per_hour()),
        }


def _full_page_screenshot(driver, path: Path) -> None:
    height = driver.execute_script("return document.documentElement.scrollHeight")  # WebDriver, not the page
    driver.set_window_size(1400, min(max(height + 140, 800), 8000))
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)


def _drawn(driver, chart: str) -> list[int]:
    """The values of the bars a chart drew (those with a rendered size)."""
    bars = driver.find_elements("css selector", f'svg[data-chart="{chart}"] rect[data-value]')
    return [int(float(bar.get_attribute("data-value"))) for bar in bars
            if bar.rect["height"] > 0 and bar.rect["width"] > 0]


def test_dashboard_in_a_real_browser(app, server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    expected = _expected(app)
    driver = _browser()
    try:
        wait = WebDriverWait(driver, 20)
        driver.get(f"{server}/dashboard/")
        wait.until(ec.presence_of_element_located((By.NAME, "email")))
        assert "/dashboard/login" in driver.current_url
        driver.find_element(By.NAME, "email").send_keys(MANAGER[0])
        driver.find_element(By.NAME, "password").send_keys(MANAGER[1])
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, 'svg[data-chart="levels"]')))

        # The stylesheet came from this origin and applied; the CSP blocked nothing.
        header = driver.find_element(By.CSS_SELECTOR, "header.top")
        assert header.value_of_css_property("background-color") in ("rgba(20, 34, 58, 1)", "rgb(20, 34, 58)")
        kpis = {el.get_attribute("data-kpi"): int(el.text.replace(",", ""))
                for el in driver.find_elements(By.CSS_SELECTOR, "[data-kpi]")}
        summary = expected["summary"]
        assert kpis == {"workers": summary["workers"], "certified": summary["certified"],
                        "active_7d": summary["active_7d"], "active_30d": summary["active_30d"],
                        "expiring_30d": summary["expiring_30d"]}
        assert summary["workers"] >= 200 and summary["active_7d"] > 0 and summary["expiring_30d"] > 0

        # Every chart drew the seeded data.
        assert sum(_drawn(driver, "levels")) == expected["levels"] > 0
        assert _drawn(driver, "funnel") == [n for n in expected["funnel"] if n]
        assert sum(_drawn(driver, "accuracy")) == expected["accuracy"] > 0
        assert sum(_drawn(driver, "throughput")) == expected["answers"] > 0
        progress = driver.find_elements(By.CSS_SELECTOR, 'svg[data-chart="progress"] rect.done')
        assert any(bar.rect["width"] > 0 for bar in progress)
        labels = driver.find_element(By.CSS_SELECTOR, 'svg[data-chart="levels"]').text
        assert "바운딩 박스" in labels
        problems = [entry for entry in driver.get_log("browser")
                    if entry["level"] == "SEVERE" or "Content Security Policy" in entry["message"]]
        assert not problems, problems
        _full_page_screenshot(driver, tmp_path / "overview-ko.png")

        # A worker whose certificate expires soon: their page opens from the overview.
        link = driver.find_element(By.CSS_SELECTOR, "#expiring a.worker-link")
        name = link.text
        link.click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "h1[data-worker]")))
        assert driver.find_element(By.CSS_SELECTOR, "h1[data-worker]").text == name
        timeline = driver.find_element(By.CSS_SELECTOR, 'svg[data-chart="level-timeline"]')
        assert int(timeline.get_attribute("data-events")) >= 1 and timeline.rect["height"] > 0
        _full_page_screenshot(driver, tmp_path / "worker-ko.png")

        # The workers list, and English.
        driver.get(f"{server}/dashboard/workers?activity=active_7d&lang=en")
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "table.workers")))
        rows = driver.find_elements(By.CSS_SELECTOR, "table.workers tbody tr")
        assert len(rows) == min(summary["active_7d"], 25)
        assert driver.find_element(By.CSS_SELECTOR, "h1").text == "Workers"
        _full_page_screenshot(driver, tmp_path / "workers-en.png")
        driver.get(f"{server}/dashboard/")
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, 'svg[data-chart="funnel"]')))
        assert "From sign-up to active work" in driver.page_source
        _full_page_screenshot(driver, tmp_path / "overview-en.png")
    finally:
        driver.quit()
    for name in ("overview-ko.png", "worker-ko.png", "workers-en.png", "overview-en.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    if os.environ.get("DASHBOARD_SCREENSHOTS"):  # keep them somewhere to look at
        target = Path(os.environ["DASHBOARD_SCREENSHOTS"])
        target.mkdir(parents=True, exist_ok=True)
        for png in tmp_path.glob("*.png"):
            shutil.copy(png, target / png.name)
