"""The permission matrix (DESIGN.md §1, §12): every endpoint x every role, compared with an explicit table.

`MATRIX` says, for every route the app registers (JSON API and pages), which roles may use it.
It is written out by hand so that it is a real check: a change to ledger.permissions, a route
that forgets its check, or a new route without a row makes a test here fail. Where a route maps
to a permission the row names it too, and one test checks the hand-written roles against
ledger.permissions.PERMISSIONS, so the table and the code cannot drift apart silently.

Allowed means the route's success status (2xx, or the 303 of a page form); denied is 403 on the
API and on pages alike. Each call uses valid minimal input (page POSTs carry the session's CSRF
token) so that the only thing that can refuse it is the role. Requests for a deliberately unknown
id are 404 for an allowed role and still 403 for any other role (no probing what exists).

The service layer is checked directly as well: the same refusals happen whatever the caller.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import func, select

from ledger import inkind, payment_exports, payments, projects, queries, registry, services, users, welfare
from ledger.models import AppUser, Entry, Fund
from ledger.permissions import PERMISSIONS, SYSTEM, Actor, PermissionDenied
from tests.web.conftest import PASSWORD, ROLES
from tests.web.payment_seed import Seeded, hh_no, seed_batches
from tests.web.welfare_seed import seed_posts


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    """Argon2 at its cheapest for these tests (the production cost makes each `world` take ~1 s)."""
    monkeypatch.setattr(users, "_hasher", PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024,
                                                                     parallelism=1),)))


FO, AP, LO, IN, AD = "finance_officer", "approver", "loan_officer", "inspector", "admin"
assert (FO, AP, LO, IN, AD) == ROLES

EVERYONE = frozenset(ROLES)
LEDGER_READERS = frozenset({FO, AP, LO, IN})  # journal.read and journal.export
CHAIN_VIEWERS = frozenset({FO, AP, LO, IN, AD})  # journal.read, or journal.verify for the admin
VERIFIERS = frozenset({IN, AD})
AUDITORS = frozenset({IN, AD})
REGISTRY_READERS = frozenset({FO, AP, LO, IN})  # registry.read
DASHBOARD_READERS = frozenset({FO, AP, IN})  # dashboard.read
FINANCE = frozenset({FO})
ADMINS = frozenset({AD})
PROJECT_READERS = frozenset({FO, AP, LO, IN})  # project.read
APPROVERS = frozenset({AP})  # fund.approve
MATRIX_PROJECT = "MATRIX-P1"  # in the library, being carried out (make_ctx)
MATRIX_FINISHING = "MATRIX-P2"  # another one, which the finance officer marks completed
PAYMENT_READERS = frozenset({FO, AP, IN})  # payment.read
WELFARE_READERS = frozenset({FO, AP, IN})  # welfare.read

NEW_PASSWORD = "another-horse-battery"
POOL = "Assets:Treasury:Pool"
DAY = "2026-03-01"


# ---------------------------------------------------------------------------------------------
# The table


@dataclass
class Ctx:
    """Things the requests need: made once per test, before any call."""

    reverse_seq: dict[str, int]  # role -> an entry of its own to reverse
    victim_id: int  # a user the admin may deactivate and activate
    csrf: dict[str, str] = field(default_factory=dict)  # role -> its session's CSRF token
    error_sheets: dict[str, str] = field(default_factory=dict)  # role -> a waiting import error sheet's token
    to_approve: dict[str, int] = field(default_factory=dict)  # role -> a pending request someone else prepared
    to_reject: dict[str, int] = field(default_factory=dict)  # role -> another one, to reject
    pay: Seeded = field(default_factory=Seeded)  # payment batches in every state (tests.web.payment_seed)


Build = Callable[[Ctx, str], dict]  # (ctx, role) -> keyword arguments of TestClient.request


def _get(url: str) -> Build:
    return lambda ctx, role: {"url": url}


def _json(url: str | Callable[[Ctx, str], str], body: Callable[[Ctx, str], dict]) -> Build:
    return lambda ctx, role: {"url": url(ctx, role) if callable(url) else url, "json": body(ctx, role)}


def _form(url: str | Callable[[Ctx, str], str], fields: Callable[[Ctx, str], dict] = lambda c, r: {}) -> Build:
    return lambda ctx, role: {"url": url(ctx, role) if callable(url) else url,
                              "data": {**fields(ctx, role), "csrf_token": ctx.csrf[role]}}


def _upload(url: str, kind: str, content: bytes, fields: dict) -> Build:
    return lambda ctx, role: {"url": url, "data": {**fields, "kind": kind, "csrf_token": ctx.csrf[role]},
                              "files": {"file": (f"{kind}.csv", content, "text/csv")}}


def _pay_payee(n: int) -> tuple[str, str]:
    """(resident ID, card) of payment_seed's household n."""
    from tests.web.payment_seed import card, rid

    return rid(n), card(n)


