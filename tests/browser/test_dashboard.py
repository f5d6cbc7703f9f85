"""The finance dashboard in the system Chromium, against the live demo server: the vendored ECharts
draws the Sankey from the page's JSON block under our CSP (no inline script, no style attribute), its
tooltips work, the township table's export downloads, and the browser logs no error on the way.
The figures themselves are checked without a browser (tests/test_dashboard.py, tests/web/test_dashboard.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.browser.conftest import PASSWORD, username

pytestmark = pytest.mark.only_browser("chromium")

TIMEOUT_MS = 10_000


def test_the_finance_officer_sees_the_money_flow(page: Page, screenshot_dir: Path, download_dir: Path) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    errors: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):  # no favicon
            errors.append(f"{msg.text} ({msg.location.get('url')})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.goto("/login")
    page.fill("#username", username("finance_officer"))
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    expect(page).to_have_url(re.compile(r"/$"))

    page.click("#nav-dashboard")
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.locator("#dashboard-title")).to_have_text("资金看板")
    # ECharts (deferred from /static/vendor) drew the Sankey into a canvas.
    page.wait_for_function("typeof window.echarts !== 'undefined'")
    canvas = page.locator("#dashboard-sankey canvas")
    expect(canvas).to_have_count(1)
    box = canvas.bounding_box()
    assert box and box["width"] > 600 and box["height"] >= 400, box
    chart = "echarts.getInstanceByDom(document.getElementById('dashboard-sankey'))"
    assert page.evaluate(f"{chart}.getOption().series[0].type") == "sankey"
    nodes = page.evaluate(f"{chart}.getOption().series[0].data.length")
    assert nodes == page.evaluate("JSON.parse(document.getElementById('dashboard-sankey-data').textContent)"
                                  ".nodes.length") and nodes > 3
    page.screenshot(path=str(screenshot_dir / "dashboard-01-sankey.png"), full_page=True)

    expect(page.locator("#township-table tbody tr.township-row").first).to_be_visible()
    expect(page.locator("#idle-table tbody tr.idle-row").first).to_be_visible()
    with page.expect_download() as info:
        page.click("#export-townships-xlsx")
    path = download_dir / info.value.suggested_filename
    info.value.save_as(path)
    workbook = openpyxl.load_workbook(path, read_only=True)
    rows = list(workbook.active.iter_rows(values_only=True))
    workbook.close()
    assert rows[0][0] == "township 乡镇" and len(rows) == 1 + page.locator("tr.township-row").count()

    page.click("#lang-switch")
    expect(page.locator("#dashboard-title")).to_have_text("Finance dashboard")
    page.wait_for_function(f"typeof window.echarts !== 'undefined' && !!{chart}")
    page.screenshot(path=str(screenshot_dir / "dashboard-02-english.png"), full_page=True)
    assert not errors, errors
