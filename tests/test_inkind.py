"""In-kind aid through an implementer (ledger.inkind): the FIFO age of undelivered advances worked out by
hand without a database, then on every lane an implementer's advances, partial deliveries and a returned
delivery, with the figures the aging table must show (each computed here by hand, not read back).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from ledger import inkind, payments, projects, registry, services
from ledger.inkind import bucket_amounts, bucket_of, open_advances, undelivered_age
from ledger.models import AuditLog
from ledger.payments import BankReturnIn, PaymentIn
from ledger.permissions import SYSTEM, PermissionDenied
from ledger.projects import ProjectIn
from ledger.registry import TownshipIn
from tests.helpers import Users
from tests.test_registry import hh, pp, rid

d = dt.date
AUDIT = AuditLog.__table__


# ---------------------------------------------------------------------------------------------
# Pure rules (hand-worked)


def test_fifo_deliveries_consume_the_earliest_advances_first():
    advances = [(d(2026, 3, 1), 300), (d(2026, 4, 1), 200)]
    # Nothing delivered: all 500 undelivered, the oldest advance is 1 March; 1 March -> 10 May is 70 days.
    assert undelivered_age(advances, 0, d(2026, 5, 10)) == (500, d(2026, 3, 1), 70)
    # 150 delivered eat into the March advance: 150 of it is still out, so March is still the oldest.
    assert undelivered_age(advances, 150, d(2026, 5, 10)) == (350, d(2026, 3, 1), 70)
    assert open_advances(advances, 150) == [(d(2026, 3, 1), 150), (d(2026, 4, 1), 200)]
    # Exactly the March advance delivered: the April one is the oldest; 1 April -> 10 May is 39 days.
    assert undelivered_age(advances, 300, d(2026, 5, 10)) == (200, d(2026, 4, 1), 39)
    # 450 delivered: 50 of April's is left.
    assert open_advances(advances, 450) == [(d(2026, 4, 1), 50)]
    # Everything delivered (or more): nothing undelivered, no age.
    assert undelivered_age(advances, 500, d(2026, 5, 10)) == (0, None, None)
    assert undelivered_age([], 0, d(2026, 5, 10)) == (0, None, None)
    # Order of the input does not matter; the same day keeps the given order.
    assert undelivered_age(list(reversed(advances)), 300, d(2026, 5, 10)) == (200, d(2026, 4, 1), 39)
    assert open_advances([(d(2026, 3, 1), 10), (d(2026, 3, 1), 20)], 15) == [(d(2026, 3, 1), 15)]
    # On the day of the advance the age is 0.
    assert undelivered_age(advances, 0, d(2026, 3, 1))[2] == 0
    with pytest.raises(AssertionError):
        open_advances([(d(2026, 3, 1), 0)], 0)


def test_buckets():
    assert [bucket_of(n) for n in (0, 30, 31, 90, 91, 180, 181, 3650)] == [
        "0-30", "0-30", "31-90", "31-90", "91-180", "91-180", "180+", "180+"]
    assert bucket_of(None) is None
    # As of 1 October: 1 March is 214 days (180+), 1 June 122 (91-180), 1 September 30 (0-30).
    items = [(d(2026, 3, 1), 100), (d(2026, 6, 1), 40), (d(2026, 9, 1), 7)]
    assert bucket_amounts(items, d(2026, 10, 1)) == {"0-30": 7, "31-90": 0, "91-180": 40, "180+": 100}


# ---------------------------------------------------------------------------------------------
# Advance, partial deliveries, a returned delivery: the aging numbers


A, B = "阿羌乡", "木尕拉镇"


@pytest.fixture
def delivered(engine) -> Users:
    """ROSE (township A, implementer 玫瑰合作社) holds CENTRAL 400,000 (arrived 1 Feb) and TJ 1,000,000
    (2 Feb). Advances: A1 on 1 March 300,000 (all CENTRAL: it arrived first), A2 on 1 April 200,000
    (the last 100,000 of CENTRAL, then 100,000 TJ). Deliveries (each from the advance's CENTRAL first):
    K1 on 10 April, household 0001, 150,000; K2 on 10 May, 0002 150,000 and 0003 100,000."""
    u = Users(engine, {"fo": ("finance_officer", None), "ap": ("approver", None), "insp": ("inspector", None),
                       "lo": ("loan_officer", None), "fo-b": ("finance_officer", B)})
    registry.upsert_townships(engine, SYSTEM, [TownshipIn("AQ", A), TownshipIn("MGL", B)])
    registry.upsert_households(engine, u["fo"], [hh(f"000{i}", rid(i), name=f"户主{i}") for i in (1, 2, 3)],
                               [pp(f"000{i}", rid(i), "head", name=f"户主{i}") for i in (1, 2, 3)],
                               create_villages=True)
    services.register_fund(engine, SYSTEM, "CENTRAL", "中央衔接资金", "central")
    services.register_fund(engine, SYSTEM, "TJ", "天津援疆资金", "partner_aid")
    services.receive_fund(engine, SYSTEM, "rc", "CENTRAL", 1_000_000, d(2026, 1, 5))
    services.receive_fund(engine, SYSTEM, "rt", "TJ", 1_000_000, d(2026, 1, 5))
    projects.create_project(engine, u["fo"], ProjectIn("ROSE", "玫瑰花种苗实物补助", "rose", d(2026, 1, 5), 10_000_000,
                                                       township=A, implementer="玫瑰合作社", standard_fen=300_000))
    projects.change_project_status(engine, u["ap"], "ROSE", "approved", "批复")
    projects.change_project_status(engine, u["fo"], "ROSE", "implementing", "实施")
    services.allocate(engine, SYSTEM, "a-c", "ROSE", "CENTRAL", 400_000, d(2026, 2, 1))
    services.allocate(engine, SYSTEM, "a-t", "ROSE", "TJ", 1_000_000, d(2026, 2, 2))
    for n, (amount, on) in enumerate([(300_000, d(2026, 3, 1)), (200_000, d(2026, 4, 1))], start=1):
        payments.prepare_advance(engine, u["fo"], f"ADV-{n}", f"ADV-{n}", "ROSE", amount, on, "种苗预付款")
        payments.approve_batch(engine, u["ap"], f"ADV-{n}", today=on)

    def deliver(batch: str, paid_on: dt.date, lines: list[tuple[int, int]]) -> None:
        rows = [PaymentIn(f"{batch}-{i}", batch, "ROSE", f"000{i}", rid(i), f"户主{i}", None, fen, paid_on, "in_kind",
                          paid_on.strftime("%Y-%m"), "玫瑰种苗", fen // 50_000, 50_000, row=n + 2)
                for n, (i, fen) in enumerate(lines)]
        payments.import_payments(engine, u["fo"], rows, declared_count=len(rows),
                                 declared_total_fen=sum(r.amount_fen for r in rows))
        payments.disclose_batch(engine, u["fo"], batch, paid_on - dt.timedelta(days=10), today=paid_on)
        payments.approve_batch(engine, u["ap"], batch, today=paid_on)

    deliver("K1", d(2026, 4, 10), [(1, 150_000)])
    deliver("K2", d(2026, 5, 10), [(2, 150_000), (3, 100_000)])
    return u


def _fund(row, code):
    return next(f for f in row.by_fund if f.fund == code)


def test_aging_before_any_delivery(engine, delivered):
    # As of 5 April: CENTRAL holds A1 300,000 (35 days: 31-90) and 100,000 of A2 (4 days); TJ 100,000 of A2.
    aging = inkind.advance_aging(engine, delivered["fo"], d(2026, 4, 5))
    [row] = aging.rows
    assert (row.project_code, row.implementer, row.account) == ("ROSE", "玫瑰合作社", "Assets:Advance:ROSE")
    assert (row.advanced_fen, row.delivered_fen, row.other_fen, row.undelivered_fen) == (500_000, 0, 0, 500_000)
    assert (row.oldest_on, row.days, row.bucket) == (d(2026, 3, 1), 35, "31-90")
    assert row.buckets == {"0-30": 200_000, "31-90": 300_000, "91-180": 0, "180+": 0}
    c, t = _fund(row, "CENTRAL"), _fund(row, "TJ")
    assert (c.advanced_fen, c.undelivered_fen, c.oldest_on, c.days) == (400_000, 400_000, d(2026, 3, 1), 35)
    assert (t.advanced_fen, t.undelivered_fen, t.oldest_on, t.days) == (100_000, 100_000, d(2026, 4, 1), 4)


def test_aging_after_partial_deliveries(engine, delivered):
    # As of 20 April: K1 took 150,000 of CENTRAL, so 150,000 of A1 (1 March, 50 days) and 100,000 of A2
    # (19 days) are out in CENTRAL, and TJ's 100,000 of A2.
    aging = inkind.advance_aging(engine, delivered["fo"], d(2026, 4, 20))
    [row] = aging.rows
    assert (row.advanced_fen, row.delivered_fen, row.undelivered_fen) == (500_000, 150_000, 350_000)
    assert (row.oldest_on, row.days, row.bucket) == (d(2026, 3, 1), 50, "31-90")
    assert row.buckets == {"0-30": 200_000, "31-90": 150_000, "91-180": 0, "180+": 0}
    c = _fund(row, "CENTRAL")
    assert (c.delivered_fen, c.undelivered_fen, c.oldest_on) == (150_000, 250_000, d(2026, 3, 1))
    # As of 1 July: K2 took the other 250,000 of CENTRAL: CENTRAL is delivered in full; TJ's 100,000 of A2
    # is 91 days old (1 April -> 1 July).
    aging = inkind.advance_aging(engine, delivered["fo"], d(2026, 7, 1))
    [row] = aging.rows
    assert (row.advanced_fen, row.delivered_fen, row.undelivered_fen) == (500_000, 400_000, 100_000)
    assert (row.oldest_on, row.days, row.bucket) == (d(2026, 4, 1), 91, "91-180")
    c, t = _fund(row, "CENTRAL"), _fund(row, "TJ")
    assert (c.undelivered_fen, c.oldest_on, c.days, c.bucket) == (0, None, None, None)
    assert (t.undelivered_fen, t.oldest_on, t.days, t.bucket) == (100_000, d(2026, 4, 1), 91, "91-180")
    assert (aging.undelivered_fen, aging.buckets["91-180"], aging.projects_by_bucket["91-180"]) == (100_000, 100_000, 1)
    # The undelivered figure is the advance account's balance, fund by fund.
    tb = {(r.account, r.fund): r.balance_fen for r in services.trial_balance(engine, SYSTEM, d(2026, 7, 1))}
    assert tb.get(("Assets:Advance:ROSE", "CENTRAL"), 0) == 0 and tb[("Assets:Advance:ROSE", "TJ")] == 100_000


def test_a_returned_delivery_counts_as_not_delivered(engine, delivered):
    u = delivered
    # 0003's delivery (100,000, CENTRAL) was not received: its entry is reversed on 1 June. Delivered
    # counts the reversal with the delivery it reverses: 400,000 - 100,000 = 300,000. CENTRAL holds
    # 100,000 again; FIFO: 300,000 delivered covers A1 (300,000), so what is out is A2's, from 1 April.
    payments.record_bank_returns(engine, u["fo"], [BankReturnIn("K2-3", "failed", d(2026, 6, 1), "未收到种苗")])
    [row] = inkind.advance_aging(engine, u["fo"], d(2026, 7, 1)).rows
    assert (row.advanced_fen, row.delivered_fen, row.undelivered_fen) == (500_000, 300_000, 200_000)
    c = _fund(row, "CENTRAL")
    assert (c.delivered_fen, c.undelivered_fen, c.oldest_on, c.days) == (300_000, 100_000, d(2026, 4, 1), 91)
    assert row.buckets == {"0-30": 0, "31-90": 0, "91-180": 200_000, "180+": 0}


def test_roles_scope_and_export(engine, delivered):
    u = delivered
    with pytest.raises(PermissionDenied):
        inkind.advance_aging(engine, u["lo"])
    assert inkind.advance_aging(engine, u["insp"]).rows[0].project_code == "ROSE"
    assert inkind.advance_aging(engine, u["fo-b"]).rows == []  # ROSE is township A's
    name, data = inkind.export_advance_aging(engine, u["fo"], d(2026, 7, 1), "csv")
    lines = data.decode("utf-8-sig").splitlines()
    assert name.endswith(".csv") and len(lines) == 3  # header, CENTRAL, TJ
    assert lines[2].split(",")[:5] == ["ROSE", "玫瑰花种苗实物补助", "玫瑰合作社", A, "TJ"]
    assert "100000.00" not in lines[2] and "1000.00" in lines[2]
    with engine.connect() as c:
        actions = [r.action for r in c.execute(select(AUDIT.c.action))]
    assert "export.advance_aging" in actions
