"""Payment batches (ledger.payments; DESIGN.md §4, §5): the pure rules first (no database), then the
use cases on every database lane: control totals, per-row checks against the registry and the project,
the disclosure rule, maker-checker, the multi-fund split and the household statement, the bank's return
with reversal and a single re-issue, history imports, idempotent re-imports, the public notice, and the
database's own refusals when a script goes around the services.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from ledger import journal, payments, projects, registry, services
from ledger.db import read_only
from ledger.history import HistoryMark
from ledger.journal import LedgerRefusal
from ledger.models import AuditLog, HistoryRecord, PaymentBatch, PaymentRow
from ledger.payments import (
    BankReturnIn,
    Facts,
    HouseholdFacts,
    PaymentIn,
    PostFacts,
    ProjectFacts,
    control_total_problems,
    disclosure_until,
    fund_order,
    post_for,
    row_problems,
    split_by_fund,
)
from ledger.permissions import SYSTEM, PermissionDenied
from ledger.projects import ProjectIn
from ledger.registry import TownshipIn
from tests.helpers import Users
from tests.test_registry import card, hh, pp, rid

BATCH, ROW, AUDIT, HISTORY = (PaymentBatch.__table__, PaymentRow.__table__, AuditLog.__table__,
                              HistoryRecord.__table__)
A, B = "阿羌乡", "木尕拉镇"
D0 = dt.date(2026, 1, 5)
PAY_ON = dt.date(2026, 4, 10)
TODAY = dt.date(2026, 4, 1)


# ---------------------------------------------------------------------------------------------
# Pure rules


def test_fund_order_is_first_arrival_then_code():
    assert fund_order({"TJ": dt.date(2026, 2, 2), "CENTRAL": dt.date(2026, 2, 1)}) == ["CENTRAL", "TJ"]
    assert fund_order({"B": dt.date(2026, 2, 1), "A": dt.date(2026, 2, 1)}) == ["A", "B"]
    assert fund_order({}) == []


def test_split_by_fund_takes_in_order_and_keeps_the_rest():
    parts, rest = split_by_fund(150, [("C", 100), ("T", 80)])
    assert parts == (("C", 100), ("T", 50)) and rest == (("C", 0), ("T", 30))
    parts, rest = split_by_fund(30, [("C", 100), ("T", 80)])
    assert parts == (("C", 30),) and rest == (("C", 70), ("T", 80))
    parts, _ = split_by_fund(80, [("C", 0), ("T", 80)])
    assert parts == (("T", 80),)
    assert split_by_fund(181, [("C", 100), ("T", 80)]) is None
    assert split_by_fund(1, []) is None
    parts, _ = split_by_fund(5, [("C", -10), ("T", 5)])  # a negative balance never pays
    assert parts == (("T", 5),)


def test_control_totals_name_count_and_sum():
    assert control_total_problems(3, 300, 3, 300) == []
    got = control_total_problems(4, 301, 3, 300)
    assert [(p.field, p.value) for p in got] == [("count", "4"), ("total", "3.01")]
    assert "declares 4 rows but holds 3" in got[0].message and "¥3.00" in got[1].message


def test_disclosure_until_is_the_first_approvable_day():
    assert disclosure_until(dt.date(2026, 3, 1), 10) == dt.date(2026, 3, 11)
    assert disclosure_until(dt.date(2026, 12, 25), 10) == dt.date(2027, 1, 4)


def test_post_for_month_overlap():
    posts = [PostFacts("forest", 1, 80_000, dt.date(2026, 1, 15), dt.date(2026, 3, 1)),
             PostFacts("road", 1, 60_000, dt.date(2026, 5, 1), None)]
    assert post_for(posts, "2026-01", PAY_ON).post_type == "forest"  # started mid-month
    assert post_for(posts, "2026-03", PAY_ON).post_type == "forest"  # ended on the first
    assert post_for(posts, "2026-04", PAY_ON) is None
    assert post_for(posts, "2026-12", PAY_ON).post_type == "road"
    assert post_for(posts, "2025-12", PAY_ON) is None


def _facts() -> Facts:
    f = Facts()
    f.projects["ROSE"] = ProjectFacts(1, "ROSE", "玫瑰", "implementing", "rose", A, "合作社", 300_000,
                                      "Assets:Project:ROSE")
    f.projects["POST"] = ProjectFacts(2, "POST", "公益岗", "implementing", "welfare_post", None, None, None,
                                      "Assets:Project:POST")
    f.households["0001"] = HouseholdFacts(10, "0001", "AQ", A, "poor", card(1))
    f.members[rid(1)] = (10, "张三")
    f.posts[10] = [PostFacts("forest", 2, 80_000, dt.date(2026, 1, 1), None)]
    return f


def _pay(**kw) -> PaymentIn:
    values = dict(ref="R1", batch_no="B1", project_code="ROSE", household_no="0001", payee_id_number=rid(1),
                  payee_name="张三", bank_account=card(1), amount_fen=200_000, paid_on=PAY_ON, purpose="subsidy",
                  period="2026-04", row=2)
    values.update(kw)
    return PaymentIn(**values)


@pytest.mark.parametrize(("change", "field", "message"), [
    ({}, None, None),
    ({"project_code": "NOPE"}, "project_code", "no such project"),
    ({"household_no": "9999"}, "household_no", "no such household"),
    ({"payee_id_number": rid(2)}, "payee_id_number", "not an active member"),
    ({"payee_name": "李四"}, "payee_name", "names this person 张三"),
    ({"bank_account": card(2)}, "bank_account", "not the household's 一卡通 account"),
    ({"bank_account": None}, "bank_account", "names the household's 一卡通 account"),
    ({"amount_fen": 300_001}, "amount", "above the project's standard of ¥3,000.00"),
    ({"purpose": "wage"}, "purpose", "public-welfare-post project"),
    ({"project_code": "POST", "purpose": "wage", "amount_fen": 80_001}, "amount", "monthly wage of ¥800.00"),
    ({"project_code": "POST", "purpose": "wage", "amount_fen": 80_000, "period": "2025-12"}, "household_no",
     "no public-welfare post in 2025-12"),
    ({"purpose": "in_kind", "bank_account": None, "quantity": 3, "unit_price_fen": 50_000}, "amount",
     "quantity 3 × unit price ¥500.00 is ¥1,500.00"),
])
def test_row_problems(change, field, message):
    got = row_problems(_pay(**change), _facts())
    if field is None:
        assert got == []
    else:
        assert [(p.field, p.row) for p in got] == [(field, 2)], got
        assert message in got[0].message


def test_row_problems_closed_household_other_township_and_second_payment():
    f = _facts()
    f.households["0001"] = HouseholdFacts(10, "0001", "MGL", B, "closed", card(1))
    f.paid[(10, 1, "subsidy", "2026-04")] = "EARLIER"
    got = {p.field: p.message for p in row_problems(_pay(), f)}
    assert "closed" in got["household_no"] or "already paid" in got["household_no"]
    messages = [p.message for p in row_problems(_pay(), f)]
    assert any("closed (注销)" in m for m in messages)
    assert any(f"in {B}, the project in {A}" in m for m in messages)
    assert any("already paid for this project and period (ref EARLIER)" in m for m in messages)
    # A scoped officer prepares only its own township's projects, and of a county-wide project only its
    # own township's households.
    assert any("another township" in p.message for p in row_problems(_pay(), _facts(), actor_township=B))
    wide = _facts()
    wide.projects["ROSE"] = ProjectFacts(1, "ROSE", "玫瑰", "implementing", "rose", None, "合作社", 300_000,
                                         "Assets:Project:ROSE")
    assert row_problems(_pay(), wide, actor_township=A) == []
    assert [(p.field, p.message) for p in row_problems(_pay(), wide, actor_township=B)] == [
        ("household_no", "the household belongs to another township")]


# ---------------------------------------------------------------------------------------------
# The use cases, on every lane

USERS = {"fo": ("finance_officer", None), "fo2": ("finance_officer", None), "ap": ("approver", None),
         "ap2": ("approver", None), "insp": ("inspector", None), "lo": ("loan_officer", None),
         "fo-b": ("finance_officer", B)}


@pytest.fixture
def county(engine) -> Users:
    """Township A with three households (members and cards); a rose project in A funded 4,000 from CENTRAL
    (first) and 10,000 from TJ (second)."""
    u = Users(engine, USERS)
    registry.upsert_townships(engine, SYSTEM, [TownshipIn("AQ", A), TownshipIn("MGL", B)])
    registry.upsert_households(
        engine, u["fo"], [hh(f"000{i}", rid(i), name=f"户主{i}") for i in (1, 2, 3)],
        [pp(f"000{i}", rid(i), "head", name=f"户主{i}") for i in (1, 2, 3)] + [pp("0001", rid(11), "spouse",
                                                                                 name="配偶1")],
        create_villages=True)
    services.register_fund(engine, SYSTEM, "CENTRAL", "中央衔接资金", "central")
    services.register_fund(engine, SYSTEM, "TJ", "天津援疆资金", "partner_aid")
    services.receive_fund(engine, SYSTEM, "rc", "CENTRAL", 1_000_000, D0)
    services.receive_fund(engine, SYSTEM, "rt", "TJ", 1_000_000, D0)
    projects.create_project(engine, u["fo"], ProjectIn("ROSE", "玫瑰花种植补助", "rose", D0, 10_000_000, township=A,
                                                       implementer="玫瑰合作社", standard_fen=300_000))
    projects.change_project_status(engine, u["ap"], "ROSE", "approved", "批复")
    projects.change_project_status(engine, u["fo"], "ROSE", "implementing", "实施")
    services.allocate(engine, SYSTEM, "a-c", "ROSE", "CENTRAL", 400_000, dt.date(2026, 2, 1))
    services.allocate(engine, SYSTEM, "a-t", "ROSE", "TJ", 1_000_000, dt.date(2026, 2, 2))
    return u


def roll(*amounts: int, batch: str = "B1", prefix: str = "R", period: str = "2026-04") -> list[PaymentIn]:
    return [PaymentIn(f"{prefix}{i}", batch, "ROSE", f"000{i}", rid(i), f"户主{i}", card(i), amount, PAY_ON,
                      "subsidy", period, row=i + 1) for i, amount in enumerate(amounts, start=1)]


def prepare(engine, u, rows, who="fo"):
    return payments.import_payments(engine, u[who], rows, declared_count=len(rows),
                                    declared_total_fen=sum(r.amount_fen for r in rows))


def count(engine, table, *where) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def project_balance(engine, code: str, fund: str) -> int:
    return next((r.balance_fen for r in services.trial_balance(engine, SYSTEM)
                 if r.account == f"Assets:Project:{code}" and r.fund == fund), 0)


def test_a_roll_from_draft_to_posted(engine, county):
    u = county
    summary = prepare(engine, u, roll(290_000, 250_000, 100_000))
    assert summary["batches_created"] == 1 and summary["rows_created"] == 3 and summary["entries_posted"] == 0
    view = payments.batch_detail(engine, u["ap"], "B1").batch
    assert (view.status, view.row_count, view.total_fen, view.prepared_by) == ("draft", 3, 640_000, "fo")

    # The disclosure rule: no approval before the 公示, nor before it has run its days.
    with pytest.raises(LedgerRefusal, match="publish the disclosure"):
        payments.approve_batch(engine, u["ap"], "B1", today=TODAY)
    with pytest.raises(LedgerRefusal, match="at least 10 days"):
        payments.disclose_batch(engine, u["fo"], "B1", TODAY, days=9, today=TODAY)
    view = payments.disclose_batch(engine, u["fo"], "B1", TODAY, today=TODAY)
    assert (view.status, view.disclosure_until) == ("disclosed", dt.date(2026, 4, 11))
    with pytest.raises(LedgerRefusal, match="approve on or after 2026-04-11"):
        payments.approve_batch(engine, u["ap"], "B1", today=dt.date(2026, 4, 10))
    assert count(engine, ROW, ROW.c.status == "posted") == 0

    # Maker-checker: whoever prepared does not approve, whatever its permissions (SYSTEM holds both).
    prepare(engine, u, roll(1_000, batch="SYS", prefix="S", period="2026-05"), who="fo")
    with pytest.raises(PermissionDenied):
        payments.approve_batch(engine, u["fo"], "SYS", today=dt.date(2026, 5, 1))
    payments.import_payments(engine, SYSTEM, roll(1_000, batch="SYS2", prefix="T", period="2026-06"), declared_count=1,
                             declared_total_fen=1_000)
    payments.disclose_batch(engine, SYSTEM, "SYS2", TODAY, today=TODAY)
    with pytest.raises(PermissionDenied):
        payments.approve_batch(engine, SYSTEM, "SYS2", today=dt.date(2026, 5, 1))

    view = payments.approve_batch(engine, u["ap"], "B1", today=dt.date(2026, 4, 11))
    assert (view.status, view.decided_by) == ("posted", "ap")
    # The split: CENTRAL (arrived first) pays until empty, then TJ: 300,000 + 100,000 from CENTRAL, ...
    assert project_balance(engine, "ROSE", "CENTRAL") == 0
    assert project_balance(engine, "ROSE", "TJ") == 1_000_000 - 240_000
    st = payments.household_statement(engine, u["fo"], "0002")
    [line] = st.lines
    assert line.amount_fen == 250_000 and sum(f[2] for f in line.funds) == 250_000
    assert [(f[0], f[2]) for f in line.funds] == [("CENTRAL", 110_000), ("TJ", 140_000)]
    assert st.by_fund == (("CENTRAL", "中央衔接资金", 110_000), ("TJ", "天津援疆资金", 140_000))
    with read_only(engine) as s:
        entries = s.execute(text("SELECT maker_id, checker_id, kind FROM entry WHERE idempotency_key LIKE 'pay:%'"
                                 )).all()
    assert {(e.maker_id, e.checker_id, e.kind) for e in entries} == {(u.ids["fo"], u.ids["ap"], "subsidy_paid")}
    assert services.verify_journal(engine, SYSTEM).ok
    actions = [r.action for r in engine.connect().execute(select(AUDIT.c.action).order_by(AUDIT.c.id))]
    assert {"payment.prepare", "payment.disclose", "payment.approve"} <= set(actions)


def test_the_batch_number_export_is_refused_once(engine, county):
    """/payments/export is the list's export, so a batch numbered 'export' could not be opened."""
    rows = roll(100, 200, batch="export")
    with pytest.raises(LedgerRefusal) as exc:
        prepare(engine, county, rows)
    assert [(p.field, p.row) for p in exc.value.problems] == [("batch_no", 2)]
    assert "reserved for the payment pages" in exc.value.problems[0].message
    with pytest.raises(LedgerRefusal, match="reserved for the payment pages"):
        payments.prepare_advance(engine, county["fo"], "export", "ADV-1", "ROSE", 1_000, PAY_ON)


