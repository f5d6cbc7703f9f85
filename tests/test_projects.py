"""The project library and allocation requests (ledger.projects; DESIGN.md §1, §4, §5).

The pure computations first (no database), then the services on every database lane: lifecycle,
code collisions, maker-checker, rejection, idempotent preparation, limits, closed projects, the
figures by fund, audit rows and township scope; then the database's own refusals when a script goes
around the services with raw SQL; then two approvers racing on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from decimal import Decimal

import pytest
from sqlalchemy import DateTime, bindparam, func, select, text
from sqlalchemy.exc import DBAPIError

from ledger import journal, projects, registry, services, users
from ledger.chart import ensure_accounts
from ledger.db import read_only, unit_of_work
from ledger.entries import EntryDraft, PostingDraft, reversal_of
from ledger.journal import LedgerRefusal
from ledger.models import AllocationRequest, AuditLog, Entry, ProjectStatus
from ledger.permissions import SYSTEM, Actor, PermissionDenied
from ledger.projects import ProjectFilter, ProjectIn, idle_days, spending_progress, split_flows
from ledger.registry import TownshipIn
from tests.helpers import Users

AUDIT, REQUEST, ENTRY = AuditLog.__table__, AllocationRequest.__table__, Entry.__table__
PSTATUS = ProjectStatus.__table__
POOL = "Assets:Treasury:Pool"
A, B = "阿羌乡", "木尕拉镇"
D0, D1, D2, D3, D4 = (dt.date(2026, 3, d) for d in (1, 2, 5, 10, 20))


# ---------------------------------------------------------------------------------------------
# Pure computations (hand-computed expectations)


@pytest.mark.parametrize(("spent", "allocated", "want"), [
    (1, 3, "33.3"),            # 33.333…
    (2, 3, "66.7"),            # 66.666… up
    (1, 8, "12.5"),            # exact
    (1, 16, "6.3"),            # 6.25 -> 6.3
    (1, 2000, "0.1"),          # 0.05 exactly: half up (half-even would give 0.0)
    (5, 2000, "0.3"),          # 0.25 exactly: half up (half-even would give 0.2)
    (0, 100, "0.0"),
    (100, 100, "100.0"),
    (45_000_00, 450_000_00, "10.0"),
    (10**15 - 1, 10**15, "100.0"),  # 99.9999… : exact integer arithmetic, no float or 28-digit limit
    (-1, 2000, "-0.1"),        # more recovered than paid: away from zero
])
def test_spending_progress_rounds_half_up_to_a_tenth_of_a_percent(spent, allocated, want):
    got = spending_progress(spent, allocated)
    assert isinstance(got, Decimal) and str(got) == want


def test_spending_progress_without_allocation_is_none():
    assert spending_progress(0, 0) is None
    assert spending_progress(10, 0) is None
    assert spending_progress(10, -5) is None


def test_idle_days():
    as_of = dt.date(2026, 6, 30)
    assert idle_days(as_of, 100, dt.date(2026, 6, 1), None) == 29  # never paid: since the first allocation
    assert idle_days(as_of, 100, dt.date(2026, 1, 1), dt.date(2026, 6, 20)) == 10  # since the last payment
    assert idle_days(as_of, 100, dt.date(2025, 12, 31), None) == 181
    assert idle_days(as_of, 0, dt.date(2026, 1, 1), None) is None  # nothing unspent
    assert idle_days(as_of, -1, dt.date(2026, 1, 1), None) is None
    assert idle_days(as_of, 100, None, None) is None
    assert idle_days(as_of, 100, dt.date(2026, 7, 1), None) == 0  # never negative
    assert idle_days(as_of, 100, dt.date(2026, 6, 30), None) == 0


def test_split_flows():
    assert split_flows([]) == (0, 0)
    allocated, spent = split_flows([
        ("allocation", 300), ("reallocation", -50), ("reallocation", 20), ("fund_redesignation", 10),
        ("opening_balance", 5), ("subsidy_paid", -100), ("wage_paid", -7), ("recovery", 20), ("advance_paid", -3),
    ])
    assert (allocated, spent) == (285, 90)
    assert allocated - spent == 300 - 50 + 20 + 10 + 5 - 100 - 7 + 20 - 3  # the balance


def test_project_problems_are_all_reported():
    bad = ProjectIn("玫瑰", "", "tea", D1, -1, township="  ", standard_fen=0, end_on=D0)
    fields = [p.field for p in projects.project_problems(bad)]
    assert fields == ["code", "name", "industry", "township", "budget", "standard", "end_on"]
    assert projects.project_problems(ProjectIn("YT-2026/001", "玫瑰花", "rose", D1, 0)) == []


@pytest.mark.parametrize("code", ["export", "Export"])
def test_a_code_the_pages_use_as_a_path_is_refused(code):
    [problem] = projects.project_problems(ProjectIn(code, "出口", "rose", D1, 0))
    assert (problem.field, problem.value) == ("code", code) and "reserved" in problem.message
    assert projects.project_problems(ProjectIn("export-2026", "出口", "rose", D1, 0)) == []


# ---------------------------------------------------------------------------------------------
# A county: users, two funds received into the pool

USERS = {
    "fo": ("finance_officer", None), "fo2": ("finance_officer", None), "ap": ("approver", None),
    "ap2": ("approver", None), "insp": ("inspector", None), "lo": ("loan_officer", None), "adm": ("admin", None),
    "fo-a": ("finance_officer", A), "ap-a": ("approver", A), "fo-b": ("finance_officer", B),
}


@pytest.fixture
def u(engine) -> Users:
    users = Users(engine, USERS)
    registry.upsert_townships(engine, SYSTEM, [TownshipIn("AQ", A), TownshipIn("MGL", B)])
    services.register_fund(engine, SYSTEM, "CENTRAL", "中央衔接资金", "central", "新财农〔2026〕1号")
    services.register_fund(engine, SYSTEM, "TJ", "天津援疆资金", "partner_aid", "津援〔2026〕7号")
    services.receive_fund(engine, SYSTEM, "rcv-central", "CENTRAL", 1_000_000, D0)
    services.receive_fund(engine, SYSTEM, "rcv-tj", "TJ", 500_000, D0)
    return users


def new_project(engine, u, code: str, *, township: str | None = None, status: str = "implementing",
                industry: str = "rose", creator: str = "fo") -> projects.ProjectView:
    """A project created by `creator`, approved by ap and moved on to `status` by fo."""
    view = projects.create_project(engine, u[creator], ProjectIn(
        code, f"项目{code}", industry, D0, 2_000_000, township=township, implementer="合作社",
        standard_fen=300_000, end_on=dt.date(2026, 12, 31), performance_target="带动 100 户增收"))
    path = ["approved", "implementing", "completed", "accepted", "closed"]
    for step in path[:path.index(status) + 1] if status in path else []:
        who = u["ap"] if step in ("approved", "accepted") else u["fo"]
        view = projects.change_project_status(engine, who, code, step, f"to {step}")
    return view


def approved(engine, u, key: str, code: str, fund: str, amount: int, on: dt.date = D1) -> projects.RequestView:
    req = projects.prepare_allocation(engine, u["fo"], key, code, fund, amount, on)
    return projects.approve_request(engine, u["ap"], req.id)


def head_seq(engine) -> int:
    with engine.connect() as c:
        return int(c.execute(text("SELECT seq FROM journal_head")).scalar_one())


def balances(engine) -> dict[tuple[str, str], int]:
    with read_only(engine) as s:
        rows = journal.trial_balance(s)
    return {(r.account, r.fund): r.balance_fen for r in rows}


def audits(engine, action: str | None = None) -> list:
    with engine.connect() as c:
        stmt = select(AUDIT).order_by(AUDIT.c.id)
        if action:
            stmt = stmt.where(AUDIT.c.action == action)
        return c.execute(stmt).all()


def count(engine, table, *where) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def post(engine, draft: EntryDraft) -> int:
    with unit_of_work(engine) as s:
        ensure_accounts(s, {p.account: draft.effective_date for p in draft.postings})
        [posted] = journal.post(s, [draft])
    return posted.seq


def pay(engine, key: str, code: str, fund: str, amount: int, on: dt.date) -> int:
    """A cash subsidy from the project (the payment flows are not built yet: a hand-made entry)."""
    return post(engine, EntryDraft(key, on, "subsidy_paid", "一卡通", (
        PostingDraft("Expenses:Subsidy:Rose", fund, amount, "H0001"),
        PostingDraft(projects.flows.project_account(code), fund, -amount))))


# ---------------------------------------------------------------------------------------------
# Lifecycle


def test_a_project_moves_forward_only_with_its_history(engine, u):
    p = projects.create_project(engine, u["fo"], ProjectIn("YT-ROSE-01", "玫瑰花种植", "rose", D0, 5_000_000,
                                                            township=A, standard_fen=300_000))
    assert (p.status, p.account_code, p.created_by, p.township) == ("planned", "Assets:Project:YT-ROSE-01", "fo", A)
    with pytest.raises(PermissionDenied):
        projects.approve_project(engine, u["fo"], "YT-ROSE-01", "我批")  # a finance officer does not approve
    with pytest.raises(LedgerRefusal, match="moves on to approved"):
        projects.change_project_status(engine, u["fo"], "YT-ROSE-01", "implementing", "先干")  # no skipping
    with pytest.raises(LedgerRefusal, match="needs a reason"):
        projects.approve_project(engine, u["ap"], "YT-ROSE-01", "  ")
    assert projects.approve_project(engine, u["ap"], "YT-ROSE-01", "县政府常务会批复").status == "approved"
    with pytest.raises(LedgerRefusal, match="already approved"):
        projects.approve_project(engine, u["ap2"], "YT-ROSE-01", "again")
    with pytest.raises(LedgerRefusal, match="moves to one of"):
        projects.change_project_status(engine, u["fo"], "YT-ROSE-01", "planned", "back")  # never backwards
    for to, who in (("implementing", "fo"), ("completed", "fo"), ("accepted", "ap2"), ("closed", "fo")):
        assert projects.change_project_status(engine, u[who], "YT-ROSE-01", to, f"理由 {to}").status == to
    for to in ("implementing", "accepted", "closed"):
        with pytest.raises((LedgerRefusal, PermissionDenied)):
            projects.change_project_status(engine, u["ap" if to == "accepted" else "fo"], "YT-ROSE-01", to, "x")

    d = projects.project_detail(engine, u["insp"], "YT-ROSE-01")
    assert [(h.from_status, h.to_status, h.changed_by, h.reason) for h in d.history] == [
        (None, "planned", "fo", "registered 入库"),
        ("planned", "approved", "ap", "县政府常务会批复"),
        ("approved", "implementing", "fo", "理由 implementing"),
        ("implementing", "completed", "fo", "理由 completed"),
        ("completed", "accepted", "ap2", "理由 accepted"),
        ("accepted", "closed", "fo", "理由 closed"),
    ]
    assert all(isinstance(h.changed_at, dt.datetime) for h in d.history)
    created = audits(engine, "project.create")
    assert len(created) == 1 and json.loads(created[0].after)["account"] == "Assets:Project:YT-ROSE-01"
    moves = [(json.loads(a.before)["status"], json.loads(a.after)["status"], a.actor_id)
             for a in audits(engine, "project.status")]
    assert moves == [("planned", "approved", u.ids["ap"]), ("approved", "implementing", u.ids["fo"]),
                     ("implementing", "completed", u.ids["fo"]), ("completed", "accepted", u.ids["ap2"]),
                     ("accepted", "closed", u.ids["fo"])]


def test_the_creator_cannot_approve_or_accept_its_own_project(engine, u):
    # SYSTEM holds every project permission: segregation is not a matter of permissions.
    projects.create_project(engine, SYSTEM, ProjectIn("SYS-1", "系统录入项目", "sheep", D0, 0))
    with pytest.raises(PermissionDenied, match="it created"):
        projects.approve_project(engine, SYSTEM, "SYS-1", "自批")
    projects.approve_project(engine, u["ap"], "SYS-1", "批复")
    projects.change_project_status(engine, SYSTEM, "SYS-1", "implementing", "开工")
    projects.change_project_status(engine, SYSTEM, "SYS-1", "completed", "完工")
    with pytest.raises(PermissionDenied, match="it created"):
        projects.change_project_status(engine, SYSTEM, "SYS-1", "accepted", "自验")
    assert projects.change_project_status(engine, u["ap"], "SYS-1", "accepted", "验收合格").status == "accepted"
    assert count(engine, PSTATUS) == 5 and len(audits(engine, "project.status")) == 4


def test_a_planned_or_approved_project_may_be_withdrawn_but_not_one_under_way(engine, u):
    new_project(engine, u, "W1", status="planned")
    assert projects.change_project_status(engine, u["fo"], "W1", "closed", "撤销").status == "closed"
    new_project(engine, u, "W2", status="approved")
    assert projects.change_project_status(engine, u["fo"], "W2", "closed", "撤销").status == "closed"
    new_project(engine, u, "W3", status="implementing")
    with pytest.raises(LedgerRefusal, match="moves on to completed"):
        projects.change_project_status(engine, u["fo"], "W3", "closed", "终止")


def test_closing_takes_an_empty_project_with_nothing_pending(engine, u):
    new_project(engine, u, "C1", status="accepted")
    new_project(engine, u, "C2")
    with unit_of_work(engine) as s:  # money allocated while it was implementing (a direct posting)
        ensure_accounts(s, {"Assets:Project:C1": D1})
        journal.post(s, [projects.flows.allocation("old-c1", "C1", "CENTRAL", 700, D1)])
    with pytest.raises(LedgerRefusal, match="still holds 7.00 in fund CENTRAL"):
        projects.change_project_status(engine, u["fo"], "C1", "closed", "关闭")
    req = projects.prepare_reallocation(engine, u["fo"], "move-c1", "C1", "C2", "CENTRAL", 700, D2)
    with pytest.raises(LedgerRefusal, match="still holds"):
        projects.change_project_status(engine, u["fo"], "C1", "closed", "关闭")
    projects.approve_request(engine, u["ap"], req.id)
    with pytest.raises(LedgerRefusal, match="receives money"):  # an accepted project takes nothing back
        projects.prepare_reallocation(engine, u["fo"], "back-c1", "C2", "C1", "CENTRAL", 1, D2)
    assert projects.change_project_status(engine, u["fo"], "C1", "closed", "关闭").status == "closed"


def test_closing_waits_for_pending_requests(engine, u):
    new_project(engine, u, "C3", status="approved")
    req = projects.prepare_allocation(engine, u["fo"], "c3-a", "C3", "CENTRAL", 100, D1)
    with pytest.raises(LedgerRefusal, match="pending"):
        projects.change_project_status(engine, u["fo"], "C3", "closed", "撤销")
    projects.reject_request(engine, u["ap"], req.id, "项目撤销")
    assert projects.change_project_status(engine, u["fo"], "C3", "closed", "撤销").status == "closed"


# ---------------------------------------------------------------------------------------------
# Codes


def test_codes_that_would_share_an_account_are_refused(engine, u):
    projects.create_project(engine, u["fo"], ProjectIn("xm_1", "项目一", "grape", D0, 100))
    with pytest.raises(LedgerRefusal, match="already the account of project xm_1") as exc:
        projects.create_project(engine, u["fo"], ProjectIn("xm/1", "项目一撇", "grape", D0, 100))
    assert exc.value.problems[0].field == "code"
    with pytest.raises(LedgerRefusal, match="already registered"):
        projects.create_project(engine, u["fo"], ProjectIn("xm_1", "项目一", "grape", D0, 100))
    projects.create_project(engine, u["fo"], ProjectIn("XM_1", "大写", "grape", D0, 100))  # Assets:Project:XM-1
    assert count(engine, PSTATUS) == 2 and len(audits(engine, "project.create")) == 2


def test_a_project_adopts_an_account_posted_before_the_library(engine, u):
    services.allocate(engine, SYSTEM, "legacy", "OLD-1", "CENTRAL", 5_000, D1)
    new_project(engine, u, "OLD-1")
    d = projects.project_detail(engine, u["fo"], "OLD-1", as_of=D2)
    assert (d.allocated_fen, d.balance_fen, d.first_allocation_on) == (5_000, 5_000, D1)


# ---------------------------------------------------------------------------------------------
# Maker-checker


def test_the_preparer_cannot_approve_and_the_approval_posts_with_maker_and_checker(engine, u):
    new_project(engine, u, "P1")
    req = projects.prepare_allocation(engine, u["fo"], "req-1", "P1", "CENTRAL", 300_000, D1, "玫瑰花第一批")
    assert (req.status, req.kind, req.prepared_by, req.created, req.entry_seq) == ("pending", "allocation", "fo",
                                                                                  True, None)
    seq0 = head_seq(engine)
    with pytest.raises(PermissionDenied):
        projects.approve_request(engine, u["fo"], req.id)  # no fund.approve
    with pytest.raises(PermissionDenied):
        projects.approve_request(engine, u["fo2"], req.id)
    # Someone holding both permissions still cannot approve what it prepared.
    own = projects.prepare_allocation(engine, SYSTEM, "req-sys", "P1", "CENTRAL", 1, D1)
    with pytest.raises(PermissionDenied, match="it prepared"):
        projects.approve_request(engine, SYSTEM, own.id)
    with pytest.raises(PermissionDenied, match="it prepared"):
        projects.reject_request(engine, SYSTEM, own.id, "自己驳回")
    assert head_seq(engine) == seq0

    done = projects.approve_request(engine, u["ap"], req.id)
    assert (done.status, done.decided_by, done.entry_seq) == ("approved", "ap", seq0 + 1)
    with engine.connect() as c:
        e = c.execute(select(ENTRY).where(ENTRY.c.seq == done.entry_seq)).one()
    assert (e.kind, e.maker_id, e.checker_id, e.memo) == ("allocation", u.ids["fo"], u.ids["ap"], "玫瑰花第一批")
    bal = balances(engine)
    assert bal[("Assets:Project:P1", "CENTRAL")] == 300_000 and bal[(POOL, "CENTRAL")] == 700_000

    # A retry by the same approver returns the request as it is; nothing more is posted or audited.
    n_audit = len(audits(engine))
    assert projects.approve_request(engine, u["ap"], req.id) == done
    assert head_seq(engine) == seq0 + 1 and len(audits(engine)) == n_audit
    with pytest.raises(LedgerRefusal, match="already approved"):
        projects.approve_request(engine, u["ap2"], req.id)
    with pytest.raises(LedgerRefusal, match="already approved"):
        projects.reject_request(engine, u["ap2"], req.id, "晚了")
    with pytest.raises(LedgerRefusal, match="no such allocation request"):
        projects.approve_request(engine, u["ap"], 9999)


def test_a_reallocation_is_prepared_and_approved_by_two_users(engine, u):
    new_project(engine, u, "P1")
    new_project(engine, u, "P2", industry="grape")
    approved(engine, u, "a1", "P1", "TJ", 200_000)
    with pytest.raises(PermissionDenied):
        projects.prepare_reallocation(engine, u["ap"], "m1", "P1", "P2", "TJ", 1, D2)
    with pytest.raises(LedgerRefusal, match="two different projects"):
        projects.prepare_reallocation(engine, u["fo"], "m0", "P1", "P1", "TJ", 1, D2)
    req = projects.prepare_reallocation(engine, u["fo2"], "m1", "P1", "P2", "TJ", 80_000, D2, "调整")
    assert (req.kind, req.from_project, req.project) == ("reallocation", "P1", "P2")
    done = projects.approve_request(engine, u["ap2"], req.id)
    with engine.connect() as c:
        e = c.execute(select(ENTRY).where(ENTRY.c.seq == done.entry_seq)).one()
    assert (e.kind, e.maker_id, e.checker_id) == ("reallocation", u.ids["fo2"], u.ids["ap2"])
    bal = balances(engine)
    assert bal[("Assets:Project:P1", "TJ")] == 120_000 and bal[("Assets:Project:P2", "TJ")] == 80_000
    assert [json.loads(a.after)["entry"] for a in audits(engine, "reallocation.approve")] == [done.entry_seq]
    assert len(audits(engine, "reallocation.prepare")) == 1


def test_a_rejected_request_posts_nothing(engine, u):
    new_project(engine, u, "P1")
    req = projects.prepare_allocation(engine, u["fo"], "r1", "P1", "CENTRAL", 10_000, D1)
    seq0, bal0 = head_seq(engine), balances(engine)
    with pytest.raises(LedgerRefusal, match="needs a reason"):
        projects.reject_request(engine, u["ap"], req.id, "")
    with pytest.raises(PermissionDenied):
        projects.reject_request(engine, u["fo"], req.id, "不要了")
    out = projects.reject_request(engine, u["ap"], req.id, "文号不符")
    assert (out.status, out.decided_by, out.reason, out.entry_seq) == ("rejected", "ap", "文号不符", None)
    assert projects.reject_request(engine, u["ap"], req.id, "文号不符") == out  # a retry
    with pytest.raises(LedgerRefusal, match="already rejected"):
        projects.approve_request(engine, u["ap2"], req.id)
    assert head_seq(engine) == seq0 and balances(engine) == bal0
    [rej] = audits(engine, "allocation.reject")
    assert (rej.actor_id, rej.object_type, rej.object_id) == (u.ids["ap"], "allocation_request", str(req.id))
    assert json.loads(rej.after) == {"status": "rejected", "reason": "文号不符"}
    assert audits(engine, "allocation.approve") == []


def test_preparing_is_idempotent_by_key(engine, u):
    new_project(engine, u, "P1")
    new_project(engine, u, "P2")
    first = projects.prepare_allocation(engine, u["fo"], "k-1", "P1", "CENTRAL", 500, D1, "备注")
    again = projects.prepare_allocation(engine, u["fo"], "k-1", "P1", "CENTRAL", 500, D1, "备注")
    assert again.id == first.id and first.created and not again.created
    assert count(engine, REQUEST) == 1 and len(audits(engine, "allocation.prepare")) == 1
    for call in (
        lambda: projects.prepare_allocation(engine, u["fo"], "k-1", "P1", "CENTRAL", 501, D1, "备注"),
        lambda: projects.prepare_allocation(engine, u["fo"], "k-1", "P2", "CENTRAL", 500, D1, "备注"),
        lambda: projects.prepare_allocation(engine, u["fo"], "k-1", "P1", "TJ", 500, D1, "备注"),
        lambda: projects.prepare_allocation(engine, u["fo"], "k-1", "P1", "CENTRAL", 500, D2, "备注"),
        lambda: projects.prepare_allocation(engine, u["fo2"], "k-1", "P1", "CENTRAL", 500, D1, "备注"),
        lambda: projects.prepare_reallocation(engine, u["fo"], "k-1", "P2", "P1", "CENTRAL", 500, D1, "备注"),
    ):
        with pytest.raises(LedgerRefusal, match="different details"):
            call()
    # Once decided, a retry still returns the request as it stands.
    projects.approve_request(engine, u["ap"], first.id)
    replay = projects.prepare_allocation(engine, u["fo"], "k-1", "P1", "CENTRAL", 500, D1, "备注")
    assert (replay.id, replay.status, replay.created) == (first.id, "approved", False)
    assert count(engine, REQUEST) == 1


def test_prepare_refuses_bad_input(engine, u):
    new_project(engine, u, "P1")
    with pytest.raises(LedgerRefusal) as exc:
        projects.prepare_allocation(engine, u["fo"], "", "P1", "CENTRAL", 0, D1)
    assert [p.field for p in exc.value.problems] == ["key", "amount"]
    with pytest.raises(LedgerRefusal, match="unknown fund"):
        projects.prepare_allocation(engine, u["fo"], "x1", "P1", "NOPE", 1, D1)
    with pytest.raises(LedgerRefusal, match="no such project"):
        projects.prepare_allocation(engine, u["fo"], "x2", "P9", "CENTRAL", 1, D1)
    for who in ("ap", "insp", "lo", "adm"):
        with pytest.raises(PermissionDenied):
            projects.prepare_allocation(engine, u[who], "x3", "P1", "CENTRAL", 1, D1)
    assert count(engine, REQUEST) == 0


# ---------------------------------------------------------------------------------------------
# Limits and statuses


def test_allocating_more_than_the_pool_holds_in_that_fund_changes_nothing(engine, u):
    new_project(engine, u, "P1")
    # The pool holds 10,000.00 CENTRAL and 5,000.00 TJ: 6,000.00 of TJ is too much though 15,000.00 is there.
    too_much = projects.prepare_allocation(engine, u["fo"], "big", "P1", "TJ", 600_000, D1)
    seq0, bal0, n_audit = head_seq(engine), balances(engine), len(audits(engine))
    with pytest.raises(LedgerRefusal, match="may not go below zero") as exc:
        projects.approve_request(engine, u["ap"], too_much.id)
    assert exc.value.problems[0].where == f"allocation request {too_much.id}"
    assert (head_seq(engine), balances(engine), len(audits(engine))) == (seq0, bal0, n_audit)
    assert projects.get_request(engine, u["ap"], too_much.id).status == "pending"

    exact = projects.prepare_allocation(engine, u["fo"], "exact", "P1", "TJ", 500_000, D1)
    projects.approve_request(engine, u["ap"], exact.id)  # down to zero is fine
    assert (POOL, "TJ") not in balances(engine)


def test_a_reallocation_cannot_take_more_than_the_giving_project_holds(engine, u):
    new_project(engine, u, "P1")
    new_project(engine, u, "P2")
    approved(engine, u, "a1", "P1", "CENTRAL", 1_000)
    req = projects.prepare_reallocation(engine, u["fo"], "m1", "P1", "P2", "CENTRAL", 1_001, D2)
    seq0 = head_seq(engine)
    with pytest.raises(LedgerRefusal, match="Assets:Project:P1 in fund CENTRAL would go to -0.01"):
        projects.approve_request(engine, u["ap"], req.id)
    assert head_seq(engine) == seq0
    with pytest.raises(LedgerRefusal, match="may not go below zero"):  # P1 holds no TJ at all
        projects.approve_request(engine, u["ap"], projects.prepare_reallocation(
            engine, u["fo"], "m2", "P1", "P2", "TJ", 1, D2).id)


def test_only_an_approved_or_implementing_project_receives_money(engine, u):
    new_project(engine, u, "PL", status="planned")
    new_project(engine, u, "AP", status="approved")
    new_project(engine, u, "IM", status="implementing")
    new_project(engine, u, "CL", status="planned")
    projects.change_project_status(engine, u["fo"], "CL", "closed", "撤销")
    for code in ("PL", "CL"):
        with pytest.raises(LedgerRefusal, match="only an approved or implementing project receives money"):
            projects.prepare_allocation(engine, u["fo"], f"to-{code}", code, "CENTRAL", 100, D1)
        with pytest.raises(LedgerRefusal, match="receives money"):
            projects.prepare_reallocation(engine, u["fo"], f"mv-{code}", "IM", code, "CENTRAL", 100, D1)
        with pytest.raises(LedgerRefusal, match="receives money"):  # the direct path too
            services.allocate(engine, SYSTEM, f"direct-{code}", code, "CENTRAL", 100, D1)
    approved(engine, u, "to-AP", "AP", "CENTRAL", 100)
    # A request prepared while the project was implementing is refused once it is completed.
    late = projects.prepare_allocation(engine, u["fo"], "late", "IM", "CENTRAL", 100, D1)
    projects.change_project_status(engine, u["fo"], "IM", "completed", "完工")
    seq0 = head_seq(engine)
    with pytest.raises(LedgerRefusal, match="the project is completed"):
        projects.approve_request(engine, u["ap"], late.id)
    assert head_seq(engine) == seq0
    assert count(engine, REQUEST, REQUEST.c.status == "approved") == 1


# ---------------------------------------------------------------------------------------------
# Figures


def test_balances_by_fund_progress_and_idle_days(engine, u):
    new_project(engine, u, "P1", township=A)
    new_project(engine, u, "P2", township=A)
    approved(engine, u, "a1", "P1", "CENTRAL", 300_000, D1)
    approved(engine, u, "a2", "P1", "TJ", 200_000, D2)
    projects.approve_request(engine, u["ap"], projects.prepare_reallocation(
        engine, u["fo"], "m1", "P1", "P2", "CENTRAL", 50_000, D3).id)
    pay_seq = pay(engine, "pay-1", "P1", "CENTRAL", 100_000, D4)

    d = projects.project_detail(engine, u["insp"], "P1", as_of=dt.date(2026, 3, 30))
    assert [(f.fund, f.allocated_fen, f.spent_fen, f.balance_fen) for f in d.by_fund] == [
        ("CENTRAL", 250_000, 100_000, 150_000), ("TJ", 200_000, 0, 200_000)]
    assert (d.allocated_fen, d.spent_fen, d.balance_fen) == (450_000, 100_000, 350_000)
    assert d.progress_pct == Decimal("22.2")  # 100000 / 450000 = 22.22…%
    assert (d.first_allocation_on, d.last_payment_on, d.idle_days) == (D1, D4, 10)
    # The stored balances agree with the journal, and allocated - spent = balance in each fund.
    now = projects.project_detail(engine, u["insp"], "P1")
    assert {(f.fund, f.balance_fen) for f in now.by_fund} == {
        (f, b) for (a, f), b in balances(engine).items() if a == "Assets:Project:P1"}
    assert all(f.allocated_fen - f.spent_fen == f.balance_fen for f in now.by_fund)
    assert now.project.balance_fen == 350_000

    # As of a date before the payment and the reallocation.
    early = projects.project_detail(engine, u["insp"], "P1", as_of=D2)
    assert [(f.fund, f.allocated_fen, f.spent_fen, f.balance_fen) for f in early.by_fund] == [
        ("CENTRAL", 300_000, 0, 300_000), ("TJ", 200_000, 0, 200_000)]
    assert (early.progress_pct, early.last_payment_on, early.idle_days) == (Decimal("0.0"), None, 3)  # D2 - D1

    # The bank returns the payment: its reversal brings the money back and it no longer counts as paid.
    with unit_of_work(engine) as s:
        journal.post(s, [reversal_of("pay-1-rev", dt.date(2026, 3, 25), "退票", pay_seq,
                                     journal.entry_postings(s, pay_seq))])
    back = projects.project_detail(engine, u["insp"], "P1", as_of=dt.date(2026, 3, 30))
    assert (back.spent_fen, back.balance_fen, back.progress_pct) == (0, 450_000, Decimal("0.0"))
    assert (back.last_payment_on, back.idle_days) == (None, 28)  # since the first allocation, D1
    assert projects.project_detail(engine, u["insp"], "P1", as_of=D4).last_payment_on == D4  # not yet reversed

    p2 = projects.project_detail(engine, u["insp"], "P2", as_of=dt.date(2026, 3, 30))
    assert [(f.fund, f.allocated_fen, f.spent_fen, f.balance_fen) for f in p2.by_fund] == [
        ("CENTRAL", 50_000, 0, 50_000)]
    assert (p2.progress_pct, p2.first_allocation_on, p2.idle_days) == (Decimal("0.0"), D3, 20)
    assert [r.kind for r in p2.requests] == ["reallocation"]


def test_a_spent_out_project_is_not_idle_and_an_unfunded_one_has_no_progress(engine, u):
    new_project(engine, u, "P1")
    new_project(engine, u, "P0")
    approved(engine, u, "a1", "P1", "CENTRAL", 1_000, D1)
    pay(engine, "pay-all", "P1", "CENTRAL", 1_000, D2)
    d = projects.project_detail(engine, u["fo"], "P1", as_of=D4)
    assert (d.balance_fen, d.progress_pct, d.idle_days) == (0, Decimal("100.0"), None)
    empty = projects.project_detail(engine, u["fo"], "P0", as_of=D4)
    assert (empty.by_fund, empty.allocated_fen, empty.progress_pct, empty.idle_days) == ([], 0, None, None)
    assert projects.project_detail(engine, u["fo"], "NOPE") is None


# ---------------------------------------------------------------------------------------------
# Reading, permissions, township scope


def test_the_project_list_filters_and_pages(engine, u):
    new_project(engine, u, "L1", township=A, industry="rose")
    new_project(engine, u, "L2", township=A, industry="sheep", status="planned")
    new_project(engine, u, "L3", township=B, industry="rose")
    new_project(engine, u, "L4", industry="interest_subsidy", status="approved")

    def codes(f=ProjectFilter(), who="insp", **kw):
        return [p.code for p in projects.list_projects(engine, u[who], f, **kw).items]

    assert codes() == ["L1", "L2", "L3", "L4"]
    assert codes(ProjectFilter(industry="rose")) == ["L1", "L3"]
    assert codes(ProjectFilter(township=A)) == ["L1", "L2"]
    assert codes(ProjectFilter(township="AQ")) == ["L1", "L2"]  # by its code too
    assert codes(ProjectFilter(status="implementing")) == ["L1", "L3"]
    assert codes(ProjectFilter(industry="rose", township=B)) == ["L3"]
    assert codes(ProjectFilter(q="项目L4")) == ["L4"]
    page = projects.list_projects(engine, u["lo"], ProjectFilter(), page=2, page_size=3)
    assert ([p.code for p in page.items], page.total, page.pages) == (["L4"], 4, 2)
    with pytest.raises(PermissionDenied):
        projects.list_projects(engine, u["adm"])
    with pytest.raises(PermissionDenied):
        projects.create_project(engine, u["insp"], ProjectIn("X", "x", "rose", D0, 0))


def test_a_scoped_user_sees_its_township_and_county_wide_projects_and_changes_only_its_own(engine, u):
    new_project(engine, u, "PA", township=A)
    new_project(engine, u, "PB", township=B)
    new_project(engine, u, "PC")  # county-wide
    fo_a, ap_a = u["fo-a"], u["ap-a"]

    assert [p.code for p in projects.list_projects(engine, fo_a).items] == ["PA", "PC"]
    assert [p.code for p in projects.list_projects(engine, u["fo-b"]).items] == ["PB", "PC"]
    assert projects.project_detail(engine, fo_a, "PB") is None
    assert projects.project_detail(engine, fo_a, "PC").project.code == "PC"

    # Creating: its own township only.
    projects.create_project(engine, fo_a, ProjectIn("PA2", "乡项目", "rose", D0, 0, township=A))
    for township in (B, None):
        with pytest.raises(PermissionDenied):
            projects.create_project(engine, fo_a, ProjectIn("PX", "x", "rose", D0, 0, township=township))
    # Moving a status: not a county-wide project, and another township's reads as missing.
    with pytest.raises(PermissionDenied):
        projects.change_project_status(engine, fo_a, "PC", "completed", "完工")
    with pytest.raises(LedgerRefusal, match="no such project"):
        projects.change_project_status(engine, fo_a, "PB", "completed", "完工")

    # Requests: prepared and decided only for its own township's projects.
    mine = projects.prepare_allocation(engine, fo_a, "a-1", "PA", "CENTRAL", 100, D1)
    with pytest.raises(PermissionDenied):
        projects.prepare_allocation(engine, fo_a, "a-2", "PC", "CENTRAL", 100, D1)
    with pytest.raises(LedgerRefusal, match="no such project"):
        projects.prepare_allocation(engine, fo_a, "a-3", "PB", "CENTRAL", 100, D1)
    with pytest.raises(PermissionDenied):  # county-wide money out of a township's reach
        projects.prepare_reallocation(engine, fo_a, "a-4", "PC", "PA", "CENTRAL", 100, D1)
    to_b = projects.prepare_allocation(engine, u["fo"], "c-1", "PB", "CENTRAL", 100, D1)
    to_c = projects.prepare_allocation(engine, u["fo"], "c-2", "PC", "CENTRAL", 100, D1)
    with pytest.raises(LedgerRefusal, match="no such allocation request"):
        projects.approve_request(engine, ap_a, to_b.id)
    with pytest.raises(PermissionDenied):
        projects.approve_request(engine, ap_a, to_c.id)
    assert projects.approve_request(engine, ap_a, mine.id).status == "approved"

    assert [r.key for r in projects.list_requests(engine, fo_a).items] == ["c-2", "a-1"]
    assert [r.key for r in projects.list_requests(engine, u["insp"], status="pending").items] == ["c-2", "c-1"]
    assert projects.get_request(engine, fo_a, to_b.id) is None
    assert projects.get_request(engine, fo_a, to_c.id).project == "PC"


def test_a_township_is_one_spelling_whether_given_by_code_or_name(engine, u):
    """Projects keep the registered name of their township, created or imported; a user created with a
    township's code is kept by its name, so its scope matches its projects."""
    view = projects.create_project(engine, u["fo"], ProjectIn("BYCODE", "按代码", "rose", D0, 0, township="AQ"))
    assert view.township == A
    with pytest.raises(LedgerRefusal, match="no such township in the registry") as exc:
        projects.create_project(engine, u["fo"], ProjectIn("NOWHERE", "x", "rose", D0, 0, township="火星乡"))
    assert exc.value.problems[0].field == "township" and exc.value.problems[0].value == "火星乡"

    admin = SYSTEM
    uid = users.create_user(engine, admin, "fo-aq", "finance_officer", "correct-horse-battery-9", township="AQ")
    with read_only(engine) as s:
        assert s.execute(text("SELECT township FROM app_user WHERE id = :i"), {"i": uid}).scalar_one() == A
    fo_aq = Actor(uid, "fo-aq", "finance_officer", A)
    assert projects.project_detail(engine, fo_aq, "BYCODE").project.code == "BYCODE"
    # Not registered yet: kept as typed (users may come before the registry) ...
    uid = users.create_user(engine, admin, "fo-qk", "finance_officer", "correct-horse-battery-9", township="QK")
    with read_only(engine) as s:
        assert s.execute(text("SELECT township FROM app_user WHERE id = :i"), {"i": uid}).scalar_one() == "QK"
    # ... and once the township is registered, the signed-in user's scope is its name, on a page and
    # through an API token, so the projects of its township (stored by name) are its own.
    registry.upsert_townships(engine, SYSTEM, [TownshipIn("QK", "乔克乡")])
    signed = users.sign_in(engine, "fo-qk", "correct-horse-battery-9")
    assert signed.actor.township == "乔克乡"
    session_actor = users.resolve_session(engine, signed.token).actor
    token_actor = users.resolve_api_token(engine, users.issue_api_token(engine, session_actor, "t"))
    assert session_actor.township == token_actor.township == "乔克乡"
    projects.create_project(engine, session_actor, ProjectIn("QK-1", "乔克项目", "rose", D0, 0, township="QK"))
    assert [p.code for p in projects.list_projects(engine, token_actor).items] == ["QK-1"]

    # A rename (by code) carries projects and users along; two townships swapping names stay apart.
    projects.create_project(engine, u["fo"], ProjectIn("IN-B", "木尕拉项目", "rose", D0, 0, township="MGL"))
    registry.upsert_townships(engine, SYSTEM, [TownshipIn("QK", "乔克镇", "zhen")])
    registry.upsert_townships(engine, SYSTEM, [TownshipIn("AQ", B), TownshipIn("MGL", A)])

    def township_of(code: str) -> str:
        return projects.project_detail(engine, SYSTEM, code).project.township

    assert (township_of("BYCODE"), township_of("IN-B"), township_of("QK-1")) == (B, A, "乔克镇")
    with read_only(engine) as s:
        stored = dict(s.execute(text("SELECT username, township FROM app_user "
                                     "WHERE username IN ('fo-aq', 'fo-qk')")).all())
    assert stored == {"fo-aq": B, "fo-qk": "QK"}  # fo-qk was stored by its code: the code did not change
    assert users.resolve_session(engine, signed.token).actor.township == "乔克镇"
    # One spelling, one township: a name that is another township's code (or the reverse) is refused.
    with pytest.raises(LedgerRefusal, match="code of another township"):
        registry.upsert_townships(engine, SYSTEM, [TownshipIn("OTHER", "QK", "xiang")])
    registry.upsert_townships(engine, SYSTEM, [TownshipIn("ZZ", "ZNAME", "xiang")])
    with pytest.raises(LedgerRefusal, match="name of another township"):
        registry.upsert_townships(engine, SYSTEM, [TownshipIn("ZNAME", "新城镇")])
    assert users.resolve_session(engine, signed.token).actor.township == "乔克镇"


