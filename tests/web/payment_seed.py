"""Payment batches seeded through the real services (ledger.registry, ledger.projects, ledger.payments),
for the web tests: the page and API flows, the permission matrix and schemathesis.

On top of tests.web.conftest's ledger: township 阿羌乡 with four households (PAY-001..PAY-004, heads
with valid IDs and Luhn cards), a rose project PAY-ROSE in that township funded ¥1,000.00 from CENTRAL
(first) and ¥10,000.00 from TJ-AID, so a ¥1,500.00 payment splits ¥1,000.00 + ¥500.00.

`seed_batches` then prepares, as the world's finance officer, batches in every state the tests need:
POSTED (approved by the approver; its first row paid, its second returned by the bank), DISCLOSED
(disclosed ten days ago: approvable today), DRAFT and DRAFT2 (drafts).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ledger import payments, projects, registry, services
from ledger.ids import id_check_char, luhn_ok
from ledger.payments import BankReturnIn, PaymentIn
from ledger.permissions import SYSTEM, Actor
from ledger.projects import ProjectIn

TOWNSHIP = "阿羌乡"
VILLAGE = "阿羌村"
PROJECT = "PAY-ROSE"
PAY_ON = dt.date(2026, 3, 10)


def rid(n: int) -> str:
    first17 = f"65322619850101{n:03d}"
    return first17 + id_check_char(first17)


def card(n: int) -> str:
    body = f"621700{n:012d}"
    return next(body + str(d) for d in range(10) if luhn_ok(body + str(d)))


def hh_no(n: int) -> str:
    return f"PAY-{n:03d}"


def head_name(n: int) -> str:
    return f"收款人{n}"


def actor(world, role: str) -> Actor:
    return Actor(world.user_ids[role], role.replace("_", "-"), role)


def seed_county(world) -> None:
    """The registry and the funded project (no batches)."""
    e = world.engine
    registry.upsert_townships(e, SYSTEM, [registry.TownshipIn("AQ", TOWNSHIP)])
    registry.upsert_households(e, SYSTEM, [
        registry.HouseholdIn(hh_no(n), "AQ", VILLAGE, head_name(n), rid(n), 2, "poor", card(n)) for n in range(1, 5)],
        create_villages=True)
    fo, ap = actor(world, "finance_officer"), actor(world, "approver")
    projects.create_project(e, fo, ProjectIn(PROJECT, "玫瑰花种植补助", "rose", dt.date(2026, 1, 1), 50_000_00,
                                             township=TOWNSHIP, implementer="玫瑰合作社", standard_fen=3_000_00))
    projects.change_project_status(e, ap, PROJECT, "approved", "批复")
    projects.change_project_status(e, fo, PROJECT, "implementing", "实施")
    services.allocate(e, SYSTEM, "pay-a-c", PROJECT, "CENTRAL", 1_000_00, dt.date(2026, 2, 1), "玫瑰花补助")
    services.allocate(e, SYSTEM, "pay-a-t", PROJECT, "TJ-AID", 10_000_00, dt.date(2026, 2, 2), "玫瑰花补助")


def row(n: int, batch: str, amount_fen: int, period: str, ref: str | None = None) -> PaymentIn:
    return PaymentIn(ref or f"{batch}-{n}", batch, PROJECT, hh_no(n), rid(n), head_name(n), card(n), amount_fen, PAY_ON,
                     "subsidy", period, row=n + 1)


def prepare(world, rows: list[PaymentIn]) -> None:
    payments.import_payments(world.engine, actor(world, "finance_officer"), rows, declared_count=len(rows),
                             declared_total_fen=sum(r.amount_fen for r in rows))


@dataclass(frozen=True)
class Seeded:
    posted: str = "POSTED"
    disclosed: str = "DISCLOSED"
    draft: str = "DRAFT"
    draft2: str = "DRAFT2"
    failed_ref: str = "POSTED-2"
    paid_ref: str = "POSTED-1"


def seed_batches(world) -> Seeded:
    seed_county(world)
    s = Seeded()
    e, fo, ap = world.engine, actor(world, "finance_officer"), actor(world, "approver")
    today = dt.date.today()
    back = today - dt.timedelta(days=payments.disclosure_days_minimum())
    prepare(world, [row(1, s.posted, 1_500_00, "2026-03"), row(2, s.posted, 1_000_00, "2026-03")])
    payments.disclose_batch(e, fo, s.posted, back)
    payments.approve_batch(e, ap, s.posted)
    payments.record_bank_returns(e, fo, [BankReturnIn(s.paid_ref, "paid", today),
                                         BankReturnIn(s.failed_ref, "failed", today, "账户已销户")])
    prepare(world, [row(3, s.disclosed, 800_00, "2026-03")])
    payments.disclose_batch(e, fo, s.disclosed, back)
    prepare(world, [row(4, s.draft, 500_00, "2026-03")])
    prepare(world, [row(1, s.draft2, 200_00, "2026-04")])
    return s
