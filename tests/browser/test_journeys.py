"""Each role's main journey through the pages, in the system Chromium, against a live server.

Per role: sign in; the home page; where the role reads the ledger, the journal (filtered in place
by htmx), one entry with its hash, the trial balance and an XLSX/CSV export; a page the role may
not open (refused with 403); for the inspector and the admin the audit log and the chain
verification; the language switch there and back; sign-out. Every step leaves a screenshot in
test-output/screenshots/<role>-<step>.png, and the browser must log no error on the way (a CSP
violation or a failed htmx request shows up there).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import openpyxl
import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.browser.conftest import PASSWORD, ROLES, username

pytestmark = pytest.mark.only_browser("chromium")

JOURNAL_READERS = {"finance_officer", "approver", "loan_officer", "inspector"}
AUDIT_READERS = {"inspector", "admin"}
# A page each role may not open (DESIGN.md §1 and ledger/permissions.py).
FORBIDDEN_PAGE = {
    "finance_officer": "/audit",
    "approver": "/admin/users",
    "loan_officer": "/admin/users",
    "inspector": "/admin/users",
    "admin": "/journal",
}
FILTER_KIND = "fund_received"  # the town demo has ten receipts among ~4,300 entries
HEX64 = re.compile(r"^[0-9a-f]{64}$")
CJK = re.compile(r"[\u4e00-\u9fff]")
TIMEOUT_MS = 10_000


@dataclass
class Journey:
    page: Page
    role: str
    shots: Path
    console_errors: list[str] = field(default_factory=list)
    step: int = 0

    def shot(self, name: str) -> None:
        self.step += 1
        self.page.screenshot(path=str(self.shots / f"{self.role}-{self.step:02d}-{name}.png"), full_page=True)

    def goto(self, path: str, status: int = 200) -> None:
        response = self.page.goto(path)
        assert response is not None, path
        assert response.status == status, f"GET {path} answered {response.status}, expected {status}"


@pytest.fixture
def journey(page: Page, request: pytest.FixtureRequest, screenshot_dir: Path) -> Iterator[Journey]:
    role = request.node.callspec.params["role"]
    for old in screenshot_dir.glob(f"{role}-*.png"):
        old.unlink()
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    j = Journey(page, role, screenshot_dir)

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type != "error":
            return
        where = urlsplit(msg.location.get("url") or "").path
        # Chromium logs any non-2xx document as an error: the refused page is meant to be one,
        # and there is no favicon.
        if msg.text.startswith("Failed to load resource") and (
                where == "/favicon.ico" or where == FORBIDDEN_PAGE[role]):
            return
        j.console_errors.append(f"{msg.text} ({msg.location.get('url')})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: j.console_errors.append(f"page error: {exc}"))
    yield j


def sign_in(j: Journey) -> None:
    page = j.page
    j.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=(/|%2F)$"))
    page.fill("#username", username(j.role))
    page.fill("#password", PASSWORD)
    j.shot("sign-in")
    page.click("#sign-in")
    expect(page).to_have_url(re.compile(r"/$"))


def home(j: Journey) -> None:
    page = j.page
    expect(page.locator("#home-title")).to_contain_text(username(j.role))
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#lang-switch")).to_have_text("English")
    # The menu offers the ledger only to those who may read it.
    expect(page.locator("nav.mainnav a[href='/journal']")).to_have_count(1 if j.role in JOURNAL_READERS else 0)
    expect(page.locator("nav.mainnav a[href='/audit']")).to_have_count(1 if j.role in AUDIT_READERS else 0)
    # The stylesheet really applied (CSP allows only our own): the top bar is laid out as flex.
    assert page.evaluate("getComputedStyle(document.querySelector('header.topbar')).display") == "flex"
    # htmx loaded (deferred script from /static, allowed by the CSP).
    page.wait_for_function("typeof window.htmx !== 'undefined'")
    j.shot("home")


def _count(text: str) -> int:
    """The number in "6 entries" / "共 6 笔凭证"."""
    found = re.search(r"\d[\d,]*", text)
    assert found, text
    return int(found.group().replace(",", ""))


def _download_xlsx(j: Journey, download_dir: Path) -> list[tuple]:
    """Click #export-xlsx; the file must open with openpyxl and start with a header row of text cells."""
    with j.page.expect_download() as info:
        j.page.click("#export-xlsx")
    name = info.value.suggested_filename
    assert name.endswith(".xlsx"), name
    path = download_dir / f"{j.role}-{name}"
    info.value.save_as(path)
    workbook = openpyxl.load_workbook(path, read_only=True)
    rows = list(workbook.active.iter_rows(values_only=True))
    workbook.close()
    assert rows, f"{name} is empty"
    header = [c for c in rows[0] if c is not None]
    assert header and all(isinstance(c, str) and c.strip() for c in header), rows[0]
    return rows


