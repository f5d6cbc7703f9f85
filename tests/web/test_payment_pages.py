"""Payment batch pages and API (web.payment_pages, api.routes): the officer's upload of a roll with its
control totals, the error list, the 公示 (published, then public without sign-in, masked, printable),
approval by another user, the household statement with its fund sources, the bank's return and a
re-issue, rejection, masking per role, CSRF, and the JSON API. Both lanes (SQLite and PostgreSQL)
through `world`; everything is seeded through the real services (tests.web.payment_seed).
"""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from openpyxl import load_workbook
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import func, select

from ledger import payments, users
from ledger.ids import mask_account, mask_id
from ledger.models import AuditLog, PaymentBatch, PaymentRow
from tests.web.payment_seed import (
    PROJECT,
    TOWNSHIP,
    actor,
    card,
    head_name,
    hh_no,
    rid,
    seed_batches,
    seed_county,
)

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
API = "/api/v1"
TODAY = dt.date.today()
BACK = TODAY - dt.timedelta(days=10)


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    monkeypatch.setattr(users, "_hasher", PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024,
                                                                     parallelism=1),)))


def csrf_of(client) -> str:
    m = CSRF_RE.search(client.get("/").text)
    assert m
    return m.group(1)


def count(engine, table, *where) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(table.__table__).where(*where)).scalar_one())


def audit_actions(engine) -> list[str]:
    with engine.connect() as c:
        return [a for (a,) in c.execute(select(AuditLog.__table__.c.action).order_by(AuditLog.__table__.c.id))]


HEADER = ("ref,batch_no,project_code,household_no,payee_id_number,payee_name,bank_account,amount,paid_on,purpose,"
          "period\n")


def roll_csv(*lines: tuple[int, str, str], batch: str = "WEB-2026-03", account: dict | None = None) -> str:
    """(household n, amount, period) per line; `account` overrides a line's card by n."""
    out = HEADER
    for n, amount, period in lines:
        acct = (account or {}).get(n, card(n))
        out += f"{batch}-{n},{batch},{PROJECT},{hh_no(n)},{rid(n)},{head_name(n)},{acct},{amount},2026-03-10,subsidy," \
               f"{period}\n"
    return out


def upload(client, kind: str, text: str, csrf: str | None, name: str = "roll.csv", **fields):
    data = {"kind": kind, **fields}
    if csrf is not None:
        data["csrf_token"] = csrf
    return client.post("/registry/import", data=data, files={"file": (name, text.encode("utf-8"), "text/csv")})


def batch_status(engine, batch_no: str) -> str:
    with engine.connect() as c:
        return c.execute(select(PaymentBatch.__table__.c.status)
                         .where(PaymentBatch.__table__.c.batch_no == batch_no)).scalar_one()


# ---------------------------------------------------------------------------------------------
# The whole flow on the web