def test_control_totals_and_bad_rows_write_nothing(engine, county):
    u = county
    rows = roll(300_000, 250_000)
    with pytest.raises(LedgerRefusal) as exc:
        payments.import_payments(engine, u["fo"], rows, declared_count=3, declared_total_fen=550_001)
    assert [p.field for p in exc.value.problems] == ["count", "total"]
    with pytest.raises(LedgerRefusal, match="declare the roll's control totals"):
        payments.import_payments(engine, u["fo"], rows, declared_count=None, declared_total_fen=None)
    bad = rows + [PaymentIn("R9", "B1", "ROSE", "0003", rid(1), "户主1", card(3), 400_000, PAY_ON, "subsidy",
                            "2026-04", row=9)]
    with pytest.raises(LedgerRefusal) as exc:
        prepare(engine, u, bad)
    assert {(p.row, p.field) for p in exc.value.problems} == {(9, "payee_id_number"), (9, "amount")}
    assert count(engine, BATCH) == 0 and count(engine, ROW) == 0


def test_reimport_is_a_no_op_and_a_changed_row_is_a_conflict(engine, county):
    u = county
    prepare(engine, u, roll(300_000, 250_000))
    again = prepare(engine, u, roll(300_000, 250_000))
    assert again["rows_created"] == 0 and again["rows_already_recorded"] == 2
    with pytest.raises(LedgerRefusal, match=r"already recorded with another amount \(2500\.00\)"):
        prepare(engine, u, roll(300_000, 250_001))
    more = roll(300_000, 250_000, 100)
    with pytest.raises(LedgerRefusal, match="new rows go in a new batch"):
        prepare(engine, u, more)
    # The same household twice for one project and period, in one roll or across rolls.
    with pytest.raises(LedgerRefusal, match=r"already paid for this project and period \(ref R1\)"):
        prepare(engine, u, [PaymentIn("X1", "B2", "ROSE", "0001", rid(1), "户主1", card(1), 10, PAY_ON, "subsidy",
                                      "2026-04", row=2)])
    assert count(engine, ROW) == 2