def _download_csv(j: Journey) -> list[list[str]]:
    with j.page.expect_download() as info:
        j.page.click("#export-csv")
    name = info.value.suggested_filename
    assert name.endswith(".csv"), name
    text = Path(info.value.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows and all(c.strip() for c in rows[0]), rows[:1]
    return rows


def journal(j: Journey, download_dir: Path) -> None:
    page = j.page
    page.click("nav.mainnav a[href='/journal']")
    expect(page).to_have_url(re.compile(r"/journal$"))
    table = page.locator("#journal-table")
    expect(table).to_be_visible()
    expect(table.locator("tbody tr").first).to_be_visible()
    j.shot("journal")

    # Filter by kind: changing the select submits the filter form through htmx (web/static/app.js),
    # which swaps #journal-results in place and pushes the filter into the address bar.
    before = page.locator("#journal-results").inner_text()
    page.evaluate("window.__sameDocument = true")
    with page.expect_response(lambda r: "/journal?" in r.url and "kind=" + FILTER_KIND in r.url
                              and r.request.headers.get("hx-request") == "true") as swap:
        page.select_option("#filter-kind", FILTER_KIND)
    assert swap.value.status == 200, swap.value.status
    expect(page).to_have_url(re.compile(r"/journal\?(.*&)?kind=" + FILTER_KIND))
    expect(page.locator("#journal-results")).not_to_have_text(before)
    assert page.evaluate("window.__sameDocument === true"), "the filter reloaded the whole page"
    rows = page.locator("#journal-table tbody tr")
    expect(rows.first).to_be_visible()
    expect(page.locator("#journal-empty")).to_have_count(0)
    filtered = rows.count()
    assert filtered < 50, f"{filtered} rows after filtering by {FILTER_KIND}"
    assert _count(page.locator("#journal-count").inner_text()) == filtered
    j.shot("journal-filtered")

    # The export links were swapped in with the results: the XLSX holds exactly the filtered entries.
    sheet = _download_xlsx(j, download_dir)
    assert len(sheet) == 1 + filtered, f"export has {len(sheet) - 1} entries, the page shows {filtered}"

    # Open an entry from the filtered table.
    link = page.locator("#journal-table a[href^='/journal/']").first
    href = link.get_attribute("href")
    assert href and re.fullmatch(r"/journal/\d+", href), href
    link.click()
    expect(page).to_have_url(re.compile(re.escape(href) + "$"))
    entry_hash = page.locator("#entry-hash")
    expect(entry_hash).to_be_visible()
    assert HEX64.match(entry_hash.inner_text().strip()), entry_hash.inner_text()
    j.shot("entry")


def trial_balance(j: Journey) -> None:
    page = j.page
    page.click("nav.mainnav a[href='/trial-balance']")
    expect(page).to_have_url(re.compile(r"/trial-balance$"))
    table = page.locator("#trial-balance-table")
    expect(table).to_be_visible()
    expect(table.locator("tbody tr").first).to_be_visible()
    expect(page.locator("#tb-debit-total")).to_be_visible()
    j.shot("trial-balance")

    # The CSV export of the trial balance: every (account, fund) row, the one page shown or more.
    shown = table.locator("tbody tr").count()
    rows = _download_csv(j)
    assert len(rows) - 1 >= shown, f"CSV has {len(rows) - 1} rows, the page shows {shown}"


def refused(j: Journey) -> None:
    path = FORBIDDEN_PAGE[j.role]
    j.goto(path, status=403)
    expect(j.page.locator("#forbidden")).to_be_visible()
    j.shot("forbidden")


def audit_and_verify(j: Journey) -> None:
    page = j.page
    page.click("nav.mainnav a[href='/audit']")
    expect(page).to_have_url(re.compile(r"/audit$"))
    expect(page.locator("#forbidden")).to_have_count(0)
    expect(page.locator("#audit-table tbody tr").first).to_be_visible()  # sign-ins are audited, at least
    expect(page.locator("#audit-empty")).to_have_count(0)
    j.shot("audit")
    page.click("nav.mainnav a[href='/verify']")
    expect(page).to_have_url(re.compile(r"/verify$"))
    expect(page.locator("#verify-status")).to_be_visible()
    j.shot("verify")


def switch_language(j: Journey) -> None:
    page = j.page
    path = page.url
    page.click("#lang-switch")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_url(path)  # the switch stays on the same page
    expect(page.locator("#sign-out")).to_have_text("Sign out")
    expect(page.locator("#lang-switch")).to_have_text("中文")
    j.shot("english")
    page.click("#lang-switch")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#lang-switch")).to_have_text("English")
    # Chinese is the first language: the labels are Chinese again, not the English message ids.
    expect(page.locator("#sign-out")).to_have_text(CJK)
    expect(page.locator("h1").first).to_have_text(CJK)
    j.shot("chinese")


def sign_out(j: Journey) -> None:
    page = j.page
    page.click("#sign-out")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator("#sign-out")).to_have_count(0)
    j.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=(/|%2F)$"))
    expect(page.locator("#sign-in")).to_be_visible()
    j.shot("signed-out")


@pytest.mark.parametrize("role", ROLES)
def test_role_journey(journey: Journey, role: str, download_dir: Path) -> None:
    sign_in(journey)
    home(journey)
    if role in JOURNAL_READERS:
        journal(journey, download_dir)
        trial_balance(journey)
    refused(journey)
    if role in AUDIT_READERS:
        journey.goto("/")
        audit_and_verify(journey)
    switch_language(journey)
    sign_out(journey)
    assert not journey.console_errors, journey.console_errors


def test_pages_need_sign_in(page: Page) -> None:
    """Without a session every page leads to the sign-in form, keeping where it was going."""
    for path in ("/", "/journal", "/trial-balance", "/audit", "/admin/users"):
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        expect(page.locator("#sign-in")).to_be_visible()
        assert "/login?next=" in page.url, page.url


def test_wrong_password_is_refused(page: Page) -> None:
    page.goto("/login")
    page.fill("#username", username("approver"))
    page.fill("#password", "not-the-password")
    page.click("#sign-in")
    expect(page.locator(".error[role='alert']")).to_be_visible()
    expect(page.locator("#sign-out")).to_have_count(0)