def test_roll_upload_disclosure_approval_statement_and_public_notice(world):
    seed_county(world)
    e = world.engine
    fo = world.signed_in("finance_officer")
    token = csrf_of(fo)
    form = fo.get("/registry/import?kind=payments").text
    assert 'id="import-declared-count"' in form and 'value="payments" selected' in form
    assert 'value="bank_returns"' in form

    # One bad row: its account is not the household's 一卡通. Every problem is listed; nothing is written.
    bad = roll_csv((1, "1500.00", "2026-03"), (2, "1000.00", "2026-03"), account={2: card(9)})
    r = upload(fo, "payments", bad, token, declared_count="2", declared_total="2500.00")
    assert r.status_code == 422, r.text
    table = r.text[r.text.index('id="import-errors"'):]
    assert re.search(rf'<td class="num">3</td><td>bank_account</td><td>{card(9)}</td><td>[^<]*一卡通', table), table
    assert count(e, PaymentBatch) == 0 and count(e, PaymentRow) == 0
    link = re.search(r'href="(/registry/import/errors/[A-Za-z0-9_-]+)"', r.text).group(1)
    sheet = load_workbook(io.BytesIO(fo.get(link).content)).worksheets[0]
    assert "一卡通" in str(sheet.cell(row=3, column=1).value)

    good = roll_csv((1, "1500.00", "2026-03"), (2, "1000.00", "2026-03"))
    # The control totals are required for a roll, and must match its rows.
    r = upload(fo, "payments", good, token)
    assert r.status_code == 422 and "笔数" in r.text and count(e, PaymentBatch) == 0
    r = upload(fo, "payments", good, token, declared_count="2", declared_total="2,500")
    assert r.status_code == 422 and count(e, PaymentBatch) == 0
    r = upload(fo, "payments", good, token, declared_count="3", declared_total="2500.01")
    assert r.status_code == 422
    table = r.text[r.text.index('id="import-errors"'):]
    assert "<td>count</td><td>3</td>" in table and "<td>total</td><td>2500.01</td>" in table
    # A dry run checks everything and writes nothing; then the roll lands.
    r = upload(fo, "payments", good, token, declared_count="2", declared_total="2500.00", dry_run="true")
    assert r.status_code == 200 and 'id="import-ok"' in r.text, r.text
    assert count(e, PaymentBatch) == 0
    r = upload(fo, "payments", good, token, declared_count="2", declared_total="2500.00")
    assert r.status_code == 200 and 'id="import-summary"' in r.text and 'id="import-payments-link"' in r.text
    assert count(e, PaymentBatch) == 1 and count(e, PaymentRow) == 2
    assert batch_status(e, "WEB-2026-03") == "draft"

    # The list, and the batch's page for its preparer: publish, but no approval.
    r = fo.get("/payments")
    assert r.status_code == 200 and 'href="/payments/WEB-2026-03"' in r.text
    page = fo.get("/payments/WEB-2026-03").text
    assert 'id="disclose-button"' in page and 'id="approve-button"' not in page and 'id="reject-button"' not in page
    assert f'value="{payments.disclosure_days_minimum()}"' in page
    assert "¥2,500.00 / ¥2,500.00" in page

    # The notice is not public before it is published.
    anon = world.client()
    assert anon.get("/public/notices/WEB-2026-03").status_code == 404
    assert anon.get(f"{API}/public/notices/WEB-2026-03").status_code == 404

    # A notice backdated beyond 30 days (or into the future) is refused, with the reason on the page.
    r = fo.post("/payments/WEB-2026-03/disclosure", data={"csrf_token": token, "days": "10",
                                                          "start_on": (TODAY - dt.timedelta(days=31)).isoformat()})
    assert r.status_code == 422 and 'id="batch-problems"' in r.text and "30" in r.text
    r = fo.post("/payments/WEB-2026-03/disclosure", data={"csrf_token": token, "days": "10",
                                                          "start_on": (TODAY + dt.timedelta(days=1)).isoformat()})
    assert r.status_code == 422
    r = fo.post("/payments/WEB-2026-03/disclosure", data={"csrf_token": token, "days": "3"})
    assert r.status_code == 422 and "公示期至少 10 天" in r.text  # the service's own refusal, shown in Chinese
    assert batch_status(e, "WEB-2026-03") == "draft"
    r = fo.post("/payments/WEB-2026-03/disclosure", data={"csrf_token": token, "days": "10",
                                                          "start_on": BACK.isoformat()}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/payments/WEB-2026-03"
    assert batch_status(e, "WEB-2026-03") == "disclosed"
    page = fo.get("/payments/WEB-2026-03").text
    assert 'id="disclose-button"' not in page and 'id="batch-notice-link"' in page

    # The public notice: no sign-in, masked numbers only, printable.
    # Backdated ten days with ten days' notice, its period ended today: no longer listed on the board, but
    # among the notices ended recently (a paper notice recorded late is still published), and its own page.
    r = anon.get("/public/notices")
    board, _, ended = r.text.partition('id="ended-table"')
    assert r.status_code == 200 and 'href="/public/notices/WEB-2026-03"' not in board
    assert 'href="/public/notices/WEB-2026-03"' in ended and "待审核" in ended
    r = anon.get("/public/notices/WEB-2026-03")
    assert r.status_code == 200
    for n in (1, 2):
        assert rid(n) not in r.text and card(n) not in r.text
        assert mask_id(rid(n)) in r.text and mask_account(card(n)) in r.text
        assert head_name(n) in r.text
    assert "¥2,500.00" in r.text and TOWNSHIP in r.text
    assert 'id="print-button"' in r.text and 'src="/static/notice.js"' in r.text and "/static/notice.css" in r.text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", r.text), "no inline script under our CSP"
    assert "@media print" in anon.get("/static/notice.css").text
    assert "window.print" in anon.get("/static/notice.js").text
    j = anon.get(f"{API}/public/notices/WEB-2026-03").json()
    assert j["row_count"] == 2 and j["total"] == "2500.00"
    assert j["last_day"] == (BACK + dt.timedelta(days=9)).isoformat()
    assert {row["id_number"] for row in j["rows"]} == {mask_id(rid(1)), mask_id(rid(2))}
    assert rid(1) not in str(j) and card(1) not in str(j)

    # The preparer may not approve: no button, and posting anyway is refused (403), nothing posted.
    r = fo.post("/payments/WEB-2026-03/approve", data={"csrf_token": token})
    assert r.status_code == 403
    assert batch_status(e, "WEB-2026-03") == "disclosed"

    # The approver: the buttons; without the CSRF token nothing happens.
    ap = world.signed_in("approver")
    page = ap.get("/payments/WEB-2026-03").text
    assert 'id="approve-button"' in page and 'id="reject-button"' in page and 'id="disclose-button"' not in page
    assert ap.post("/payments/WEB-2026-03/approve", data={}).status_code == 403
    assert ap.post("/payments/WEB-2026-03/approve", data={"csrf_token": "wrong"}).status_code == 403
    assert batch_status(e, "WEB-2026-03") == "disclosed"
    r = ap.post("/payments/WEB-2026-03/approve", data={"csrf_token": csrf_of(ap)}, follow_redirects=False)
    assert r.status_code == 303
    assert batch_status(e, "WEB-2026-03") == "posted"
    page = ap.get("/payments/WEB-2026-03").text
    assert 'id="approve-button"' not in page and 'id="batch-decider"' in page and "approver" in page
    assert {"payment.prepare", "payment.disclose", "payment.approve"} <= set(audit_actions(e))

    # The household statement: the ¥1,500.00 came ¥1,000.00 from CENTRAL (first in) and ¥500.00 from TJ-AID.
    page = fo.get(f"/registry/households/{hh_no(1)}").text
    assert 'id="statement-title"' in page
    assert "中央财政衔接资金 ¥1,000.00 + 天津市东西部协作资金 ¥500.00" in page
    assert re.search(r'id="statement-total">¥1,500.00<', page)
    st = payments.household_statement(e, actor(world, "finance_officer"), hh_no(1))
    assert [sum(f[2] for f in line.funds) for line in st.lines] == [line.amount_fen for line in st.lines] == [1_500_00]
    assert 'id="statement-title"' in world.signed_in("inspector").get(f"/registry/households/{hh_no(1)}").text
    lo_page = world.signed_in("loan_officer").get(f"/registry/households/{hh_no(1)}")
    assert lo_page.status_code == 200 and 'id="statement-title"' not in lo_page.text  # no payment.read

    # Its export: one row per payment, a column per fund; audited.
    r = fo.get(f"/registry/households/{hh_no(1)}/statement/export?format=xlsx")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    rows = list(load_workbook(io.BytesIO(r.content)).worksheets[0].iter_rows(values_only=True))
    assert rows[0][:2] == ("paid_on 发放日期", "batch_no 批次号") and rows[0][-2:] == ("CENTRAL 中央财政衔接资金",
                                                                                    "TJ-AID 天津市东西部协作资金")
    assert rows[1][1] == "WEB-2026-03" and float(rows[1][9]) == 1500 and rows[1][-2:] == (1000, 500)
    assert "export.household_statement" in audit_actions(e)
    assert world.signed_in("loan_officer").get(f"/registry/households/{hh_no(1)}/statement/export").status_code \
        == 403
    assert fo.get("/registry/households/NOPE-1/statement/export").status_code == 404

    # An approved batch's notice stays readable; the board no longer shows it, the recently ended list does.
    assert anon.get("/public/notices/WEB-2026-03").status_code == 200
    board, _, ended = anon.get("/public/notices").text.partition('id="ended-table"')
    assert 'href="/public/notices/WEB-2026-03"' not in board
    assert 'href="/public/notices/WEB-2026-03"' in ended and "已批复" in ended


def test_bank_return_upload_and_reissue_of_failed_rows(world):
    s = seed_batches(world)
    e = world.engine
    payments.approve_batch(e, actor(world, "approver"), s.disclosed)
    fo = world.signed_in("finance_officer")
    token = csrf_of(fo)
    returns = f"ref,result,returned_on,note\n{s.disclosed}-3,failed,{dt.date.today()},卡号错误\n"
    r = upload(fo, "bank_returns", returns, token, dry_run="true")
    assert r.status_code == 200 and 'id="import-ok"' in r.text
    assert count(e, PaymentRow, PaymentRow.__table__.c.status == "failed") == 1  # only the seeded one
    bad = "ref,result,returned_on\nNO-SUCH,failed,2026-03-13\n"
    r = upload(fo, "bank_returns", bad, token)
    assert r.status_code == 422 and "<td>ref</td><td>NO-SUCH</td>" in r.text
    r = upload(fo, "bank_returns", returns, token)
    assert r.status_code == 200, r.text
    assert count(e, PaymentRow, PaymentRow.__table__.c.status == "failed") == 2

    page = fo.get(f"/payments/{s.disclosed}").text
    assert 'id="reissue-button"' in page and f'value="{s.disclosed}-3" form="reissue-form"' in page
    # Nothing ticked: refused on the page.
    r = fo.post(f"/payments/{s.disclosed}/reissue", data={"csrf_token": token, "new_batch_no": "RE-1",
                                                          "paid_on": "2026-03-20"})
    assert r.status_code == 422 and 'id="batch-problems"' in r.text
    r = fo.post(f"/payments/{s.disclosed}/reissue", data={"csrf_token": token, "new_batch_no": "RE-1",
                                                          "paid_on": "2026-03-20", "refs": [f"{s.disclosed}-3"]},
                follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/payments/RE-1"
    page = fo.get("/payments/RE-1").text
    assert 'id="batch-reissue"' in page and f"{s.disclosed}-3-R" in page and 'id="disclose-button"' not in page
    # Once only.
    r = fo.post(f"/payments/{s.disclosed}/reissue", data={"csrf_token": token, "new_batch_no": "RE-2",
                                                          "paid_on": "2026-03-20", "refs": [f"{s.disclosed}-3"]})
    assert r.status_code == 422 and "这笔退票已经补发过" in r.text  # already been re-issued
    # A re-issue goes straight to approval (its payee was disclosed already).
    ap = world.signed_in("approver")
    assert 'id="approve-button"' in ap.get("/payments/RE-1").text
    r = ap.post("/payments/RE-1/approve", data={"csrf_token": csrf_of(ap)}, follow_redirects=False)
    assert r.status_code == 303 and batch_status(e, "RE-1") == "posted"
    statuses = [line.status for line in payments.household_statement(e, actor(world, "inspector"), hh_no(3)).lines]
    assert statuses == ["failed", "posted"]


def test_reject_needs_a_reason_and_shows_it(world):
    s = seed_batches(world)
    ap = world.signed_in("approver")
    token = csrf_of(ap)
    r = ap.post(f"/payments/{s.draft2}/reject", data={"csrf_token": token, "reason": "  "})
    assert r.status_code == 422 and 'id="batch-problems"' in r.text and "请填写原因" in r.text  # give a reason
    assert batch_status(world.engine, s.draft2) == "draft"
    r = ap.post(f"/payments/{s.draft2}/reject", data={"csrf_token": token, "reason": "名单未经村委会评议"},
                follow_redirects=False)
    assert r.status_code == 303
    page = ap.get(f"/payments/{s.draft2}").text
    assert 'id="batch-reason">名单未经村委会评议<' in page and 'id="reject-button"' not in page
    # The draft that is not yet disclosed: an approver may reject it but sees no approval yet.
    page = ap.get(f"/payments/{s.draft}").text
    assert 'id="approve-waiting"' in page and 'id="approve-button"' not in page
    assert ap.post(f"/payments/{s.draft}/approve", data={"csrf_token": token}).status_code == 422
    assert ap.post("/payments/NO-SUCH/approve", data={"csrf_token": token}).status_code == 404


@pytest.mark.parametrize("role,full", [("finance_officer", True), ("inspector", True), ("approver", False)])
def test_id_and_account_numbers_on_a_batch_are_masked_per_role(world, role, full):
    s = seed_batches(world)
    page = world.signed_in(role).get(f"/payments/{s.posted}").text
    assert (rid(1) in page) is full and (card(1) in page) is full
    assert (mask_id(rid(1)) in page) is not full and (mask_account(card(1)) in page) is not full
    j = world.api(role).get(f"{API}/payment-batches/{s.posted}").json()
    assert (j["rows"][0]["payee_id_number"] == rid(1)) is full
    assert (j["rows"][0]["bank_account"] == card(1)) is full


def test_list_filters_htmx_and_export(world):
    s = seed_batches(world)
    ap = world.signed_in("approver")
    r = ap.get("/payments", params={"status": "draft"})
    assert r.status_code == 200
    assert f'>{s.draft}<' in r.text and f'>{s.draft2}<' in r.text and f'>{s.posted}<' not in r.text
    r = ap.get("/payments", params={"status": "posted"}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text and f'>{s.posted}<' in r.text
    assert r.headers["HX-Push-Url"] == "/payments?status=posted"
    assert ap.get("/payments", params={"status": "nonsense"}).status_code == 422
    assert ap.get("/payments", params={"purpose": "wage"}).text.count('class="batch-link"') == 0
    r = ap.get("/payments/export", params={"format": "xlsx", "status": "draft"})
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    rows = list(load_workbook(io.BytesIO(r.content)).worksheets[0].iter_rows(values_only=True))
    assert rows[0][0] == "batch_no 批次号" and {x[0] for x in rows[1:]} == {s.draft, s.draft2}
    assert "export.payment_batches" in audit_actions(world.engine)
    assert ap.get("/payments/export", params={"format": "pdf"}).status_code == 422
    assert world.signed_in("loan_officer").get("/payments").status_code == 403
    assert 'id="nav-payments"' in ap.get("/").text
    assert 'id="nav-payments"' not in world.signed_in("admin").get("/").text


def test_four_eyes_hides_the_decision_from_the_preparer():
    from web.payment_pages import _actions

    base = dict(batch_no="B", project_code="P", project_name="p", township=None, purpose="subsidy",
                status="disclosed", declared_count=1, declared_total_fen=1, row_count=1, total_fen=1, paid_count=0,
                failed_count=0, is_history=False, is_reissue=False, prepared_by="ap",
                prepared_at=dt.datetime(2026, 1, 1), disclosure_days=10, disclosed_on=BACK, disclosure_until=TODAY,
                decided_by=None, decided_at=None, reason=None, memo="")
    mine = payments.BatchView(**base)
    theirs = payments.BatchView(**{**base, "prepared_by": "fo"})
    from ledger.permissions import Actor

    ap = Actor(3, "ap", "approver")
    assert _actions(ap, mine, TODAY) == {"may_disclose": False, "may_approve": False, "approve_waiting": False,
                                         "may_reject": False, "may_reissue": False}
    assert _actions(ap, theirs, TODAY)["may_approve"] and _actions(ap, theirs, TODAY)["may_reject"]
    assert not _actions(ap, theirs, TODAY - dt.timedelta(days=1))["may_approve"]  # the notice still hangs


# ---------------------------------------------------------------------------------------------
# The JSON API


def _roll(batch: str, *lines: tuple[int, str], period: str = "2026-05") -> dict:
    rows = [{"ref": f"{batch}-{n}", "batch_no": batch, "project_code": PROJECT, "household_no": hh_no(n),
             "payee_id_number": rid(n), "payee_name": head_name(n), "bank_account": card(n), "amount": amount,
             "paid_on": "2026-05-10", "purpose": "subsidy", "period": period} for n, amount in lines]
    total = sum(int(a.replace(".", "")) for _, a in lines)
    return {"declared_count": len(rows), "declared_total": f"{total // 100}.{total % 100:02d}", "rows": rows}


def test_api_roll_disclosure_approval_statement(world):
    seed_county(world)
    fo, ap = world.api("finance_officer"), world.api("approver")
    body = _roll("API-1", (1, "1500.00"), (2, "250.50"))
    assert ap.post(f"{API}/payment-batches", json=body).status_code == 403
    bad = {**body, "declared_total": "1750.49"}
    r = fo.post(f"{API}/payment-batches", json=bad)
    assert r.status_code == 422 and r.json()["ok"] is False
    assert [(x["column"], x["value"]) for x in r.json()["errors"]] == [("total", "1750.49")]
    wrong = {**body, "rows": [body["rows"][0], {**body["rows"][1], "bank_account": card(9)}]}
    r = fo.post(f"{API}/payment-batches", json=wrong)
    assert r.status_code == 422 and [(x["row"], x["column"]) for x in r.json()["errors"]] == [(2, "bank_account")]
    assert fo.post(f"{API}/payment-batches", json={**body, "declared_total": 1750.5}).status_code == 422  # a number
    assert count(world.engine, PaymentBatch) == 0
    r = fo.post(f"{API}/payment-batches", json=body, headers={"Idempotency-Key": "roll-1"})
    assert r.status_code == 201, r.text
    assert r.json() == {"batches": ["API-1"], "batches_created": 1, "rows_created": 2, "rows_already_recorded": 0,
                        "total": "1750.50"}
    replay = fo.post(f"{API}/payment-batches", json=body, headers={"Idempotency-Key": "roll-1"})
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    again = fo.post(f"{API}/payment-batches", json=body)
    assert again.status_code == 200 and again.json()["rows_already_recorded"] == 2
    assert fo.post(f"{API}/payment-batches", json={**body, "memo": "x"},
                   headers={"Idempotency-Key": "roll-1"}).status_code == 409

    r = fo.get(f"{API}/payment-batches", params={"status": "draft"})
    assert r.status_code == 200 and [b["batch_no"] for b in r.json()["items"]] == ["API-1"]
    assert r.json()["items"][0]["total"] == "1750.50" and r.json()["items"][0]["prepared_by"] == "finance-officer"
    assert fo.get(f"{API}/payment-batches", params={"status": "nope"}).status_code == 422
    assert world.api("loan_officer").get(f"{API}/payment-batches").status_code == 403

    old = (TODAY - dt.timedelta(days=31)).isoformat()
    r = fo.post(f"{API}/payment-batches/API-1/disclosure", json={"start_on": old})
    assert r.status_code == 422 and r.json()["errors"][0]["column"] == "start_on"
    assert ap.post(f"{API}/payment-batches/API-1/disclosure", json={"start_on": old}).status_code == 403
    assert fo.post(f"{API}/payment-batches/NO-SUCH/disclosure", json={}).status_code == 404
    r = fo.post(f"{API}/payment-batches/API-1/disclosure", json={"start_on": BACK.isoformat(), "days": 10})
    assert r.status_code == 200 and r.json()["status"] == "disclosed" and r.json()["disclosure_until"] == \
        TODAY.isoformat()

    assert fo.post(f"{API}/payment-batches/API-1/approve").status_code == 403  # its preparer's role
    assert ap.post(f"{API}/payment-batches/NO-SUCH/approve").status_code == 404
    r = ap.post(f"{API}/payment-batches/API-1/approve")
    assert r.status_code == 200 and r.json()["status"] == "posted" and r.json()["decided_by"] == "approver"
    r = ap.post(f"{API}/payment-batches/API-1/reject", json={"reason": "太晚了"})
    assert r.status_code == 422 and "already decided" in r.json()["errors"][0]["message"]

    d = ap.get(f"{API}/payment-batches/API-1").json()
    assert [x["status"] for x in d["rows"]] == ["posted", "posted"] and d["rows"][1]["amount"] == "250.50"
    assert ap.get(f"{API}/payment-batches/NO-SUCH").status_code == 404

    st = world.api("inspector").get(f"{API}/households/{hh_no(1)}/statement").json()
    [line] = st["lines"]
    assert line["amount"] == "1500.00" and [(f["fund"], f["amount"]) for f in line["funds"]] == [
        ("CENTRAL", "1000.00"), ("TJ-AID", "500.00")]
    assert st["total"] == "1500.00" and [f["amount"] for f in st["by_fund"]] == ["1000.00", "500.00"]
    assert world.api("loan_officer").get(f"{API}/households/{hh_no(1)}/statement").status_code == 403
    assert fo.get(f"{API}/households/NOPE-9/statement").status_code == 404


def test_api_reject_and_advance(world):
    s = seed_batches(world)
    fo, ap = world.api("finance_officer"), world.api("approver")
    assert fo.post(f"{API}/payment-batches/{s.draft2}/reject", json={"reason": "x"}).status_code == 403
    assert ap.post(f"{API}/payment-batches/{s.draft2}/reject", json={"reason": ""}).status_code == 422
    r = ap.post(f"{API}/payment-batches/{s.draft2}/reject", json={"reason": "重复申报"})
    assert r.status_code == 200 and r.json()["status"] == "rejected" and r.json()["reason"] == "重复申报"

    adv = {"batch_no": "ADV-1", "ref": "ADV-1", "project_code": PROJECT, "amount": "300.00", "date": "2026-03-01"}
    assert ap.post(f"{API}/advances", json=adv).status_code == 403
    r = fo.post(f"{API}/advances", json=adv)
    assert r.status_code == 201 and r.json()["purpose"] == "advance" and r.json()["status"] == "draft"
    assert fo.post(f"{API}/advances", json=adv).json()["batch_no"] == "ADV-1"  # the same again: the same batch
    assert fo.post(f"{API}/advances", json={**adv, "amount": "301.00"}).status_code == 422
    r = ap.post(f"{API}/payment-batches/ADV-1/approve")  # no disclosure for an advance
    assert r.status_code == 200 and r.json()["status"] == "posted"
    # The public never sees an advance, a draft or an unknown batch.
    anon = world.client()
    for batch in ("ADV-1", s.draft, "NO-SUCH"):
        assert anon.get(f"{API}/public/notices/{batch}").status_code == 404
        assert anon.get(f"/public/notices/{batch}").status_code == 404
    assert anon.get(f"{API}/public/notices/{s.disclosed}").status_code == 200


def test_a_batch_number_with_markup_shows_as_text_everywhere(world):
    seed_county(world)
    from tests.web.payment_seed import prepare, row

    evil = "<i>B</i>&"  # a code (no spaces), so a sheet may hold it
    prepare(world, [row(1, evil, 100_00, "2026-06")])
    payments.disclose_batch(world.engine, actor(world, "finance_officer"), evil, TODAY)  # listed: its period runs
    escaped = "&lt;i&gt;B&lt;/i&gt;&amp;"
    pages = [world.signed_in("approver").get("/payments").text,
             world.signed_in("approver").get("/payments/%3Ci%3EB%3C%2Fi%3E%26").text,
             world.client().get("/public/notices").text,
             world.client().get("/public/notices/%3Ci%3EB%3C%2Fi%3E%26").text]
    for text in pages:
        assert escaped in text and evil not in text
    assert 'href="/payments/%3Ci%3EB%3C%2Fi%3E%26"' in pages[0]