def test_project_without_enough_money_refuses_at_approval(engine, county):
    u = county
    prepare(engine, u, roll(300_000, 300_000, 300_000, batch="BIG"))
    services.reallocate(engine, SYSTEM, "move", "ROSE", "OTHER", "TJ", 800_000, dt.date(2026, 3, 1))
    payments.disclose_batch(engine, u["fo"], "BIG", TODAY, today=TODAY)
    with pytest.raises(LedgerRefusal) as exc:
        payments.approve_batch(engine, u["ap"], "BIG", today=dt.date(2026, 5, 1))
    assert exc.value.problems[0].row == 4 and "holds ¥0.00" in exc.value.problems[0].message or \
        "holds" in exc.value.problems[0].message
    assert count(engine, ROW, ROW.c.status == "posted") == 0
    assert payments.batch_detail(engine, u["ap"], "BIG").batch.status == "disclosed"


def test_approval_rechecks_the_registry(engine, county):
    u = county
    prepare(engine, u, roll(300_000, 250_000))
    payments.disclose_batch(engine, u["fo"], "B1", TODAY, today=TODAY)
    # During the disclosure the second household's card changes: the roll no longer matches the registry.
    registry.upsert_households(engine, u["fo"], [hh("0002", rid(2), name="户主2", bank=card(22))])
    with pytest.raises(LedgerRefusal) as exc:
        payments.approve_batch(engine, u["ap"], "B1", today=dt.date(2026, 4, 11))
    assert [(p.field, p.row) for p in exc.value.problems] == [("bank_account", 3)]