def test_every_step_leaves_an_audit_row(engine, u):
    new_project(engine, u, "P1")
    new_project(engine, u, "P2")
    a = projects.prepare_allocation(engine, u["fo"], "a", "P1", "CENTRAL", 1_000, D1)
    projects.approve_request(engine, u["ap"], a.id)
    m = projects.prepare_reallocation(engine, u["fo"], "m", "P1", "P2", "CENTRAL", 400, D2)
    projects.approve_request(engine, u["ap"], m.id)
    r = projects.prepare_allocation(engine, u["fo"], "r", "P2", "TJ", 1, D2)
    projects.reject_request(engine, u["ap"], r.id, "不需要")
    rows = [(x.action, x.actor_id, x.object_type, x.object_id) for x in audits(engine)
            if x.object_type in ("project", "allocation_request")]
    fo, ap = u.ids["fo"], u.ids["ap"]
    assert rows == [
        ("project.create", fo, "project", "P1"), ("project.status", ap, "project", "P1"),
        ("project.status", fo, "project", "P1"),
        ("project.create", fo, "project", "P2"), ("project.status", ap, "project", "P2"),
        ("project.status", fo, "project", "P2"),
        ("allocation.prepare", fo, "allocation_request", str(a.id)),
        ("allocation.approve", ap, "allocation_request", str(a.id)),
        ("reallocation.prepare", fo, "allocation_request", str(m.id)),
        ("reallocation.approve", ap, "allocation_request", str(m.id)),
        ("allocation.prepare", fo, "allocation_request", str(r.id)),
        ("allocation.reject", ap, "allocation_request", str(r.id)),
    ]
    approve = json.loads(audits(engine, "allocation.approve")[0].after)
    assert approve["maker_id"] == fo and approve["checker_id"] == ap
    assert approve["postings"] == [["Assets:Project:P1", "CENTRAL", "10.00"], [POOL, "CENTRAL", "-10.00"]]