def _rid(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


MATRIX_HEAD_ID = _rid("65322619800101001")
MATRIX_HOUSEHOLDS_CSV = ("household_no,township,village,head_name,head_id_number,size,status,bank_account\n"
                         f"M-002,MGL,阿克村,矩阵户,{_rid('65322619800101002')},1,poor,6217001234567891\n").encode()


def _slug(role: str) -> str:
    return role.replace("_", "-")


@dataclass(frozen=True)
class Row:
    method: str
    path: str  # the route's path template, exactly as registered
    roles: frozenset[str]  # who may
    ok: int  # the status an allowed role gets
    request: Build
    permission: str | None = None  # the permission in ledger.permissions it maps to, if one


API = "/api/v1"

API_ROWS = [
    Row("GET", f"{API}/me", EVERYONE, 200, _get(f"{API}/me")),
    Row("POST", f"{API}/tokens", EVERYONE, 201, _json(f"{API}/tokens", lambda c, r: {"name": "matrix"})),
    Row("GET", f"{API}/journal", LEDGER_READERS, 200, _get(f"{API}/journal?page_size=5"), "journal.read"),
    Row("GET", f"{API}/journal/{{seq}}", LEDGER_READERS, 200, _get(f"{API}/journal/1"), "journal.read"),
    Row("GET", f"{API}/trial-balance", LEDGER_READERS, 200, _get(f"{API}/trial-balance"), "journal.read"),
    Row("GET", f"{API}/funds", LEDGER_READERS, 200, _get(f"{API}/funds"), "journal.read"),
    Row("GET", f"{API}/accounts/{{code}}/statement", LEDGER_READERS, 200,
        _get(f"{API}/accounts/{POOL}/statement"), "journal.read"),
    Row("GET", f"{API}/verify", CHAIN_VIEWERS, 200, _get(f"{API}/verify")),
    Row("POST", f"{API}/verify", VERIFIERS, 200, lambda c, r: {"url": f"{API}/verify"}, "journal.verify"),
    Row("GET", f"{API}/digest", LEDGER_READERS, 200, _get(f"{API}/digest"), "journal.read"),
    Row("GET", f"{API}/audit", AUDITORS, 200, _get(f"{API}/audit"), "audit.read"),
    Row("POST", f"{API}/funds", FINANCE, 201,
        _json(f"{API}/funds", lambda c, r: {"code": f"MATRIX-{ROLES.index(r)}", "name": "矩阵测试资金",
                                            "kind": "county"}), "fund.register"),
    Row("POST", f"{API}/funds/{{code}}/receipts", FINANCE, 201,
        _json(f"{API}/funds/CENTRAL/receipts", lambda c, r: {"key": f"matrix-r-{r}", "amount": "1.00",
                                                             "date": DAY}), "fund.receive"),
    Row("POST", f"{API}/allocation-requests", FINANCE, 201,
        _json(f"{API}/allocation-requests", lambda c, r: {"key": f"matrix-a-{r}", "project_code": MATRIX_PROJECT,
                                                          "fund": "CENTRAL", "amount": "1.00", "date": DAY}),
        "fund.allocate"),
    Row("GET", f"{API}/allocation-requests", PROJECT_READERS, 200, _get(f"{API}/allocation-requests?status=pending"),
        "project.read"),
    Row("POST", f"{API}/allocation-requests/{{request_id}}/approve", APPROVERS, 200,
        lambda c, r: {"url": f"{API}/allocation-requests/{c.to_approve[r]}/approve"}, "fund.approve"),
    Row("POST", f"{API}/allocation-requests/{{request_id}}/reject", APPROVERS, 200,
        _json(lambda c, r: f"{API}/allocation-requests/{c.to_reject[r]}/reject", lambda c, r: {"reason": "矩阵驳回"}),
        "fund.approve"),
    Row("GET", f"{API}/projects", PROJECT_READERS, 200, _get(f"{API}/projects?status=implementing"), "project.read"),
    Row("GET", f"{API}/projects/{{code:path}}", PROJECT_READERS, 200, _get(f"{API}/projects/{MATRIX_PROJECT}"),
        "project.read"),
    Row("POST", f"{API}/projects", FINANCE, 201,
        _json(f"{API}/projects", lambda c, r: {"code": f"MATRIX-NEW-{ROLES.index(r)}", "name": "矩阵新项目",
                                               "industry": "grape", "budget": "1000.00", "start_on": DAY}),
        "project.create"),
    Row("POST", f"{API}/entries/{{seq}}/reversal", FINANCE, 201,
        _json(lambda c, r: f"{API}/entries/{c.reverse_seq[r]}/reversal",
              lambda c, r: {"key": f"matrix-x-{r}", "date": DAY}), "journal.reverse"),
    Row("POST", f"{API}/users", ADMINS, 201,
        _json(f"{API}/users", lambda c, r: {"username": f"api-new-{_slug(r)}", "role": "loan_officer",
                                            "password": PASSWORD}), "users.manage"),
    Row("GET", f"{API}/dashboard", DASHBOARD_READERS, 200, _get(f"{API}/dashboard"), "dashboard.read"),
    # Payment batches (make_ctx seeds one in each state). Only one role may write each, so one batch is enough.
    Row("GET", f"{API}/payment-batches", PAYMENT_READERS, 200, _get(f"{API}/payment-batches?status=draft"),
        "payment.read"),
    Row("GET", f"{API}/payment-batches/{{batch_no:path}}", PAYMENT_READERS, 200,
        lambda c, r: {"url": f"{API}/payment-batches/{c.pay.posted}"}, "payment.read"),
    Row("POST", f"{API}/payment-batches", FINANCE, 201, _json(f"{API}/payment-batches", lambda c, r: {
        "declared_count": 1, "declared_total": "10.00", "rows": [{
            "ref": f"M-ROLL-{ROLES.index(r)}", "batch_no": f"M-ROLL-{ROLES.index(r)}", "project_code": "PAY-ROSE",
            "household_no": hh_no(2), "payee_id_number": _pay_payee(2)[0], "payee_name": "收款人2",
            "bank_account": _pay_payee(2)[1], "amount": "10.00", "paid_on": DAY, "purpose": "subsidy",
            "period": "2026-07"}]}), "payment.prepare"),
    Row("POST", f"{API}/payment-batches/{{batch_no:path}}/disclosure", FINANCE, 200,
        _json(lambda c, r: f"{API}/payment-batches/{c.pay.draft}/disclosure", lambda c, r: {}), "payment.disclose"),
    Row("POST", f"{API}/payment-batches/{{batch_no:path}}/approve", APPROVERS, 200,
        lambda c, r: {"url": f"{API}/payment-batches/{c.pay.disclosed}/approve"}, "payment.approve"),
    Row("POST", f"{API}/payment-batches/{{batch_no:path}}/reject", APPROVERS, 200,
        _json(lambda c, r: f"{API}/payment-batches/{c.pay.draft2}/reject", lambda c, r: {"reason": "矩阵驳回"}),
        "payment.approve"),
    Row("POST", f"{API}/advances", FINANCE, 201, _json(f"{API}/advances", lambda c, r: {
        "batch_no": f"M-ADV-{ROLES.index(r)}", "ref": f"M-ADV-{ROLES.index(r)}", "project_code": "PAY-ROSE",
        "amount": "1.00", "date": DAY}), "payment.prepare"),
    Row("GET", f"{API}/households/{{household_no}}/statement", PAYMENT_READERS, 200,
        _get(f"{API}/households/{hh_no(1)}/statement"), "payment.read"),
    # Public-welfare posts (make_ctx seeds one post) and the in-kind advance aging.
    Row("GET", f"{API}/posts", WELFARE_READERS, 200, _get(f"{API}/posts?active=true"), "welfare.read"),
    Row("GET", f"{API}/advances/aging", PAYMENT_READERS, 200, _get(f"{API}/advances/aging?as_of={DAY}"),
        "payment.read"),
]

# Page rows. The last two end or change the session, so they run last, in this order.
PAGE_ROWS = [
    Row("GET", "/", EVERYONE, 200, _get("/")),
    Row("GET", "/account/password", EVERYONE, 200, _get("/account/password")),
    Row("GET", "/journal", LEDGER_READERS, 200, _get("/journal"), "journal.read"),
    Row("GET", "/journal/export", LEDGER_READERS, 200, _get("/journal/export?format=csv"), "journal.export"),
    Row("GET", "/journal/{seq}", LEDGER_READERS, 200, _get("/journal/1"), "journal.read"),
    Row("GET", "/trial-balance", LEDGER_READERS, 200, _get("/trial-balance"), "journal.read"),
    Row("GET", "/funds", LEDGER_READERS, 200, _get("/funds"), "journal.read"),
    Row("GET", "/funds/export", LEDGER_READERS, 200, _get("/funds/export?format=xlsx"), "journal.export"),
    Row("GET", "/trial-balance/export", LEDGER_READERS, 200, _get("/trial-balance/export?format=csv"),
        "journal.export"),
    Row("GET", "/accounts/{code}/statement", LEDGER_READERS, 200, _get(f"/accounts/{POOL}/statement"),
        "journal.read"),
    Row("GET", "/accounts/{code}/statement/export", LEDGER_READERS, 200,
        _get(f"/accounts/{POOL}/statement/export?format=xlsx"), "journal.export"),
    Row("GET", "/verify", CHAIN_VIEWERS, 200, _get("/verify")),
    Row("POST", "/verify", VERIFIERS, 303, _form("/verify"), "journal.verify"),
    Row("GET", "/audit", AUDITORS, 200, _get("/audit"), "audit.read"),
    Row("GET", "/audit/export", AUDITORS, 200, _get("/audit/export?format=csv"), "audit.read"),
    Row("GET", "/registry", REGISTRY_READERS, 200, _get("/registry?name=矩"), "registry.read"),
    Row("GET", "/registry/households/{household_no}", REGISTRY_READERS, 200, _get("/registry/households/M-001"),
        "registry.read"),
    Row("GET", "/registry/import", FINANCE, 200, _get("/registry/import"), "registry.import"),
    Row("POST", "/registry/import", FINANCE, 200,
        _upload("/registry/import", "households", MATRIX_HOUSEHOLDS_CSV, {"dry_run": "true"}), "registry.import"),
    Row("GET", "/registry/import/errors/{token}", FINANCE, 200,
        lambda c, r: {"url": f"/registry/import/errors/{c.error_sheets[r]}"}, "registry.import"),
    Row("GET", "/dashboard", DASHBOARD_READERS, 200, _get("/dashboard"), "dashboard.read"),
    Row("GET", "/dashboard/export", DASHBOARD_READERS, 200, _get("/dashboard/export?table=idle&format=xlsx"),
        "dashboard.read"),
    Row("GET", "/projects", PROJECT_READERS, 200, _get("/projects?status=implementing"), "project.read"),
    Row("GET", "/projects/export", PROJECT_READERS, 200, _get("/projects/export?format=csv"), "project.read"),
    Row("GET", "/projects/{code:path}", PROJECT_READERS, 200, _get(f"/projects/{MATRIX_PROJECT}"), "project.read"),
    Row("POST", "/projects/{code:path}/status", FINANCE, 303,
        _form(f"/projects/{MATRIX_FINISHING}/status", lambda c, r: {"to_status": "completed", "reason": "矩阵完工"}),
        "project.advance"),
    Row("GET", "/allocations", PROJECT_READERS, 200, _get("/allocations?status=pending"), "project.read"),
    Row("POST", "/allocations", FINANCE, 303,
        _form("/allocations", lambda c, r: {"key": f"matrix-page-{_slug(r)}", "project_code": MATRIX_PROJECT,
                                            "fund": "CENTRAL", "amount": "1.00", "allocate_on": DAY}),
        "fund.allocate"),
    Row("POST", "/allocations/{request_id}/approve", APPROVERS, 303,
        _form(lambda c, r: f"/allocations/{c.to_approve[r]}/approve"), "fund.approve"),
    Row("POST", "/allocations/{request_id}/reject", APPROVERS, 303,
        _form(lambda c, r: f"/allocations/{c.to_reject[r]}/reject", lambda c, r: {"reason": "矩阵驳回"}),
        "fund.approve"),
    Row("GET", "/payments", PAYMENT_READERS, 200, _get("/payments?status=draft"), "payment.read"),
    Row("GET", "/payments/export", PAYMENT_READERS, 200, _get("/payments/export?format=csv"), "payment.read"),
    Row("GET", "/payments/{batch_no:path}", PAYMENT_READERS, 200, lambda c, r: {"url": f"/payments/{c.pay.posted}"},
        "payment.read"),
    Row("POST", "/payments/{batch_no:path}/disclosure", FINANCE, 303,
        _form(lambda c, r: f"/payments/{c.pay.draft}/disclosure", lambda c, r: {"days": "10"}), "payment.disclose"),
    Row("POST", "/payments/{batch_no:path}/approve", APPROVERS, 303,
        _form(lambda c, r: f"/payments/{c.pay.disclosed}/approve"), "payment.approve"),
    Row("POST", "/payments/{batch_no:path}/reject", APPROVERS, 303,
        _form(lambda c, r: f"/payments/{c.pay.draft2}/reject", lambda c, r: {"reason": "矩阵驳回"}),
        "payment.approve"),
    Row("POST", "/payments/{batch_no:path}/reissue", FINANCE, 303,
        _form(lambda c, r: f"/payments/{c.pay.posted}/reissue",
              lambda c, r: {"new_batch_no": f"M-RE-{ROLES.index(r)}", "paid_on": DAY, "refs": [c.pay.failed_ref]}),
        "payment.prepare"),
    Row("GET", "/registry/households/{household_no}/statement/export", PAYMENT_READERS, 200,
        _get(f"/registry/households/{hh_no(1)}/statement/export?format=xlsx"), "payment.read"),
    Row("GET", "/posts", WELFARE_READERS, 200, _get("/posts?post_type=forest&active=yes"), "welfare.read"),
    Row("GET", "/posts/export", WELFARE_READERS, 200, _get("/posts/export?format=xlsx"), "welfare.read"),
    Row("POST", "/posts/wage-roll", FINANCE, 303,
        _form("/posts/wage-roll", lambda c, r: {"project": "MATRIX-WELF", "period": "2026-02",
                                                "batch_no": f"M-WAGE-{ROLES.index(r)}", "paid_on": DAY}),
        "welfare.manage"),
    Row("GET", "/advances", PAYMENT_READERS, 200, _get(f"/advances?as_of={DAY}"), "payment.read"),
    Row("GET", "/advances/export", PAYMENT_READERS, 200, _get("/advances/export?format=csv"), "payment.read"),
    Row("GET", "/admin/users", ADMINS, 200, _get("/admin/users"), "users.manage"),
    Row("POST", "/admin/users", ADMINS, 303,
        _form("/admin/users", lambda c, r: {"username": f"page-new-{_slug(r)}", "role": "approver",
                                            "password": PASSWORD, "display_name": "新用户"}), "users.manage"),
    Row("POST", "/admin/users/{user_id}/deactivate", ADMINS, 303,
        _form(lambda c, r: f"/admin/users/{c.victim_id}/deactivate"), "users.manage"),
    Row("POST", "/admin/users/{user_id}/activate", ADMINS, 303,
        _form(lambda c, r: f"/admin/users/{c.victim_id}/activate"), "users.manage"),
    Row("POST", "/account/password", EVERYONE, 200,
        _form("/account/password", lambda c, r: {"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                                 "confirm_password": NEW_PASSWORD})),
    Row("POST", "/logout", EVERYONE, 303, _form("/logout")),
]

# The 公示 (public notice): no sign-in, for anyone, signed in or not (test_public_notices_for_anyone).
PUBLIC_ROWS = [
    Row("GET", "/public/notices", EVERYONE, 200, _get("/public/notices")),
    Row("GET", "/public/notices/{batch_no:path}", EVERYONE, 200,
        lambda c, r: {"url": f"/public/notices/{c.pay.disclosed}"}),
    Row("GET", f"{API}/public/notices/{{batch_no:path}}", EVERYONE, 200,
        lambda c, r: {"url": f"{API}/public/notices/{c.pay.disclosed}"}),
]

MATRIX: dict[tuple[str, str], Row] = {(r.method, r.path): r for r in API_ROWS + PAGE_ROWS + PUBLIC_ROWS}
assert len(MATRIX) == len(API_ROWS) + len(PAGE_ROWS) + len(PUBLIC_ROWS), "a route has two rows"

# Routes that need no sign-in at all, with what they answer anyone.
VERIFY_OTHER_METHODS = {(m, f"{API}/verify"): 405 for m in ("PUT", "PATCH", "DELETE", "OPTIONS")}
PUBLIC_PAGES = {("GET", "/login"), ("POST", "/login"), ("GET", "/lang/{locale}"), ("GET", "/favicon.ico")}
# Not application endpoints: the schema, its documentation, static files.
INFRASTRUCTURE = {("GET", "/openapi.json"), ("GET", "/api/docs"), ("GET", "/docs/oauth2-redirect")}

# Unknown ids: (method, url, body, allowed roles). Allowed -> 404, anyone else -> 403.
UNKNOWN_API = [
    ("GET", f"{API}/journal/999999", None, LEDGER_READERS),
    ("GET", f"{API}/accounts/Assets:No:Such/statement", None, LEDGER_READERS),
    ("POST", f"{API}/funds/NO-SUCH-FUND/receipts", {"key": "unknown-fund", "amount": "1.00", "date": DAY}, FINANCE),
    ("POST", f"{API}/entries/999999/reversal", {"key": "unknown-entry", "date": DAY}, FINANCE),
    ("GET", f"{API}/projects/NO-SUCH", None, PROJECT_READERS),
    ("POST", f"{API}/allocation-requests/999999/approve", None, APPROVERS),
    ("POST", f"{API}/allocation-requests/999999/reject", {"reason": "无此申请"}, APPROVERS),
    ("GET", f"{API}/payment-batches/NO-SUCH", None, PAYMENT_READERS),
    ("POST", f"{API}/payment-batches/NO-SUCH/disclosure", {}, FINANCE),
    ("POST", f"{API}/payment-batches/NO-SUCH/approve", None, APPROVERS),
    ("POST", f"{API}/payment-batches/NO-SUCH/reject", {"reason": "无此批次"}, APPROVERS),
    ("GET", f"{API}/households/NO-SUCH/statement", None, PAYMENT_READERS),
]
UNKNOWN_PAGES = [
    ("GET", "/journal/999999", LEDGER_READERS),
    ("GET", "/accounts/Assets:No:Such/statement", LEDGER_READERS),
    ("GET", "/accounts/Assets:No:Such/statement/export?format=csv", LEDGER_READERS),
    ("GET", "/registry/households/NO-SUCH", REGISTRY_READERS),
    ("GET", "/registry/import/errors/no-such-token", FINANCE),
    ("GET", "/projects/NO-SUCH", PROJECT_READERS),
    ("POST", "/allocations/999999/approve", APPROVERS),
    ("GET", "/payments/NO-SUCH", PAYMENT_READERS),
    ("POST", "/payments/NO-SUCH/disclosure", FINANCE),
    ("POST", "/payments/NO-SUCH/approve", APPROVERS),
    ("POST", "/payments/NO-SUCH/reject", APPROVERS),
    ("POST", "/payments/NO-SUCH/reissue", FINANCE),
    ("GET", "/registry/households/NO-SUCH/statement/export", PAYMENT_READERS),
    ("POST", "/admin/users/999999/activate", ADMINS),
    ("POST", "/admin/users/999999/deactivate", ADMINS),
]


# ---------------------------------------------------------------------------------------------
# Helpers


def registered_routes(app) -> set[tuple[str, str]]:
    """(method, path template) of every route, HEAD aside, through included routers of any FastAPI."""
    out: set[tuple[str, str]] = set()

    def add(methods, path):
        for m in methods or ():
            if m != "HEAD":
                out.add((m, path))

    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:  # FastAPI's lazily included router
            for c in contexts():
                add(c.methods, c.path)
        elif getattr(route, "path", None) == "/static":
            continue
        else:
            add(getattr(route, "methods", None), route.path)
    return out


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(client) -> str:
    m = CSRF_RE.search(client.get("/").text)
    assert m, "the signed-in page shows no CSRF token"
    return m.group(1)


def count(engine, table) -> int:
    with engine.connect() as c:
        return c.execute(select(func.count()).select_from(table.__table__)).scalar_one()


def make_ctx(world) -> Ctx:
    reverse_seq = {}
    for role in ROLES:
        p = services.receive_fund(world.engine, SYSTEM, f"to-reverse-{role}", "CENTRAL", 100, dt.date(2026, 2, 10))
        reverse_seq[role] = p.seq
    victim = users.create_user(world.engine, SYSTEM, "victim", "loan_officer", PASSWORD)
    from web import registry_pages  # after the app: web.routes gathers the page modules

    registry.upsert_townships(world.engine, SYSTEM, [registry.TownshipIn("MGL", "木尕拉镇")])
    registry.upsert_households(world.engine, SYSTEM, [registry.HouseholdIn(
        "M-001", "MGL", "阿克村", "矩阵户主", MATRIX_HEAD_ID, 1, "poor", "6217001234567890")], create_villages=True)
    sheets = {role: registry_pages.ERROR_SHEETS.put(world.user_ids[role], "matrix-errors.xlsx", b"PK matrix")
              for role in ROLES}
    approver = Actor(world.user_ids[AP], _slug(AP), AP)
    for code in (MATRIX_PROJECT, MATRIX_FINISHING):
        projects.create_project(world.engine, SYSTEM, projects.ProjectIn(code, "矩阵项目", "rose",
                                                                         dt.date(2026, 1, 1), 100_000_00))
        projects.change_project_status(world.engine, approver, code, "approved", "批复")
        projects.change_project_status(world.engine, SYSTEM, code, "implementing", "实施")
    # Pending requests prepared by the system user, so that the approver may decide them.
    pending = {f"{what}-{role}": projects.prepare_allocation(world.engine, SYSTEM, f"matrix-{what}-{role}",
                                                             MATRIX_PROJECT, "CENTRAL", 100, dt.date(2026, 3, 1)).id
               for what in ("approve", "reject") for role in ROLES}
    seed_posts(world, "M-001", MATRIX_HEAD_ID, "矩阵户主")  # a post to roll a month's wage of (/posts/wage-roll)
    return Ctx(reverse_seq, victim, error_sheets=sheets,
               to_approve={r: pending[f"approve-{r}"] for r in ROLES},
               to_reject={r: pending[f"reject-{r}"] for r in ROLES}, pay=seed_batches(world))


def _expected(row_roles: frozenset[str], role: str, ok: int) -> int:
    return ok if role in row_roles else 403


# ---------------------------------------------------------------------------------------------
# The table covers the app and agrees with ledger.permissions


def test_every_registered_route_has_a_matrix_row(world):
    routes = registered_routes(world.app)
    known = set(MATRIX) | set(VERIFY_OTHER_METHODS) | PUBLIC_PAGES | INFRASTRUCTURE
    missing = sorted(routes - known)
    assert not missing, f"routes without a permission-matrix row: {missing}"
    stale = sorted(known - routes)
    assert not stale, f"matrix rows for routes that do not exist: {stale}"


def test_matrix_agrees_with_the_permission_table():
    for row in MATRIX.values():
        if row.permission is None:
            continue
        derived = frozenset(r for r in ROLES if row.permission in PERMISSIONS[r])
        assert row.roles == derived, f"{row.method} {row.path}: table says {sorted(row.roles)}, " \
                                     f"PERMISSIONS give {sorted(derived)} for {row.permission}"
    # The rows without one permission, spelt out: everyone signed in, or the chain's status
    # (journal.read, or journal.verify for the admin who does not read the ledger).
    assert {k for k, r in MATRIX.items() if r.permission is None} == {
        ("GET", f"{API}/me"), ("POST", f"{API}/tokens"), ("GET", f"{API}/verify"), ("GET", "/"),
        ("GET", "/verify"), ("GET", "/account/password"), ("POST", "/account/password"), ("POST", "/logout"),
        *((r.method, r.path) for r in PUBLIC_ROWS)}
    assert CHAIN_VIEWERS == frozenset(r for r in ROLES if {"journal.read", "journal.verify"} & PERMISSIONS[r])


def test_design_section_1_in_the_permission_table():
    """DESIGN §1 in words: who never does what."""
    money = {"fund.register", "fund.receive", "fund.allocate", "fund.reallocate", "fund.redesignate",
             "journal.reverse", "journal.import"}
    for role in (AP, LO, IN, AD):
        assert not money & PERMISSIONS[role], f"{role} may post money"
    assert "fund.approve" not in PERMISSIONS[FO], "the finance officer approves what it prepares"
    assert not {"fund.receive", "fund.allocate"} & PERMISSIONS[AP], "the approver prepares what it approves"
    assert "audit.read" not in PERMISSIONS[FO]
    assert "users.manage" in PERMISSIONS[AD] and all("users.manage" not in PERMISSIONS[r] for r in (FO, AP, LO, IN))
    assert {"journal.read", "audit.read"} <= PERMISSIONS[IN]


# ---------------------------------------------------------------------------------------------
# Every endpoint as every role


def test_every_api_endpoint_as_every_role(world):
    ctx = make_ctx(world)
    wrong = []
    for role in ROLES:
        api = world.api(role)
        for row in API_ROWS:
            r = api.request(row.method, **row.request(ctx, role))
            want = _expected(row.roles, role, row.ok)
            if r.status_code != want:
                wrong.append(f"{row.method} {row.path} as {role}: {r.status_code} (want {want}) {r.text[:200]}")
            elif want == 403:
                assert r.json()["detail"] == "forbidden"
        for method, url, body, allowed_roles in UNKNOWN_API:
            r = api.request(method, url, json=body)
            want = _expected(allowed_roles, role, 404)
            if r.status_code != want:
                wrong.append(f"{method} {url} as {role}: {r.status_code} (want {want}) {r.text[:200]}")
    assert not wrong, "permission matrix (API) differs:\n" + "\n".join(wrong)


def test_every_page_as_every_role(world):
    ctx = make_ctx(world)
    wrong = []
    for role in ROLES:
        page = world.signed_in(role)
        ctx.csrf[role] = csrf_of(page)
        session_cookie = page.cookies.get("huimin_session")
        for method, url, allowed_roles in UNKNOWN_PAGES:
            data = {"csrf_token": ctx.csrf[role]} if method == "POST" else None
            r = page.request(method, url, data=data, follow_redirects=False)
            want = _expected(allowed_roles, role, 404)
            if r.status_code != want:
                wrong.append(f"{method} {url} as {role}: {r.status_code} (want {want})")
        for row in PAGE_ROWS:
            r = page.request(row.method, follow_redirects=False, **row.request(ctx, role))
            want = _expected(row.roles, role, row.ok)
            if r.status_code != want:
                wrong.append(f"{row.method} {row.path} as {role}: {r.status_code} (want {want})")
            if want == 403 and r.status_code == 403:
                assert "text/html" in r.headers["content-type"]
        # The last row signed the session out: the same cookie no longer opens a page.
        replay = world.client()
        replay.cookies.set("huimin_session", session_cookie)
        assert replay.get("/", follow_redirects=False).status_code == 303
    assert not wrong, "permission matrix (pages) differs:\n" + "\n".join(wrong)


def test_without_credentials_the_api_says_401_and_pages_redirect_to_login(world):
    ctx = make_ctx(world)
    ctx.csrf = dict.fromkeys(ROLES, "not-a-session-token")
    before = (count(world.engine, Entry), count(world.engine, AppUser), count(world.engine, Fund))
    anon = world.client()
    for row in API_ROWS:
        r = anon.request(row.method, **row.request(ctx, FO))
        assert r.status_code == 401, f"{row.method} {row.path}: {r.status_code}"
        assert r.headers["www-authenticate"] == "Bearer"
    # A session cookie is no credential for the API (so the API needs no CSRF token).
    page = world.signed_in(FO)
    assert page.get(f"{API}/me").status_code == 401
    assert page.post(f"{API}/funds/CENTRAL/receipts", json={"key": "cookie", "amount": "1.00",
                                                            "date": DAY}).status_code == 401
    # A bearer token is no credential for pages.
    assert world.api(IN).get("/audit", follow_redirects=False).status_code == 303
    for row in PAGE_ROWS:
        kwargs = row.request(ctx, FO)
        r = anon.request(row.method, follow_redirects=False, **kwargs)
        assert r.status_code == 303, f"{row.method} {row.path}: {r.status_code}"
        assert r.headers["location"].startswith("/login?next=/"), r.headers["location"]
    # htmx asks for a redirect header instead of a redirect.
    r = anon.get("/journal", headers={"HX-Request": "true"})
    assert r.status_code == 401 and r.headers["hx-redirect"] == "/login?next=/journal"
    assert (count(world.engine, Entry), count(world.engine, AppUser), count(world.engine, Fund)) == before


def test_public_routes_need_no_sign_in(world):
    anon = world.client()
    for (method, path), status in VERIFY_OTHER_METHODS.items():
        r = anon.request(method, path)
        assert r.status_code == status and r.headers["allow"] == "GET, POST"
        # The same for a signed-in role: nothing there to use.
        assert world.api(AD).request(method, path).status_code == status
    r = anon.get("/login")
    assert r.status_code == 200
    # The sign-in form posts without a session (its CSRF guard is the double-submit cookie).
    r = anon.post("/login", data={"username": "approver", "password": PASSWORD, "next": "/journal",
                                  "csrf_token": anon.cookies.get("huimin_prelogin")}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/journal"
    r = world.client().get("/lang/en?next=/journal", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/journal"
    assert world.client().get("/lang/en?next=//evil.example", follow_redirects=False).headers["location"] == "/"
    assert anon.get("/favicon.ico").status_code == 200
    assert anon.get("/openapi.json").status_code == 200
    assert anon.get("/api/docs").status_code == 200


def test_public_notices_for_anyone(world):
    """The 公示 pages and their JSON need no sign-in; a signed-in user of any role (or a bearer token) gets
    the same. A batch that is not public (a draft, an advance, an unknown number) is 404 for everyone."""
    ctx = make_ctx(world)
    clients = [("anonymous", world.client())] + [(r, world.signed_in(r)) for r in ROLES] + \
        [(f"{r} (token)", world.api(r)) for r in ROLES]
    wrong = []
    for who, client in clients:
        for row in PUBLIC_ROWS:
            r = client.request(row.method, follow_redirects=False, **row.request(ctx, FO))
            if r.status_code != row.ok:
                wrong.append(f"{row.method} {row.path} as {who}: {r.status_code}")
        for url in (f"/public/notices/{ctx.pay.draft}", f"{API}/public/notices/{ctx.pay.draft}",
                    "/public/notices/NO-SUCH", f"{API}/public/notices/NO-SUCH"):
            if client.get(url, follow_redirects=False).status_code != 404:
                wrong.append(f"GET {url} as {who}: not 404")
    assert not wrong, "public notices differ:\n" + "\n".join(wrong)


def test_segregation_only_finance_posts_money(world):
    """Approver, loan officer, inspector and admin cannot post money through the API: 403 and
    no entry, fund or balance changes; the finance officer can."""
    ctx = make_ctx(world)
    money_rows = [r for r in API_ROWS if r.permission in ("fund.register", "fund.receive", "fund.allocate",
                                                          "journal.reverse")]
    assert len(money_rows) == 4
    entries, funds = count(world.engine, Entry), count(world.engine, Fund)
    tb_before = services.trial_balance(world.engine, SYSTEM)
    for role in (AP, LO, IN, AD):
        for row in money_rows:
            r = world.api(role).request(row.method, **row.request(ctx, role),
                                        headers={"Idempotency-Key": f"seg-{role}-{len(row.path)}"})
            assert r.status_code == 403, f"{row.path} as {role}: {r.status_code}"
    assert (count(world.engine, Entry), count(world.engine, Fund)) == (entries, funds)
    assert services.trial_balance(world.engine, SYSTEM) == tb_before
    for row in money_rows:
        assert world.api(FO).request(row.method, **row.request(ctx, FO)).status_code == 201
    # The allocation is a request waiting for an approver: nothing is posted until it is approved.
    assert count(world.engine, Entry) == entries + 2 and count(world.engine, Fund) == funds + 1


# ---------------------------------------------------------------------------------------------
# The service layer refuses by itself, whatever the caller


def _service_calls(tmp: Path, ctx: Ctx) -> dict[str, tuple[Callable[[object, Actor], object], frozenset]]:
    """name -> (call with (engine, actor), roles allowed). Inputs are valid, so an allowed call succeeds."""
    d = dt.date(2026, 3, 5)
    n = iter(range(10_000))
    jf, af = queries.JournalFilter(), queries.AuditFilter()
    return {
        "register_fund": (lambda e, a: services.register_fund(e, a, f"SVC-{next(n)}", "服务层测试", "county"), FINANCE),
        "receive_fund": (lambda e, a: services.receive_fund(e, a, f"svc-r-{next(n)}", "CENTRAL", 100, d), FINANCE),
        # Straight into the journal with no second approver: the system user only (officers prepare requests).
        "allocate": (lambda e, a: services.allocate(e, a, f"svc-a-{next(n)}", "ROSE-2026", "CENTRAL", 100, d),
                     frozenset()),
        "reallocate": (lambda e, a: services.reallocate(e, a, f"svc-m-{next(n)}", "ROSE-2026", "TEA-2026",
                                                        "CENTRAL", 100, d), frozenset()),
        "prepare_allocation": (lambda e, a: projects.prepare_allocation(e, a, f"svc-p-{next(n)}", MATRIX_PROJECT,
                                                                        "CENTRAL", 100, d), FINANCE),
        "list_projects": (lambda e, a: projects.list_projects(e, a), PROJECT_READERS),
        "list_requests": (lambda e, a: projects.list_requests(e, a), PROJECT_READERS),
        "redesignate": (lambda e, a: services.redesignate(e, a, f"svc-d-{next(n)}", POOL, "CENTRAL", "TJ-AID", 100,
                                                          d), frozenset()),
        "reverse_entry": (lambda e, a: services.reverse_entry(e, a, ctx.reverse_seq.get(a.role, 1),
                                                              f"svc-x-{next(n)}", d), FINANCE),
        "import_journal": (lambda e, a: services.import_journal(e, a, tmp / "none.jsonl"), frozenset()),
        "close_period": (lambda e, a: services.close_period(e, a, f"2001-{len(a.role):02d}"), ADMINS),
        "trial_balance": (lambda e, a: services.trial_balance(e, a), LEDGER_READERS),
        "verify_journal": (lambda e, a: services.verify_journal(e, a), VERIFIERS),
        "export_beancount": (lambda e, a: services.export_beancount(e, a, tmp / f"{a.role}.beancount"),
                             LEDGER_READERS),
        "chain_digest": (lambda e, a: services.chain_digest(e, a), LEDGER_READERS),
        "entry_hash_at": (lambda e, a: services.entry_hash_at(e, a, 1), LEDGER_READERS),
        "journal_page": (lambda e, a: services.journal_page(e, a, jf), LEDGER_READERS),
        "entry_detail": (lambda e, a: services.entry_detail(e, a, 1), LEDGER_READERS),
        "account_statement": (lambda e, a: services.account_statement(e, a, POOL), LEDGER_READERS),
        "journal_choices": (lambda e, a: services.journal_choices(e, a), LEDGER_READERS),
        "chain_status": (lambda e, a: services.chain_status(e, a), CHAIN_VIEWERS),
        "audit_page": (lambda e, a: services.audit_page(e, a, af), AUDITORS),
        "export_list journal": (lambda e, a: services.export_list(e, a, "journal", "csv", {"filter": jf}),
                                LEDGER_READERS),
        "export_list trial_balance": (lambda e, a: services.export_list(e, a, "trial_balance", "csv", {}),
                                      LEDGER_READERS),
        "export_list statement": (lambda e, a: services.export_list(e, a, "statement", "xlsx", {"code": POOL}),
                                  LEDGER_READERS),
        "export_list audit": (lambda e, a: services.export_list(e, a, "audit", "csv", {"filter": af}), AUDITORS),
        "create_user": (lambda e, a: users.create_user(e, a, f"svc-user-{next(n)}", "approver", PASSWORD), ADMINS),
        "set_user_active": (lambda e, a: users.set_user_active(e, a, ctx.victim_id, True), ADMINS),
        "list_users": (lambda e, a: users.list_users(e, a), ADMINS),
        "list_batches": (lambda e, a: payments.list_batches(e, a), PAYMENT_READERS),
        "batch_detail": (lambda e, a: payments.batch_detail(e, a, ctx.pay.posted), PAYMENT_READERS),
        "household_statement": (lambda e, a: payments.household_statement(e, a, hh_no(1)), PAYMENT_READERS),
        "export_batches": (lambda e, a: payment_exports.export_batches(e, a, payments.BatchFilter(), "csv"),
                           PAYMENT_READERS),
        "list_posts": (lambda e, a: welfare.list_posts(e, a), WELFARE_READERS),
        "wage_roll": (lambda e, a: welfare.wage_roll(e, a, "MATRIX-WELF", "2026-03", f"SVC-WAGE-{next(n)}",
                                                     dt.date(2026, 4, 1)), FINANCE),
        "advance_aging": (lambda e, a: inkind.advance_aging(e, a), PAYMENT_READERS),
    }


def test_services_refuse_the_wrong_role_whatever_the_caller(world, tmp_path):
    ctx = make_ctx(world)
    services.allocate(world.engine, SYSTEM, "svc-tea", "TEA-2026", "CENTRAL", 1_000_00, dt.date(2026, 2, 3))
    calls = _service_calls(tmp_path, ctx)
    wrong = []
    for role in ROLES:
        actor = Actor(world.user_ids[role], _slug(role), role)
        for name, (call, allowed_roles) in calls.items():
            entries = count(world.engine, Entry)
            try:
                call(world.engine, actor)
                outcome = "allowed"
            except PermissionDenied:
                outcome = "denied"
                if count(world.engine, Entry) != entries:
                    wrong.append(f"{name} as {role}: refused, but an entry was written")
            want = "allowed" if role in allowed_roles else "denied"
            if outcome != want:
                wrong.append(f"{name} as {role}: {outcome} (want {want})")
    assert not wrong, "service-layer permissions differ:\n" + "\n".join(wrong)
    # A role the table does not know (a row edited behind the application's back) may do nothing.
    stranger = Actor(world.user_ids[FO], "finance-officer", "treasurer")
    for call, _roles in calls.values():
        with pytest.raises(PermissionDenied):
            call(world.engine, stranger)


def test_a_township_scope_never_widens_a_role(world):
    """A user scoped to one township (乡镇) has its role's permissions and no more. (The ledger has
    no township-owned data yet - households, projects and payments come later - so there is
    nothing to narrow; this pins that the scope is carried and grants nothing.)"""
    r = world.api(AD).post(f"{API}/users", json={"username": "scoped-finance", "role": FO, "password": PASSWORD,
                                                 "township": "阿羌乡"})
    assert r.status_code == 201 and r.json()["township"] == "阿羌乡"
    token = users.issue_api_token(world.engine, Actor(r.json()["id"], "scoped-finance", FO, "阿羌乡"), "t")
    scoped = world.client()
    scoped.headers["Authorization"] = f"Bearer {token}"
    assert scoped.get(f"{API}/me").json() == {"id": r.json()["id"], "username": "scoped-finance", "role": FO,
                                              "township": "阿羌乡"}
    assert scoped.get(f"{API}/audit").status_code == 403
    assert scoped.post(f"{API}/users", json={"username": "nope", "role": AD, "password": PASSWORD}).status_code == 403
    assert scoped.post(f"{API}/verify").status_code == 403
    assert scoped.get(f"{API}/journal").status_code == 200