def test_reject(engine, county):
    u = county
    prepare(engine, u, roll(300_000))
    with pytest.raises(LedgerRefusal, match="give a reason"):
        payments.reject_batch(engine, u["ap"], "B1", " ")
    view = payments.reject_batch(engine, u["ap"], "B1", "名单未经村委会评议")
    assert (view.status, view.reason) == ("rejected", "名单未经村委会评议")
    assert count(engine, ROW, ROW.c.status == "rejected") == 1
    with pytest.raises(LedgerRefusal, match="already decided"):
        payments.approve_batch(engine, u["ap2"], "B1", today=dt.date(2026, 5, 1))
    # A rejected row no longer counts as paid: the household can be paid in a corrected roll.
    prepare(engine, u, roll(200_000, batch="B1-fixed", prefix="F"))


def posted_roll(engine, u, *amounts):
    prepare(engine, u, roll(*amounts))
    payments.disclose_batch(engine, u["fo"], "B1", TODAY, today=TODAY)
    return payments.approve_batch(engine, u["ap"], "B1", today=dt.date(2026, 4, 11))


def test_bank_return_failed_row_is_reversed_and_reissued_once(engine, county):
    u = county
    posted_roll(engine, u, 300_000, 250_000)
    before_tj = project_balance(engine, "ROSE", "TJ")
    out = payments.record_bank_returns(engine, u["fo"], [
        BankReturnIn("R1", "paid", dt.date(2026, 4, 12), row=2),
        BankReturnIn("R2", "failed", dt.date(2026, 4, 12), "账户已销户", row=3)])
    assert out == {"paid": 1, "failed": 1, "already_recorded": 0}
    # The reversal gives the project its money back, in the funds it came from.
    assert project_balance(engine, "ROSE", "TJ") == before_tj + 150_000
    assert project_balance(engine, "ROSE", "CENTRAL") == 100_000 - 0
    st = payments.household_statement(engine, u["fo"], "0002")
    assert st.total_fen == 0 and st.lines[0].status == "failed"
    # Re-importing the return file is a no-op; a contradicting line is refused.
    again = payments.record_bank_returns(engine, u["fo"], [BankReturnIn("R2", "failed", dt.date(2026, 4, 12))])
    assert again["already_recorded"] == 1
    with pytest.raises(LedgerRefusal, match="already failed"):
        payments.record_bank_returns(engine, u["fo"], [BankReturnIn("R2", "paid", dt.date(2026, 4, 13))])
    with pytest.raises(LedgerRefusal, match="not failed"):
        payments.reissue(engine, u["fo"], "B1-R", ["R1"], dt.date(2026, 4, 20))

    registry.upsert_households(engine, u["fo"], [hh("0002", rid(2), name="户主2", bank=card(22))])
    view = payments.reissue(engine, u["fo"], "B1-R", ["R2"], dt.date(2026, 4, 20))
    assert (view.status, view.is_reissue, view.total_fen) == ("draft", True, 250_000)
    with pytest.raises(LedgerRefusal, match="already been re-issued"):
        payments.reissue(engine, u["fo2"], "B1-R2", ["R2"], dt.date(2026, 4, 21))
    with pytest.raises(PermissionDenied):
        payments.approve_batch(engine, u["fo"], "B1-R")
    view = payments.approve_batch(engine, u["ap"], "B1-R", today=dt.date(2026, 4, 21))  # no second 公示
    assert view.status == "posted"
    detail = payments.batch_detail(engine, u["fo"], "B1-R")
    [row] = detail.rows.items
    assert (row.ref, row.reissue_of, row.bank_account) == ("R2-R", "R2", card(22))
    st = payments.household_statement(engine, u["fo"], "0002")
    assert st.total_fen == 250_000 and [line.status for line in st.lines] == ["failed", "posted"]
    assert sum(fen for _, _, fen in st.by_fund) == 250_000
    assert services.verify_journal(engine, SYSTEM).ok