# ---------------------------------------------------------------------------------------------
# The database refuses what the services never do


def _refused(engine, sql: str, **params) -> None:
    with pytest.raises(DBAPIError):
        with engine.begin() as c:
            c.execute(text(sql), params)


def test_the_database_keeps_projects_and_their_history(engine, u):
    new_project(engine, u, "P1")
    pid = projects.project_detail(engine, u["fo"], "P1").project.id
    _refused(engine, "DELETE FROM project WHERE id = :i", i=pid)
    _refused(engine, "DELETE FROM project_status WHERE project_id = :i", i=pid)
    _refused(engine, "UPDATE project_status SET reason = 'x' WHERE project_id = :i", i=pid)
    _refused(engine, "UPDATE project SET status = 'approved' WHERE id = :i", i=pid)  # backwards
    _refused(engine, "UPDATE project SET status = 'completed' WHERE id = :i", i=pid)  # forward, but no history row
    _refused(engine, "UPDATE project SET project_code = 'P9' WHERE id = :i", i=pid)
    _refused(engine, "UPDATE project SET account_code = 'Assets:Project:P9' WHERE id = :i", i=pid)
    with engine.begin() as c:  # other fields may be corrected (the services do not yet)
        c.execute(text("UPDATE project SET name = '玫瑰花' WHERE id = :i"), {"i": pid})
    assert projects.project_detail(engine, u["fo"], "P1").project.name == "玫瑰花"


