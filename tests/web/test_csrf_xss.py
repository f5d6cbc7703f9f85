"""CSRF on every page form that changes state, stored (and reflected) XSS, the CSP, and formula
injection in exports.

CSRF: a page POST carries the session's token as the form field `csrf_token` or (htmx) the
header `X-CSRF-Token`; anything else is a 403 and changes nothing. The sign-in form, before any
session exists, uses a double-submit cookie.

XSS: text that officers type (memos, business keys, fund names, display names, townships) is
shown as text on every page that shows it, and the CSP would stop inline script anyway.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from openpyxl import load_workbook
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import func, select

from ledger import users
from ledger.models import AppUser, AuditLog, Entry, LoginAttempt, UserSession, VerificationRun
from ledger.permissions import SYSTEM
from tests.web.conftest import PASSWORD


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    """Argon2 at its cheapest for these tests (the production cost makes each `world` take ~1 s)."""
    monkeypatch.setattr(users, "_hasher", PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024,
                                                                     parallelism=1),)))


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
NEW_PASSWORD = "another-horse-battery"
DAY = "2026-03-01"
POOL = "Assets:Treasury:Pool"


def csrf_of(client) -> str:
    m = CSRF_RE.search(client.get("/").text)
    assert m, "the signed-in page shows no CSRF token"
    return m.group(1)


def snapshot(engine) -> tuple:
    """Everything a page POST here could change."""
    u, s = AppUser.__table__, UserSession.__table__
    with engine.connect() as c:
        return (
            tuple(c.execute(select(u.c.id, u.c.username, u.c.is_active, u.c.password_hash).order_by(u.c.id))),
            tuple(c.execute(select(s.c.id, s.c.revoked_at).order_by(s.c.id))),
            c.execute(select(func.count()).select_from(VerificationRun.__table__)).scalar_one(),
            c.execute(select(func.count()).select_from(AuditLog.__table__)).scalar_one(),
            c.execute(select(func.count()).select_from(Entry.__table__)).scalar_one(),
        )


# ---------------------------------------------------------------------------------------------
# CSRF


@dataclass(frozen=True)
class Form:
    name: str
    url: Callable[[int], str]  # victim user id -> url
    fields: dict
    accepted: int  # the status when the token is right


STATE_CHANGING_FORMS = [
    Form("logout", lambda v: "/logout", {}, 303),
    Form("password", lambda v: "/account/password",
         {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}, 200),
    Form("verify", lambda v: "/verify", {}, 303),
    Form("create-user", lambda v: "/admin/users",
         {"username": "csrf-new", "role": "approver", "password": PASSWORD, "display_name": "x"}, 303),
    Form("deactivate", lambda v: f"/admin/users/{v}/deactivate", {}, 303),
    Form("activate", lambda v: f"/admin/users/{v}/activate", {}, 303),
]


@pytest.mark.parametrize("form", STATE_CHANGING_FORMS, ids=lambda f: f.name)
def test_page_post_needs_the_sessions_csrf_token(world, form):
    victim = users.create_user(world.engine, SYSTEM, "victim", "loan_officer", PASSWORD)
    if form.name == "activate":
        users.set_user_active(world.engine, SYSTEM, victim, False)
    admin = world.signed_in("admin")  # admin may use every one of these forms
    token = csrf_of(admin)
    other_token = csrf_of(world.signed_in("inspector"))  # right for another session, wrong for this one
    url = form.url(victim)
    before = snapshot(world.engine)

    refusals = {
        "no token": dict(data=form.fields),
        "empty token": dict(data={**form.fields, "csrf_token": ""}),
        "wrong token": dict(data={**form.fields, "csrf_token": "x" * len(token)}),
        "another session's token": dict(data={**form.fields, "csrf_token": other_token}),
        "wrong header": dict(data=form.fields, headers={"X-CSRF-Token": token[:-1]}),
        "token in the query string": dict(data=form.fields, params={"csrf_token": token}),
        "token in a JSON body": dict(json={**form.fields, "csrf_token": token}),
    }
    for what, kwargs in refusals.items():
        r = admin.post(url, follow_redirects=False, **kwargs)
        assert r.status_code == 403, f"{form.name} with {what}: {r.status_code}"
        assert snapshot(world.engine) == before, f"{form.name} with {what} changed something"
    # htmx sends the token as a header: accepted, and it did what it says.
    r = admin.post(url, data=form.fields, headers={"X-CSRF-Token": token}, follow_redirects=False)
    assert r.status_code == form.accepted, r.text[:300]
    assert snapshot(world.engine) != before


def test_refused_csrf_on_an_htmx_request_is_json_403(world):
    admin = world.signed_in("admin")
    r = admin.post("/verify", headers={"HX-Request": "true"})
    assert r.status_code == 403 and r.json() == {"detail": "CSRF token missing or wrong"}
    r = admin.post("/verify", headers={"HX-Request": "true", "X-CSRF-Token": csrf_of(admin)})
    assert r.status_code == 200 and r.text.startswith('<section class="card" id="verify-status">')


def test_login_form_needs_its_double_submit_token(world):
    def attempt(client, **kwargs):
        return client.post("/login", data={"username": "admin", "password": PASSWORD, **kwargs.pop("extra", {})},
                           follow_redirects=False, **kwargs)

    sessions, attempts = UserSession.__table__, LoginAttempt.__table__

    def counts():
        with world.engine.connect() as c:
            return (c.execute(select(func.count()).select_from(sessions)).scalar_one(),
                    c.execute(select(func.count()).select_from(attempts)).scalar_one())

    before = counts()
    anon = world.client()
    assert attempt(anon).status_code == 403  # no cookie, no token
    anon.get("/login")
    cookie = anon.cookies.get("huimin_prelogin")
    assert cookie
    assert attempt(anon).status_code == 403  # cookie, no token
    assert attempt(anon, extra={"csrf_token": "x" + cookie[1:]}).status_code == 403  # mismatch
    fresh = world.client()
    assert attempt(fresh, extra={"csrf_token": cookie}).status_code == 403  # token without its cookie
    assert counts() == before, "a refused sign-in form still signed in or counted an attempt"
    r = attempt(anon, extra={"csrf_token": cookie})
    assert r.status_code == 303 and "huimin_session" in r.cookies
    set_cookie = " ".join(v.lower() for v in world.client().get("/login").headers.get_list("set-cookie"))
    assert "huimin_prelogin=" in set_cookie and "httponly" in set_cookie and "samesite=strict" in set_cookie


# ---------------------------------------------------------------------------------------------
# Stored and reflected XSS


SCRIPT = "<script>alert(1)</script><img src=x onerror=alert(1)>"
SCRIPT_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
RAW_MARKERS = ("<script>alert", "<img src=x", "<b onmouseover", "<svg onload")


def assert_shown_as_text(html: str, where: str, escaped: str = SCRIPT_ESCAPED) -> None:
    for raw in RAW_MARKERS:
        assert raw not in html, f"{where}: raw markup {raw!r} in the page"
    assert escaped in html, f"{where}: the escaped text is missing"
    # Every script on our pages is a file from this site; none is inline.
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert re.search(r'\bsrc="/static/', tag), f"{where}: inline or foreign script {tag}"


def assert_csp_forbids_inline_script(response, where: str) -> None:
    csp = response.headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in (p.strip() for p in csp.split(";")) if d}
    assert directives["script-src"] == ["'self'"], f"{where}: {csp}"
    assert directives["default-src"] == ["'self'"] and directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"] and directives["frame-ancestors"] == ["'none'"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "*" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"


def test_markup_in_a_memo_is_shown_as_text_everywhere(world):
    fo = world.api("finance_officer")
    key = "xss-<script>alert(1)</script>"
    r = fo.post("/api/v1/funds/CENTRAL/receipts", json={"key": key, "amount": "12.34", "date": DAY, "memo": SCRIPT})
    assert r.status_code == 201, r.text
    seq = r.json()["seq"]
    r = fo.post("/api/v1/funds", json={"code": "XSS-FUND", "name": SCRIPT, "kind": "social", "document_no": SCRIPT})
    assert r.status_code == 201, r.text

    # The JSON API gives the memo back exactly as written: JSON is data, not HTML.
    r = fo.get(f"/api/v1/journal/{seq}")
    assert r.headers["content-type"] == "application/json"
    assert r.json()["memo"] == SCRIPT and r.json()["key"] == key
    assert r.headers["x-content-type-options"] == "nosniff"
    assert any(i["memo"] == SCRIPT for i in fo.get("/api/v1/journal").json()["items"])

    reader = world.signed_in("finance_officer")
    pages = {
        "journal": "/journal",
        "entry": f"/journal/{seq}",
        "statement": f"/accounts/{POOL}/statement",
    }
    for where, url in pages.items():
        r = reader.get(url)
        assert r.status_code == 200, where
        assert_shown_as_text(r.text, where)
        assert_csp_forbids_inline_script(r, where)
        # The htmx partial too, which is swapped into the page as HTML.
        if where != "entry":
            r = reader.get(url, headers={"HX-Request": "true"})
            assert r.status_code == 200
            assert_shown_as_text(r.text, where + " (htmx partial)")
    entry_page = reader.get(f"/journal/{seq}").text
    assert f'<td id="entry-memo">{SCRIPT_ESCAPED}</td>' in entry_page
    assert '<td class="mono" id="entry-key">xss-&lt;script&gt;alert(1)&lt;/script&gt;</td>' in entry_page

    # The audit log shows the business key (fund.receive) and the fund's name (fund.register).
    inspector = world.signed_in("inspector")
    r = inspector.get("/audit")
    assert r.status_code == 200
    assert_shown_as_text(r.text, "audit")
    assert_csp_forbids_inline_script(r, "audit")
    assert "xss-&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    r = inspector.get("/audit", params={"action": "fund.register"}, headers={"HX-Request": "true"})
    assert_shown_as_text(r.text, "audit (htmx partial)")


def test_markup_in_a_display_name_and_township_is_shown_as_text(world):
    admin = world.signed_in("admin")
    name = "<b onmouseover=alert(1)>王</b>" + SCRIPT
    r = admin.post("/admin/users", data={"username": "xss-user", "role": "inspector", "password": PASSWORD,
                                         "display_name": name, "township": "<svg onload=alert(1)>",
                                         "csrf_token": csrf_of(admin)}, follow_redirects=False)
    assert r.status_code == 303
    r = admin.get("/admin/users")
    assert_shown_as_text(r.text, "admin users")
    assert_csp_forbids_inline_script(r, "admin users")
    assert "&lt;b onmouseover=alert(1)&gt;王&lt;/b&gt;" in r.text and "&lt;svg onload=alert(1)&gt;" in r.text
    # The audit row of the creation shows it too, as text.
    r = world.signed_in("inspector").get("/audit", params={"action": "users.create"})
    assert_shown_as_text(r.text, "audit users.create")
    # And the user's own pages greet them by it, as text.
    me = world.client()
    me.get("/login")
    me.post("/login", data={"username": "xss-user", "password": PASSWORD,
                            "csrf_token": me.cookies.get("huimin_prelogin")})
    r = me.get("/")
    assert r.status_code == 200
    assert_shown_as_text(r.text, "home")
    assert "&lt;svg onload=alert(1)&gt;" in r.text


def test_reflected_parameters_are_escaped(world):
    reader = world.signed_in("inspector")
    probe = '"><script>alert(1)</script>'
    escaped = "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
    for url, params in [
        ("/journal", {"account": probe}),
        ("/audit", {"actor": probe, "action": probe, "object_type": probe}),
        (f"/accounts/{POOL}/statement", {"fund": probe}),
    ]:
        r = reader.get(url, params=params)
        assert r.status_code == 200, url
        assert "<script>alert" not in r.text, url
        assert escaped in r.text, url
    r = world.signed_in("admin").get("/admin/users", params={"done": "created", "name": probe})
    assert "<script>alert" not in r.text and escaped in r.text


# ---------------------------------------------------------------------------------------------
# Formula injection in exports


FORMULAS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(1,2)", "\t=1+1"]


def test_exports_defuse_spreadsheet_formulas(world):
    fo = world.api("finance_officer")
    for n, memo in enumerate(FORMULAS):
        r = fo.post("/api/v1/funds/CENTRAL/receipts", json={"key": f"formula-{n}", "amount": "1.00", "date": DAY,
                                                             "memo": memo})
        assert r.status_code == 201, r.text
    # A business key can start with a formula character as well.
    assert fo.post("/api/v1/funds/CENTRAL/receipts", json={"key": "=HYPERLINK(\"http://x\")", "amount": "1.00",
                                                            "date": DAY}).status_code == 201
    reader = world.signed_in("finance_officer")
    for url in ("/journal/export", f"/accounts/{POOL}/statement/export"):
        r = reader.get(url, params={"format": "csv"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        cells = [c for row in csv.reader(io.StringIO(r.content.decode("utf-8-sig"))) for c in row]
        for memo in FORMULAS:
            assert "'" + memo in cells, f"{url} csv: {memo!r} not defused"
            assert memo not in cells, f"{url} csv: {memo!r} exported as is"
        r = reader.get(url, params={"format": "xlsx"})
        assert r.status_code == 200
        ws = load_workbook(io.BytesIO(r.content)).active
        values = [c.value for row in ws.iter_rows() for c in row]
        assert all(c.data_type != "f" for row in ws.iter_rows() for c in row), f"{url} xlsx has a formula cell"
        for memo in FORMULAS:
            assert "'" + memo in values, f"{url} xlsx: {memo!r} not defused"
    r = reader.get("/journal/export", params={"format": "csv"})
    assert "'=HYPERLINK(\"http://x\")" in [c for row in csv.reader(io.StringIO(r.content.decode("utf-8-sig")))
                                           for c in row]