def test_history_import_posts_as_paid_with_the_named_checker(engine, county):
    u = county
    mark = HistoryMark("ap", "f" * 64)
    rows = roll(300_000, 250_000, batch="H-2026-01")
    with pytest.raises(PermissionDenied):
        payments.import_payments(engine, u["fo"], rows, declared_count=None, declared_total_fen=None, history=mark)
    with pytest.raises(LedgerRefusal, match="may not approve payments"):
        payments.import_payments(engine, SYSTEM, rows, declared_count=None, declared_total_fen=None,
                                 history=HistoryMark("insp", "f" * 64))
    out = payments.import_payments(engine, SYSTEM, rows, declared_count=None, declared_total_fen=None, history=mark,
                                   file_sha256="f" * 64)
    assert out["entries_posted"] == 2
    view = payments.batch_detail(engine, u["ap"], "H-2026-01").batch
    assert (view.status, view.is_history, view.decided_by, view.paid_count) == ("posted", True, "ap", 2)
    assert count(engine, HISTORY, HISTORY.c.source == "payments", HISTORY.c.approved_by == u.ids["ap"]) == 2
    again = payments.import_payments(engine, SYSTEM, rows, declared_count=None, declared_total_fen=None,
                                     history=mark, file_sha256="f" * 64)
    assert again["rows_created"] == 0 and count(engine, HISTORY) == 2
    with read_only(engine) as s:
        dates = {r[0] for r in s.execute(text("SELECT effective_date FROM entry WHERE idempotency_key LIKE 'pay:%'"))}
    assert dates == {PAY_ON} or {str(d) for d in dates} == {PAY_ON.isoformat()}


def test_public_notice_masks_ids_and_accounts(engine, county):
    u = county
    prepare(engine, u, roll(300_000, 250_000))
    assert payments.public_notice(engine, "B1") is None  # a draft is not public
    payments.disclose_batch(engine, u["fo"], "B1", TODAY, today=TODAY)
    notice = payments.public_notice(engine, "B1")
    assert notice.row_count == 2 and notice.total_fen == 550_000
    for r, n in zip(notice.rows, (1, 2), strict=True):
        assert r.id_masked == rid(n)[:6] + "********" + rid(n)[-4:]
        assert r.account_masked.startswith(card(n)[:4]) and r.account_masked.endswith(card(n)[-4:])
        assert card(n) not in r.account_masked and rid(n) not in r.id_masked
    assert [b.batch_no for b in payments.public_notices(engine, TODAY)] == ["B1"]
    assert payments.public_notices(engine, TODAY - dt.timedelta(days=1)) == []
    assert payments.public_notices(engine, TODAY + dt.timedelta(days=10)) == []  # its period is over
    assert payments.public_notice(engine, "B1") is not None  # but its own page stays until it is decided


def test_a_disclosure_is_backdated_at_most_30_days_and_never_future(engine, county):
    u = county
    prepare(engine, u, roll(300_000))
    for on in (TODAY - dt.timedelta(days=31), TODAY + dt.timedelta(days=1)):
        with pytest.raises(LedgerRefusal, match="at most 30 days ago"):
            payments.disclose_batch(engine, u["fo"], "B1", on, today=TODAY)
    view = payments.disclose_batch(engine, u["fo"], "B1", TODAY - dt.timedelta(days=30), today=TODAY)
    assert view.disclosure_until == TODAY - dt.timedelta(days=20)
    # A paper notice recorded after it came down never hangs on the online board, but the public still
    # finds it among the recently ended ones, awaiting approval and after it, for RECENT_NOTICE_DAYS.
    assert payments.public_notices(engine, TODAY) == []
    assert [b.batch_no for b in payments.recent_public_notices(engine, TODAY)] == ["B1"]
    payments.approve_batch(engine, u["ap"], "B1", today=TODAY)
    assert [(b.batch_no, b.status) for b in payments.recent_public_notices(engine, TODAY)] == [("B1", "posted")]
    last = view.disclosure_until + dt.timedelta(days=payments.RECENT_NOTICE_DAYS - 1)
    assert [b.batch_no for b in payments.recent_public_notices(engine, last)] == ["B1"]
    assert payments.recent_public_notices(engine, last + dt.timedelta(days=1)) == []
    assert payments.recent_public_notices(engine, view.disclosure_until - dt.timedelta(days=1)) == []  # still hangs


def test_scope_and_roles(engine, county):
    u = county
    with pytest.raises(PermissionDenied):
        prepare(engine, u, roll(100), who="ap")
    with pytest.raises(PermissionDenied):
        payments.list_batches(engine, u["lo"])
    with pytest.raises(LedgerRefusal, match="another township"):
        prepare(engine, u, roll(100), who="fo-b")
    prepare(engine, u, roll(100))
    assert payments.list_batches(engine, u["fo-b"]).total == 0
    assert payments.batch_detail(engine, u["fo-b"], "B1") is None
    assert payments.list_batches(engine, u["insp"]).total == 1


