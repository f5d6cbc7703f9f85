"""The finance officer's journey (issue: from the fund received to the household's card), in the system
Chromium against a live `huimin serve` on the town demo:

import a household file; import a payment roll with one bad row and see its error (row, column, value)
with nothing written; fix it and import again; publish the disclosure (公示) and see the public notice
with masked numbers; have an approver approve it; see the household's statement with its fund sources;
see the dashboard's Sankey drawn. Screenshots of each step go to test-output/screenshots/finance-journey-*.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from ledger.ids import id_check_char, luhn_ok
from tests.browser.conftest import PASSWORD, username

pytestmark = pytest.mark.only_browser("chromium")
TIMEOUT_MS = 15_000
TODAY = dt.date.today()


def resident_id(n: int) -> str:
    first17 = f"653226{1970 + n:04d}0315{900 + n:03d}"
    return first17 + id_check_char(first17)


def card(n: int) -> str:
    body = f"622827990000{n:06d}"
    return next(body + str(d) for d in range(10) if luhn_ok(body + str(d)))


HOUSEHOLDS = "户编号,乡镇,行政村,户主姓名,户主身份证号,家庭人口数,户类型,一卡通账号\n" + "".join(
    f"E2E{n:03d},木尕拉镇,木尕拉新村,测试户主{n},{resident_id(n)},1,脱贫户,{card(n)}\n" for n in (1, 2))


def roll(name2: str) -> str:
    rows = [(1, "测试户主1"), (2, name2)]
    return "业务流水号,批次号,项目编号,户编号,收款人身份证号,收款人姓名,账号,金额,发放日期,用途,所属期\n" + "".join(
        f"E2E-PAY-{n},E2E-ROSE-12,XM-2026-ROSE,E2E{n:03d},{resident_id(n)},{name},{card(n)},\"1,500\","
        f"{TODAY.isoformat()},产业补助,{TODAY:%Y-%m}\n" for n, name in rows)


def sign_in(page: Page, role: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username(role))
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/login"))


def upload(page: Page, kind: str, path: Path, *, count: str | None = None, total: str | None = None,
           create_villages: bool = False) -> None:
    page.goto("/registry/import")
    page.select_option("#import-kind", kind)
    page.set_input_files("#import-file", str(path))
    if count is not None:
        page.fill("#import-declared-count", count)
        page.fill("#import-declared-total", total or "")
    if create_villages:
        page.check("#import-create-villages")
    page.uncheck("#import-dry-run")  # the page offers a dry run first; this journey imports for real
    page.click("#import-submit")
    expect(page.locator("#import-result")).to_be_visible()


def test_finance_officer_journey(browser: Browser, base_url: str, screenshot_dir: Path, tmp_path: Path):
    shots = iter(range(1, 100))

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=str(screenshot_dir / f"finance-journey-{next(shots):02d}-{name}.png"), full_page=True)

    context = browser.new_context(base_url=base_url, locale="zh-CN", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    page = context.new_page()
    sign_in(page, "finance_officer")

    # 1. The household file.
    households = tmp_path / "households.csv"
    households.write_text(HOUSEHOLDS, encoding="utf-8-sig")
    upload(page, "households", households, create_villages=True)
    expect(page.locator("#import-ok")).to_be_visible()
    shot(page, "households-imported")

    # 2. A payment roll with one bad row: the payee's name does not match the registry.
    bad = tmp_path / "roll.csv"
    bad.write_text(roll("别人的名字"), encoding="utf-8")
    upload(page, "payments", bad, count="2", total="3000")
    expect(page.locator("#import-failed")).to_be_visible()
    errors = page.locator("#import-errors tbody tr")
    expect(errors).to_have_count(1)
    expect(errors.first).to_contain_text("3")
    expect(errors.first).to_contain_text("payee_name")
    expect(errors.first).to_contain_text("别人的名字")
    shot(page, "roll-refused")
    page.goto("/payments/E2E-ROSE-12")
    assert page.locator("#batch-title").count() == 0  # nothing was written

    # 3. Fixed and imported again.
    bad.write_text(roll("测试户主2"), encoding="utf-8")
    upload(page, "payments", bad, count="2", total="3000")
    expect(page.locator("#import-ok")).to_be_visible()
    shot(page, "roll-imported")

    # 4. The disclosure (公示), published on the notice boards ten days ago (entered from paper).
    page.goto("/payments/E2E-ROSE-12")
    expect(page.locator("#batch-status")).to_be_visible()
    page.fill("#disclose-start", (TODAY - dt.timedelta(days=10)).isoformat())
    page.click("#disclose-button")
    expect(page.locator("#batch-notice-link")).to_be_visible()
    assert page.locator("#approve-button").count() == 0  # the preparer cannot approve
    shot(page, "disclosed")

    public = browser.new_context(base_url=base_url, locale="zh-CN").new_page()
    public.goto("/public/notices/E2E-ROSE-12")
    expect(public.locator("#notice-rows")).to_contain_text("测试户主1")
    html = public.content()
    assert resident_id(1) not in html and card(1) not in html
    assert resident_id(1)[:6] + "********" + resident_id(1)[-4:] in html
    public.screenshot(path=str(screenshot_dir / "finance-journey-public-notice.png"), full_page=True)
    public.context.close()

    # 5. Another user, an approver, approves: the batch posts.
    approver = browser.new_context(base_url=base_url, locale="zh-CN").new_page()
    approver.context.set_default_timeout(TIMEOUT_MS)
    sign_in(approver, "approver")
    approver.goto("/payments/E2E-ROSE-12")
    approver.click("#approve-button")
    expect(approver.locator("#batch-decider")).to_contain_text(username("approver"))
    expect(approver.locator("#batch-status")).to_contain_text(re.compile("记账|入账"))
    approver.screenshot(path=str(screenshot_dir / "finance-journey-approved.png"), full_page=True)
    approver.context.close()

    # 6. The household's statement: what it received and from which funds.
    page.goto("/registry/households/E2E001")
    statement = page.locator("#household-statement")
    expect(statement).to_contain_text("1,500.00")
    expect(statement).to_contain_text("XM-2026-ROSE")
    shot(page, "statement")

    # 7. The dashboard: the Sankey is drawn (ECharts renders into a canvas).
    page.goto("/dashboard")
    expect(page.locator("#dashboard-title")).to_be_visible()
    expect(page.locator("canvas").first).to_be_visible()
    shot(page, "dashboard")
    context.close()