def test_the_database_keeps_decided_requests_and_four_eyes(engine, u):
    new_project(engine, u, "P1")
    req = projects.prepare_allocation(engine, u["fo"], "a", "P1", "CENTRAL", 100, D1)
    _refused(engine, "DELETE FROM allocation_request WHERE id = :i", i=req.id)
    _refused(engine, "UPDATE allocation_request SET amount_fen = 200 WHERE id = :i", i=req.id)
    stmt = text("UPDATE allocation_request SET status = 'rejected', decided_by = prepared_by, decided_at = :at, "
                "reason = 'self' WHERE id = :i").bindparams(bindparam("at", type_=DateTime))
    with pytest.raises(DBAPIError):  # the preparer deciding its own request
        with engine.begin() as c:
            c.execute(stmt, {"at": dt.datetime(2026, 3, 2), "i": req.id})
    projects.approve_request(engine, u["ap"], req.id)
    _refused(engine, "UPDATE allocation_request SET reason = 'x' WHERE id = :i", i=req.id)
    _refused(engine, "UPDATE allocation_request SET status = 'pending', decided_by = NULL, decided_at = NULL, "
                     "entry_seq = NULL WHERE id = :i", i=req.id)


# ---------------------------------------------------------------------------------------------
# PostgreSQL: two approvers at once


def test_two_approvers_at_once_post_one_entry(pg_engine):
    engine = pg_engine
    users = Users(engine, USERS)
    services.register_fund(engine, SYSTEM, "CENTRAL", "中央", "central")
    services.receive_fund(engine, SYSTEM, "rcv", "CENTRAL", 1_000, D0)
    new_project(engine, users, "P1")
    req = projects.prepare_allocation(engine, users["fo"], "a", "P1", "CENTRAL", 600, D1)
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def approve(name: str) -> None:
        barrier.wait()
        try:
            results[name] = projects.approve_request(engine, users[name], req.id)
        except LedgerRefusal as exc:
            results[name] = exc

    threads = [threading.Thread(target=approve, args=(n,)) for n in ("ap", "ap2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [v for v in results.values() if isinstance(v, projects.RequestView)]
    lost = [v for v in results.values() if isinstance(v, LedgerRefusal)]
    assert len(won) == 1 and len(lost) == 1 and "already approved" in str(lost[0])
    assert count(engine, ENTRY, ENTRY.c.kind == "allocation") == 1
    assert balances(engine)[("Assets:Project:P1", "CENTRAL")] == 600