def test_advance_and_in_kind_delivery(engine, county):
    u = county
    payments.prepare_advance(engine, u["fo"], "ADV-1", "ADV-1", "ROSE", 500_000, dt.date(2026, 3, 1), "种苗预付款")
    view = payments.approve_batch(engine, u["ap"], "ADV-1", today=dt.date(2026, 3, 1))  # no 公示 for an advance
    assert view.status == "posted"
    assert project_balance(engine, "ROSE", "CENTRAL") == 0  # 400,000 central first, then 100,000 TJ
    rows = [PaymentIn(f"K{i}", "KIND-1", "ROSE", f"000{i}", rid(i), f"户主{i}", None, 3 * 50_000, PAY_ON, "in_kind",
                      "2026-04", "玫瑰种苗", 3, 50_000, row=i + 1) for i in (1, 2)]
    prepare(engine, u, rows)
    payments.disclose_batch(engine, u["fo"], "KIND-1", TODAY, today=TODAY)
    payments.approve_batch(engine, u["ap"], "KIND-1", today=dt.date(2026, 4, 11))
    tb = {(r.account, r.fund): r.balance_fen for r in services.trial_balance(engine, SYSTEM)}
    assert tb[("Assets:Advance:ROSE", "CENTRAL")] == 400_000 - 300_000
    assert tb[("Assets:Advance:ROSE", "TJ")] == 100_000
    assert tb[("Expenses:InKind:Rose", "CENTRAL")] == 300_000


# ---------------------------------------------------------------------------------------------
# The database's own refusals


def test_database_refuses_changing_or_deleting_payments(engine, county):
    u = county
    posted_roll(engine, u, 300_000)
    statements = [
        "DELETE FROM payment_row",
        "DELETE FROM payment_batch",
        "UPDATE payment_row SET amount_fen = amount_fen + 1",
        "UPDATE payment_row SET status = 'pending'",
        "UPDATE payment_batch SET declared_total_fen = 1",
        "UPDATE payment_batch SET status = 'draft'",
    ]
    for stmt in statements:
        with pytest.raises(DBAPIError):
            with engine.begin() as c:
                c.execute(text(stmt))
    assert count(engine, ROW) == 1


def _refused(engine, stmt: str, **params) -> None:
    with pytest.raises(DBAPIError):
        with engine.begin() as c:
            c.execute(text(stmt), params)


def test_database_freezes_a_published_disclosure_and_the_banks_answer(engine, county):
    """Migration 0006: what the services never do, the database refuses too (as a DBA could try)."""
    u = county
    posted_roll(engine, u, 300_000, 250_000)  # households 1 and 2, batch B1
    payments.record_bank_returns(engine, u["fo"], [BankReturnIn("R1", "paid", dt.date(2026, 4, 12), row=2),
                                                   BankReturnIn("R2", "failed", dt.date(2026, 4, 12), "已销户", row=3)])
    prepare(engine, u, [PaymentIn("O3", "OPEN", "ROSE", "0003", rid(3), "户主3", card(3), 100_000, PAY_ON, "subsidy",
                                  "2026-04", row=2)])
    # A household batch is not marked disclosed, nor posted, without a published 公示 ...
    _refused(engine, "UPDATE payment_batch SET status = 'disclosed' WHERE batch_no = 'OPEN'")
    _refused(engine, "UPDATE payment_batch SET status = 'posted', decided_by = :ap WHERE batch_no = 'OPEN'",
             ap=u.ids["ap"])
    # ... nor written straight in as posted (only history and re-issues are).
    insert = ("INSERT INTO payment_batch (batch_no, project_id, purpose, status, declared_count, "
              "declared_total_fen, memo, is_history, is_reissue, prepared_by, prepared_at, disclosure_days) "
              "SELECT :no, project_id, 'subsidy', :status, 1, 1, '', :f, :f, prepared_by, prepared_at, 0 "
              "FROM payment_batch WHERE batch_no = 'OPEN'")
    _refused(engine, insert, no="FAKE", status="posted", f=False)
    with engine.begin() as c:  # the same row as a draft goes in: it was the status that was refused
        c.execute(text(insert), {"no": "FAKE-DRAFT", "status": "draft", "f": False})
    payments.disclose_batch(engine, u["fo"], "OPEN", TODAY, today=TODAY)
    # Once published, the notice's dates, length and publisher stay what the village saw.
    for stmt in ("UPDATE payment_batch SET disclosure_until = disclosed_on WHERE batch_no = 'OPEN'",
                 "UPDATE payment_batch SET disclosed_on = '2026-01-01' WHERE batch_no = 'OPEN'",
                 "UPDATE payment_batch SET disclosure_days = 1 WHERE batch_no = 'OPEN'",
                 "UPDATE payment_batch SET disclosed_by = NULL WHERE batch_no = 'OPEN'"):
        _refused(engine, stmt)
    with engine.begin() as c:  # what is not frozen still changes (the memo), so the guard is not blanket
        assert c.execute(text("UPDATE payment_batch SET memo = '四月' WHERE batch_no = 'OPEN'")).rowcount == 1
    # Nothing joins a roll the village has seen (nor a decided one); a draft takes pending rows.
    add_row = ("INSERT INTO payment_row (batch_id, ref, payee_name, amount_fen, paid_on, status) "
               "SELECT id, :ref, '户主3', 100, '2026-04-10', :status FROM payment_batch WHERE batch_no = :batch")
    for batch, status in (("OPEN", "pending"), ("B1", "pending"), ("FAKE-DRAFT", "paid"), ("FAKE-DRAFT", "posted")):
        _refused(engine, add_row, ref=f"X-{batch}-{status}", status=status, batch=batch)
    with engine.begin() as c:
        c.execute(text(add_row), {"ref": "X-ok", "status": "pending", "batch": "FAKE-DRAFT"})
    assert payments.batch_detail(engine, u["fo"], "OPEN").batch.disclosure_until == dt.date(2026, 4, 11)

    # The bank's answer is final: neither its note nor its date, nor a paid row's status, changes.
    for stmt in ("UPDATE payment_row SET bank_note = 'ok' WHERE ref = 'R2'",
                 "UPDATE payment_row SET returned_on = '2026-04-30' WHERE ref = 'R2'",
                 "UPDATE payment_row SET returned_on = NULL WHERE ref = 'R1'",
                 "UPDATE payment_row SET bank_note = 'x' WHERE ref = 'R1'"):
        _refused(engine, stmt)
    with read_only(engine) as s:
        assert s.execute(select(ROW.c.bank_note).where(ROW.c.ref == "R2")).scalar_one() == "已销户"
    # The services still do all of it: a re-issue is a new row.
    assert payments.reissue(engine, u["fo"], "B1-R", ["R2"], dt.date(2026, 4, 20)).status == "draft"
    assert payments.approve_batch(engine, u["ap"], "B1-R", today=dt.date(2026, 4, 21)).status == "posted"


def test_two_approvals_on_one_project_at_once_split_what_is_left(engine, county):
    """PostgreSQL: two batches of one project approved at the same moment. The second waits for the first's
    balances and splits what is left (CENTRAL runs out, TJ pays the rest) instead of being refused."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers with BEGIN IMMEDIATE: no two approvals run at once")
    u = county
    prepare(engine, u, roll(300_000, batch="B1", prefix="R"))
    prepare(engine, u, [PaymentIn("S2", "B2", "ROSE", "0002", rid(2), "户主2", card(2), 250_000, PAY_ON, "subsidy",
                                  "2026-04", row=2)])
    for batch in ("B1", "B2"):
        payments.disclose_batch(engine, u["fo"], batch, TODAY, today=TODAY)
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def approve(who: str, batch: str) -> None:
        barrier.wait()
        try:
            results[batch] = payments.approve_batch(engine, u[who], batch, today=dt.date(2026, 4, 11))
        except LedgerRefusal as exc:
            results[batch] = exc

    threads = [threading.Thread(target=approve, args=args) for args in (("ap", "B1"), ("ap2", "B2"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {b: getattr(v, "status", str(v)) for b, v in results.items()} == {"B1": "posted", "B2": "posted"}
    # 550,000 left the project: all 400,000 of CENTRAL (it arrived first), 150,000 of TJ.
    assert project_balance(engine, "ROSE", "CENTRAL") == 0
    assert project_balance(engine, "ROSE", "TJ") == 1_000_000 - 150_000
    assert services.verify_journal(engine, SYSTEM).ok


@pytest.mark.parametrize("same_project", [False, True])
def test_an_approval_and_a_bank_return_at_once_do_not_deadlock(engine, county, monkeypatch, same_project):
    """PostgreSQL: an approval waits at the journal's head while a bank return (on another project of the same
    industry, so the same expense account, or on the same project) posts its reversal. Both take the head
    before any balance row, so the return goes through and then the approval does: no deadlock."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers with BEGIN IMMEDIATE")
    u = county
    other = "ROSE" if same_project else "ROSE2"
    if not same_project:
        projects.create_project(engine, u["fo"], ProjectIn("ROSE2", "玫瑰二", "rose", D0, 10_000_000, township=A,
                                                           implementer="合作社2", standard_fen=300_000))
        projects.change_project_status(engine, u["ap"], "ROSE2", "approved", "批复")
        projects.change_project_status(engine, u["fo"], "ROSE2", "implementing", "实施")
        services.allocate(engine, SYSTEM, "a2", "ROSE2", "CENTRAL", 500_000, dt.date(2026, 2, 3))
    prepare(engine, u, [PaymentIn("Q3", "BQ", other, "0003", rid(3), "户主3", card(3), 1_000, PAY_ON, "subsidy",
                                  "2026-04", row=2)])
    payments.disclose_batch(engine, u["fo"], "BQ", TODAY, today=TODAY)
    payments.approve_batch(engine, u["ap"], "BQ", today=dt.date(2026, 4, 11))
    prepare(engine, u, roll(1_000, 2_000))
    payments.disclose_batch(engine, u["fo"], "B1", TODAY, today=TODAY)

    waiting, go = threading.Event(), threading.Event()
    lock_head = journal.lock_head

    def approver_pauses_at_the_head(s):
        if threading.current_thread().name == "approver" and not waiting.is_set():
            waiting.set()
            go.wait(10)
        return lock_head(s)

    monkeypatch.setattr(journal, "lock_head", approver_pauses_at_the_head)
    out: dict[str, object] = {}

    def approve() -> None:
        try:
            out["approve"] = payments.approve_batch(engine, u["ap"], "B1", today=dt.date(2026, 4, 11)).status
        except Exception as exc:  # noqa: BLE001  (a deadlock is what this test looks for)
            out["approve"] = repr(exc)

    def bank_return() -> None:
        try:
            out["return"] = payments.record_bank_returns(engine, u["fo"], [BankReturnIn("Q3", "failed", dt.date(
                2026, 4, 12))])["failed"]
        except Exception as exc:  # noqa: BLE001
            out["return"] = repr(exc)

    approver = threading.Thread(target=approve, name="approver")
    approver.start()
    assert waiting.wait(10)
    returner = threading.Thread(target=bank_return)
    returner.start()
    returner.join(5)  # it does not wait for the approver: the approver holds no balance row yet
    go.set()
    approver.join(20)
    returner.join(20)
    assert out == {"approve": "posted", "return": 1}
    assert services.verify_journal(engine, SYSTEM).ok


# ---------------------------------------------------------------------------------------------
# Found in review: each of these once let money or data through


def test_a_reissued_payment_counts_as_paid(engine, county):
    u = county
    posted_roll(engine, u, 290_000, 250_000)
    payments.record_bank_returns(engine, u["fo"], [BankReturnIn("R2", "failed", dt.date(2026, 4, 12))])
    payments.reissue(engine, u["fo"], "B1-R", ["R2"], dt.date(2026, 4, 20))
    with pytest.raises(LedgerRefusal, match=r"already paid for this project and period \(ref R2-R\)"):
        prepare(engine, u, [PaymentIn("X2", "B2", "ROSE", "0002", rid(2), "户主2", card(2), 250_000, PAY_ON,
                                      "subsidy", "2026-04", row=2)])


def test_the_standard_is_per_household_in_total(engine, county):
    u = county
    prepare(engine, u, roll(200_000))
    with pytest.raises(LedgerRefusal, match="with the ¥2,000.00 it has already received"):
        prepare(engine, u, roll(100_001, batch="B2", prefix="S", period="2026-05"))
    prepare(engine, u, roll(100_000, batch="B2", prefix="S", period="2026-05"))  # exactly the standard


def test_a_township_officer_neither_reads_nor_acts_on_a_county_wide_roll_of_other_townships(engine, county):
    u = county
    projects.create_project(engine, u["fo"], ProjectIn("WIDE", "全县项目", "grape", D0, 1_000_000))
    projects.change_project_status(engine, u["ap"], "WIDE", "approved", "批复")
    projects.change_project_status(engine, u["fo"], "WIDE", "implementing", "实施")
    services.allocate(engine, SYSTEM, "a-w", "WIDE", "CENTRAL", 500_000, dt.date(2026, 2, 1))
    registry.upsert_households(engine, u["fo"], [hh("0009", rid(9), name="户主9", township=B, village="二村")],
                               create_villages=True)
    rows = [PaymentIn(f"W{i}", "WB", "WIDE", no, rid(n), f"户主{n}", card(n), 1_000, PAY_ON, "subsidy", "2026-04",
                      row=i + 1) for i, (no, n) in enumerate((("0001", 1), ("0009", 9)), start=1)]
    prepare(engine, u, rows)
    payments.disclose_batch(engine, u["fo"], "WB", TODAY, today=TODAY)
    payments.approve_batch(engine, u["ap"], "WB", today=dt.date(2026, 4, 11))
    assert payments.batch_detail(engine, u["fo-b"], "WB") is None
    assert payments.list_batches(engine, u["fo-b"]).total == 0
    with pytest.raises(LedgerRefusal, match="no such payment"):
        payments.record_bank_returns(engine, u["fo-b"], [BankReturnIn("W1", "failed", dt.date(2026, 4, 12))])
    assert payments.batch_detail(engine, u["fo"], "WB").batch.paid_count == 0


def test_the_approver_reads_masked_numbers_in_refusals(engine, county):
    u = county
    prepare(engine, u, roll(290_000, 250_000))
    payments.disclose_batch(engine, u["fo"], "B1", TODAY, today=TODAY)
    registry.upsert_households(engine, u["fo"], [hh("0002", rid(2), name="户主2", bank=card(22))])
    with pytest.raises(LedgerRefusal) as exc:
        payments.approve_batch(engine, u["ap"], "B1", today=dt.date(2026, 4, 11))
    [p] = exc.value.problems
    assert p.field == "bank_account" and card(2) not in p.value and p.value.endswith(card(2)[-4:])


def test_money_leaves_on_approval_and_only_from_funds_already_there(engine, county):
    u = county
    projects.create_project(engine, u["fo"], ProjectIn("LATE", "后到资金项目", "grape", D0, 1_000_000))
    projects.change_project_status(engine, u["ap"], "LATE", "approved", "批复")
    projects.change_project_status(engine, u["fo"], "LATE", "implementing", "实施")
    services.allocate(engine, SYSTEM, "l-c", "LATE", "CENTRAL", 1_000, dt.date(2026, 2, 1))
    services.receive_fund(engine, SYSTEM, "rt-late", "TJ", 5_000, dt.date(2026, 5, 20))
    services.allocate(engine, SYSTEM, "l-t", "LATE", "TJ", 5_000, dt.date(2026, 6, 1))
    mark = HistoryMark("ap", "e" * 64)
    early = [PaymentIn("E1", "HL", "LATE", "0001", rid(1), "户主1", card(1), 3_000, dt.date(2026, 3, 1), "subsidy",
                       "2026-03", row=2)]
    with pytest.raises(LedgerRefusal, match="holds ¥10.00"):  # TJ had not arrived on 1 March
        payments.import_payments(engine, SYSTEM, early, declared_count=None, declared_total_fen=None, history=mark)
    late = [PaymentIn("E2", "HL2", "LATE", "0001", rid(1), "户主1", card(1), 3_000, dt.date(2026, 6, 2), "subsidy",
                      "2026-06", row=2)]
    payments.import_payments(engine, SYSTEM, late, declared_count=None, declared_total_fen=None, history=mark)
    # A roll approved after its pay date leaves the project on the day it was approved.
    prepare(engine, u, roll(1_000))
    payments.disclose_batch(engine, u["fo"], "B1", TODAY, today=TODAY)
    payments.approve_batch(engine, u["ap"], "B1", today=dt.date(2026, 4, 20))
    with read_only(engine) as s:
        on = s.execute(text("SELECT effective_date FROM entry WHERE idempotency_key = 'pay:R1'")).scalar_one()
    assert str(on) == "2026-04-20"


def test_history_does_not_adopt_todays_work(engine, county):
    u = county
    rows = roll(1_000)
    prepare(engine, u, rows)
    with pytest.raises(LedgerRefusal, match="already recorded as today's work"):
        payments.import_payments(engine, SYSTEM, rows, declared_count=None, declared_total_fen=None,
                                 history=HistoryMark("ap", "d" * 64))
