"""The finance dashboard's read model (ledger.dashboard; DESIGN.md §1, §4, §5, §7 R08).

The pure computations first, without a database (hand-computed figures); then the service on every
database lane, over a small county seeded through the real use cases (funds received, projects created
and approved, allocations, a reallocation, payments, a payment returned by the bank, an account posted
before the project library existed): the Sankey conserves money and its links are the allocations,
township progress is spent / allocated, idle balances come worst first, the figures agree with
ledger.projects.project_detail and the stored balances, the township scope and the permission hold,
and the exports carry the same figures and leave an audit row.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import select

from ledger import dashboard, journal, projects, registry, services
from ledger.chart import ensure_accounts
from ledger.dashboard import FlowGroup, FundMoney, ProjectMoney
from ledger.db import read_only, unit_of_work
from ledger.entries import EntryDraft, PostingDraft, reversal_of
from ledger.journal import LedgerRefusal
from ledger.models import AuditLog
from ledger.permissions import SYSTEM, PermissionDenied
from ledger.projects import ProjectIn, spending_progress
from ledger.registry import TownshipIn
from tests.helpers import Users

AUDIT = AuditLog.__table__
A, B = "阿羌乡", "木尕拉镇"
D0, D1, D2, D3, D4 = (dt.date(2026, 3, d) for d in (1, 2, 5, 10, 20))
LATER = dt.date(2026, 9, 30)


# ---------------------------------------------------------------------------------------------
# Pure computations


def pm(account: str, funds: dict[str, tuple[int, int]], industry: str | None = "rose", township: str | None = None,
       first: dt.date | None = D1, last: dt.date | None = None) -> ProjectMoney:
    """A project from {fund: (allocated, spent)}."""
    code = account.rsplit(":", 1)[-1]
    return ProjectMoney(f"Assets:Project:{code}", code, f"项目{code}", industry, township,
                        tuple(FundMoney(f, a, s) for f, (a, s) in sorted(funds.items())), first, last)


def test_fund_figures_follow_ledger_projects_rules():
    groups = [
        FlowGroup("CENTRAL", "allocation", None, 300, D1),
        FlowGroup("CENTRAL", "reallocation", None, -50, D3),  # given to another project
        FlowGroup("CENTRAL", "reversal", "allocation", -20, None),  # a reversed allocation: still funding
        FlowGroup("TJ", "allocation", None, 200, D2),
        FlowGroup("TJ", "reversal", "wage_paid", 30, D4),  # a bank return: spending, seen in the balance
        FlowGroup("TJ", "reversal", "reallocation", 10, D3),  # funding back in, but no arrival of money
        FlowGroup("TJ", "opening_balance", None, 7, D0),
    ]
    # CENTRAL: 230 allocated, 130 held, so 100 spent; TJ: 217 allocated, 252 held (a recovery came in).
    by_fund, first = dashboard.fund_figures(groups, {"CENTRAL": 130, "TJ": 252, "COUNTY": 0})
    assert by_fund == (FundMoney("CENTRAL", 230, 100), FundMoney("COUNTY", 0, 0), FundMoney("TJ", 217, -35))
    assert [f.balance_fen for f in by_fund] == [130, 0, 252]
    assert first == D0  # the opening balance arrived first; a reversal is no arrival
    # split_flows over every posting gives the same: allocated - spent = balance in each fund.
    assert projects.split_flows([("allocation", 300), ("reallocation", -50), ("allocation", -20),
                                 ("subsidy_paid", -100)]) == (230, 100)
    assert dashboard.fund_figures([], {}) == ((), None)
    assert dashboard.fund_figures([], {"TJ": 5}) == ((FundMoney("TJ", 0, -5),), None)


def test_the_sankey_conserves_money_and_its_links_are_the_figures():
    ps = [
        pm("P1", {"CENTRAL": (250, 100), "TJ": (200, 0)}, "rose", A),
        pm("P2", {"CENTRAL": (50, 0), "TJ": (100, 0)}, "sheep", B),
        pm("P3", {"CENTRAL": (400, 150)}, "welfare_post", None),
        pm("OLD", {"CENTRAL": (70, 0)}, None, None),
        pm("EMPTY", {}, "grape"),
    ]
    s = dashboard.sankey(ps, {"CENTRAL": "中央资金", "TJ": ""})
    links = {(k.source, k.target): k.amount_fen for k in s.links}
    assert links == {
        ("fund:CENTRAL", "project:Assets:Project:P1"): 250, ("fund:TJ", "project:Assets:Project:P1"): 200,
        ("project:Assets:Project:P1", "industry:rose"): 100, ("project:Assets:Project:P1", "unspent"): 350,
        ("fund:CENTRAL", "project:Assets:Project:P2"): 50, ("fund:TJ", "project:Assets:Project:P2"): 100,
        ("project:Assets:Project:P2", "unspent"): 150,  # nothing spent: no link to its industry
        ("fund:CENTRAL", "project:Assets:Project:P3"): 400, ("project:Assets:Project:P3", "industry:welfare_post"): 150,
        ("project:Assets:Project:P3", "unspent"): 250,
        ("fund:CENTRAL", "project:Assets:Project:OLD"): 70, ("project:Assets:Project:OLD", "unspent"): 70,
    }
    # Every project passes on what it was given; what leaves the funds is what the projects were allocated.
    for p in ps:
        key = f"project:{p.account}"
        assert sum(a for (src, t), a in links.items() if t == key) == p.allocated_fen
        assert sum(a for (src, t), a in links.items() if src == key) == p.allocated_fen
    assert sum(a for (src, _t), a in links.items() if src.startswith("fund:")) == sum(p.allocated_fen for p in ps)
    # Nodes: funds, projects by size, industries in DESIGN §5 order, the not-in-library one, the sink.
    assert [n.key for n in s.nodes] == [
        "fund:CENTRAL", "fund:TJ", "project:Assets:Project:P1", "project:Assets:Project:P3",
        "project:Assets:Project:P2", "project:Assets:Project:OLD", "industry:rose", "industry:welfare_post",
        "unspent"]
    assert [(n.kind, n.code, n.name) for n in s.nodes[:2]] == [("fund", "CENTRAL", "中央资金"), ("fund", "TJ", "TJ")]
    assert len({n.key for n in s.nodes}) == len(s.nodes)
    assert all(k.amount_fen > 0 for k in s.links)
    totals = dashboard.node_totals(s)
    assert (totals["fund:CENTRAL"], totals["fund:TJ"], totals[f"project:{ps[0].account}"], totals["industry:rose"],
            totals["unspent"]) == (770, 300, 450, 100, 350 + 150 + 250 + 70)


def test_the_sankey_merges_the_smallest_projects_and_keeps_the_totals():
    ps = [pm(f"P{i}", {"CENTRAL": (100 * (i + 1), 10 * i)}, "rose" if i % 2 else "grape") for i in range(6)]
    s = dashboard.sankey(ps, {}, max_projects=3)
    projects_shown = [n.code for n in s.nodes if n.kind == "project"]
    assert projects_shown == ["P5", "P4", "P3"]  # the three with the most allocated
    [other] = [n for n in s.nodes if n.kind == "other_projects"]
    assert other.projects == 3
    links = {(k.source, k.target): k.amount_fen for k in s.links}
    assert links[("fund:CENTRAL", "projects:other")] == 100 + 200 + 300
    assert links[("projects:other", "industry:grape")] == 0 + 20  # P0 and P2
    assert links[("projects:other", "industry:rose")] == 10  # P1
    assert links[("projects:other", "unspent")] == (100 + 200 + 300) - (0 + 10 + 20)
    assert sum(a for (src, _t), a in links.items() if src == "fund:CENTRAL") == sum(p.allocated_fen for p in ps)
    # One project left over is drawn as itself, not as "1 other project".
    s = dashboard.sankey(ps[:4], {}, max_projects=3)
    assert [n.kind for n in s.nodes].count("project") == 4 and "projects:other" not in {n.key for n in s.nodes}


def test_a_link_never_carries_a_negative_amount():
    # More taken back than given in one fund (a recovery paid into the project, then reallocated away).
    p = pm("P1", {"CENTRAL": (-30, -80), "TJ": (100, 40)})
    s = dashboard.sankey([p], {})
    links = {(k.source, k.target): k.amount_fen for k in s.links}
    assert links == {("fund:TJ", "project:Assets:Project:P1"): 100, ("project:Assets:Project:P1", "unspent"): 110}
    assert "fund:CENTRAL" not in {n.key for n in s.nodes}
    assert dashboard.sankey([], {}).links == () and dashboard.sankey([], {}).nodes == ()


def test_township_progress():
    ps = [
        pm("P1", {"CENTRAL": (250, 100), "TJ": (200, 0)}, "rose", A),
        pm("P4", {"CENTRAL": (300, 100)}, "grape", A),
        pm("P2", {"TJ": (100, 0)}, "sheep", B),
        pm("P3", {"CENTRAL": (3, 1)}, "welfare_post", None),
        pm("OLD", {"CENTRAL": (70, 70)}, None, None),
        pm("EMPTY", {}, "grape", B),
    ]
    rows = dashboard.township_progress(ps)
    assert [(t.township, t.in_library, t.projects, t.allocated_fen, t.spent_fen, t.balance_fen, t.progress_pct)
            for t in rows] == [
        (None, True, 1, 3, 1, 2, Decimal("33.3")),  # county-wide first
        *sorted([(A, True, 2, 750, 200, 550, Decimal("26.7")), (B, True, 2, 100, 0, 100, Decimal("0.0"))]),
        (None, False, 1, 70, 70, 0, Decimal("100.0")),  # accounts not in the library last
    ]
    assert all(t.progress_pct == spending_progress(t.spent_fen, t.allocated_fen) for t in rows)
    assert dashboard.township_progress([pm("Z", {}, "rose", A)])[0].progress_pct is None


def test_idle_levels_follow_rule_r08():
    assert [dashboard.idle_level(d) for d in (None, 0, 89, 90, 179, 180, 364, 365, 4000)] == [
        None, None, None, "warn", "warn", "flag", "flag", "severe", "severe"]


def test_idle_balances_come_worst_first_with_a_limit():
    day = dt.date(2026, 9, 30)
    ps = [
        pm("P1", {"CENTRAL": (250, 100), "TJ": (200, 0)}, first=D1, last=D4),  # 194 days
        pm("P2", {"CENTRAL": (50, 0), "TJ": (100, 0)}, first=D1),  # never paid: 212 days
        pm("P3", {"CENTRAL": (400, 150)}, first=D1, last=D4),  # 194 days, less money than P1
        pm("OLD", {"CENTRAL": (70, 0)}, None, first=D1),  # 212 days, less money than P2
        pm("SPENT", {"CENTRAL": (100, 100)}, first=D1, last=D2),  # holds nothing: not listed
        pm("RECOVERED", {"CENTRAL": (0, -5)}, first=None),  # holds money that never arrived: days unknown, last
        pm("FRESH", {"CENTRAL": (9, 0)}, first=dt.date(2026, 9, 1)),  # 29 days
    ]
    idle = dashboard.idle_balances(ps, day)
    assert [(r.code, r.idle_days, r.level) for r in idle.items] == [
        ("P2", 212, "flag"), ("OLD", 212, "flag"), ("P1", 194, "flag"), ("P3", 194, "flag"), ("FRESH", 29, None),
        ("RECOVERED", None, None)]
    assert (idle.total, idle.total_fen) == (6, 150 + 70 + 350 + 250 + 9 + 5)
    assert [(f.fund, f.balance_fen) for f in idle.items[2].by_fund] == [("CENTRAL", 150), ("TJ", 200)]
    short = dashboard.idle_balances(ps, day, limit=2)
    assert [r.code for r in short.items] == ["P2", "OLD"] and (short.total, short.total_fen) == (6, idle.total_fen)


def test_export_rows_are_the_tables():
    board = dashboard.dashboard_of([
        pm("P1", {"CENTRAL": (250_00, 100_00), "TJ": (200_00, 0)}, "rose", A, last=D4),
        pm("OLD", {"TJ": (70_00, 0)}, None, None),
    ], {}, None, LATER)
    headers, rows = dashboard.export_rows(board, "townships")
    assert headers[0] == "township 乡镇" and len(headers) == 6
    assert rows == [[A, 1, Decimal("450.00"), Decimal("100.00"), Decimal("350.00"), Decimal("22.2")],
                    ["未入库项目 not in the project library", 1, Decimal("70.00"), Decimal("0.00"), Decimal("70.00"),
                     Decimal("0.0")]]
    headers, rows = dashboard.export_rows(board, "idle")
    assert headers[5:7] == ["CENTRAL 结余", "TJ 结余"]
    assert rows[0] == ["OLD", "项目OLD", "未入库项目 not in the project library", "", Decimal("70.00"), None,
                       Decimal("70.00"), D1, None, 212, "flag"]
    assert rows[1][:7] == ["P1", "项目P1", A, "rose 玫瑰花", Decimal("350.00"), Decimal("150.00"), Decimal("200.00")]
    with pytest.raises(LedgerRefusal):
        dashboard.export_rows(board, "journal")


# ---------------------------------------------------------------------------------------------
# The service, on every database lane

USERS = {
    "fo": ("finance_officer", None), "ap": ("approver", None), "insp": ("inspector", None),
    "lo": ("loan_officer", None), "adm": ("admin", None), "fo-a": ("finance_officer", A),
    "ap-b": ("approver", B),
}


def post(engine, draft: EntryDraft) -> int:
    with unit_of_work(engine) as s:
        ensure_accounts(s, {p.account: draft.effective_date for p in draft.postings})
        [posted] = journal.post(s, [draft])
    return posted.seq


def pay(engine, key: str, code: str, fund: str, amount: int, on: dt.date, kind: str = "subsidy_paid",
        expense: str = "Expenses:Subsidy:Rose") -> int:
    """A payment out of the project (hand-made: the payment batches post entries of these kinds)."""
    return post(engine, EntryDraft(key, on, kind, "一卡通", (
        PostingDraft(expense, fund, amount, "H0001"),
        PostingDraft(projects.flows.project_account(code), fund, -amount))))


def new_project(engine, u: Users, code: str, industry: str, township: str | None, creator: str = "fo") -> None:
    projects.create_project(engine, u[creator], ProjectIn(code, f"项目{code}", industry, D0, 5_000_000,
                                                          township=township))
    projects.change_project_status(engine, u["ap"], code, "approved", "批复")
    projects.change_project_status(engine, u["fo"], code, "implementing", "开工")


@pytest.fixture
def county(engine) -> Users:
    """Two funds; projects in township A, in B, county-wide, one never funded; an account from before
    the library; allocations (one through an approved request), a reallocation A -> B, payments, and a
    payment the bank returned."""
    u = Users(engine, USERS)
    registry.upsert_townships(engine, SYSTEM, [TownshipIn("AQ", A), TownshipIn("MGL", B)])
    services.register_fund(engine, SYSTEM, "CENTRAL", "中央衔接资金", "central", "新财农〔2026〕1号")
    services.register_fund(engine, SYSTEM, "TJ", "天津援疆资金", "partner_aid")
    services.receive_fund(engine, SYSTEM, "rcv-c", "CENTRAL", 2_000_000, D0)
    services.receive_fund(engine, SYSTEM, "rcv-t", "TJ", 1_000_000, D0)
    new_project(engine, u, "ROSE", "rose", A)
    new_project(engine, u, "SHEEP", "sheep", B)
    new_project(engine, u, "WELF", "welfare_post", None)
    new_project(engine, u, "VEG", "vegetable", A)  # never funded
    for key, code, fund, amount, on in (("a-rose-c", "ROSE", "CENTRAL", 300_000, D1),
                                        ("a-rose-t", "ROSE", "TJ", 200_000, D2),
                                        ("a-sheep-t", "SHEEP", "TJ", 100_000, D1),
                                        ("a-welf-c", "WELF", "CENTRAL", 400_000, D1)):
        req = projects.prepare_allocation(engine, u["fo"], key, code, fund, amount, on)
        projects.approve_request(engine, u["ap"], req.id)
    req = projects.prepare_reallocation(engine, u["fo"], "m-rose-sheep", "ROSE", "SHEEP", "CENTRAL", 50_000, D3)
    projects.approve_request(engine, u["ap"], req.id)
    # Straight into the journal, as history scripts and the demo do: an account with no project.
    services.allocate(engine, SYSTEM, "a-old-c", "OLD-1", "CENTRAL", 70_000, D1)
    pay(engine, "pay-rose", "ROSE", "CENTRAL", 100_000, D4)
    pay(engine, "pay-welf", "WELF", "CENTRAL", 150_000, D4, "wage_paid", "Expenses:Wage:Forest")
    returned = pay(engine, "pay-sheep", "SHEEP", "TJ", 30_000, D3, expense="Expenses:Subsidy:Sheep")
    with unit_of_work(engine) as s:
        journal.post(s, [reversal_of("pay-sheep-rev", D4, "退票", returned, journal.entry_postings(s, returned))])
    return u


ACC = "Assets:Project:"
WANT_LINKS = {
    ("fund:CENTRAL", f"project:{ACC}ROSE"): 250_000, ("fund:TJ", f"project:{ACC}ROSE"): 200_000,
    (f"project:{ACC}ROSE", "industry:rose"): 100_000, (f"project:{ACC}ROSE", "unspent"): 350_000,
    ("fund:CENTRAL", f"project:{ACC}SHEEP"): 50_000, ("fund:TJ", f"project:{ACC}SHEEP"): 100_000,
    (f"project:{ACC}SHEEP", "unspent"): 150_000,
    ("fund:CENTRAL", f"project:{ACC}WELF"): 400_000, (f"project:{ACC}WELF", "industry:welfare_post"): 150_000,
    (f"project:{ACC}WELF", "unspent"): 250_000,
    ("fund:CENTRAL", f"project:{ACC}OLD-1"): 70_000, (f"project:{ACC}OLD-1", "unspent"): 70_000,
}


def links_of(board) -> dict[tuple[str, str], int]:
    return {(k.source, k.target): k.amount_fen for k in board.sankey.links}


def test_the_dashboard_of_a_county(engine, county):
    board = dashboard.finance_dashboard(engine, county["insp"], as_of=LATER)
    assert links_of(board) == WANT_LINKS
    assert (board.projects, board.truncated, board.scope) == (4, False, None)  # VEG has no account yet
    assert (board.allocated_fen, board.spent_fen, board.balance_fen) == (1_070_000, 250_000, 820_000)
    assert board.progress_pct == Decimal("23.4")  # 250000 / 1070000 = 23.36…%
    # The Sankey's fund links are the allocations, net of the reallocation; what leaves them is the pool's.
    assert sum(a for (s, _t), a in links_of(board).items() if s.startswith("fund:")) == board.allocated_fen
    names = {n.key: n.name for n in board.sankey.nodes}
    assert names["fund:CENTRAL"] == "中央衔接资金" and names[f"project:{ACC}ROSE"] == "项目ROSE"
    assert names[f"project:{ACC}OLD-1"] == "项目资金 OLD-1"  # the account's own name

    assert [(t.township, t.in_library, t.projects, t.allocated_fen, t.spent_fen, t.progress_pct)
            for t in board.townships] == [
        (None, True, 1, 400_000, 150_000, Decimal("37.5")),
        *sorted([(A, True, 1, 450_000, 100_000, Decimal("22.2")), (B, True, 1, 150_000, 0, Decimal("0.0"))]),
        (None, False, 1, 70_000, 0, Decimal("0.0")),
    ]
    assert all(t.progress_pct == spending_progress(t.spent_fen, t.allocated_fen) for t in board.townships)

    # Idle to 30 September: SHEEP and OLD-1 never paid (the returned payment does not count), since 2 March.
    assert [(r.code, r.balance_fen, r.first_allocation_on, r.last_payment_on, r.idle_days, r.level)
            for r in board.idle.items] == [
        ("SHEEP", 150_000, D1, None, 212, "flag"), ("OLD-1", 70_000, D1, None, 212, "flag"),
        ("ROSE", 350_000, D1, D4, 194, "flag"), ("WELF", 250_000, D1, D4, 194, "flag")]
    assert (board.idle.total, board.idle.total_fen) == (4, 820_000)
    assert [(f.fund, f.balance_fen) for f in board.idle.items[2].by_fund] == [("CENTRAL", 150_000), ("TJ", 200_000)]


def test_the_figures_agree_with_the_project_pages_and_the_stored_balances(engine, county):
    board = dashboard.finance_dashboard(engine, county["fo"])
    idle = {r.code: r for r in board.idle.items}
    for code in ("ROSE", "SHEEP", "WELF"):
        d = projects.project_detail(engine, county["fo"], code)
        r = idle[code]
        assert (r.balance_fen, r.first_allocation_on, r.last_payment_on, r.idle_days) == (
            d.balance_fen, d.first_allocation_on, d.last_payment_on, d.idle_days)
        assert [(f.fund, f.balance_fen) for f in r.by_fund] == [(f.fund, f.balance_fen) for f in d.by_fund
                                                                if f.balance_fen]
        node = f"project:{ACC}{code}"
        links = links_of(board)
        assert {s[len("fund:"):]: a for (s, t), a in links.items() if t == node} == {
            f.fund: f.allocated_fen for f in d.by_fund if f.allocated_fen > 0}
        assert sum(a for (s, t), a in links.items() if s == node and t.startswith("industry:")) == d.spent_fen
    with read_only(engine) as s:
        stored = {(r.account, r.fund): r.balance_fen for r in journal.trial_balance(s) if r.account.startswith(ACC)}
    assert {(r.account, f.fund): f.balance_fen for r in board.idle.items for f in r.by_fund} == stored


def test_as_of_a_date_before_the_reallocation_and_the_payments(engine, county):
    board = dashboard.finance_dashboard(engine, county["ap"], as_of=D2)
    assert links_of(board) == {
        ("fund:CENTRAL", f"project:{ACC}ROSE"): 300_000, ("fund:TJ", f"project:{ACC}ROSE"): 200_000,
        (f"project:{ACC}ROSE", "unspent"): 500_000,
        ("fund:TJ", f"project:{ACC}SHEEP"): 100_000, (f"project:{ACC}SHEEP", "unspent"): 100_000,
        ("fund:CENTRAL", f"project:{ACC}WELF"): 400_000, (f"project:{ACC}WELF", "unspent"): 400_000,
        ("fund:CENTRAL", f"project:{ACC}OLD-1"): 70_000, (f"project:{ACC}OLD-1", "unspent"): 70_000,
    }
    assert (board.as_of, board.day, board.spent_fen, board.progress_pct) == (D2, D2, 0, Decimal("0.0"))
    assert [(r.code, r.idle_days) for r in board.idle.items] == [
        ("ROSE", 3), ("WELF", 3), ("SHEEP", 3), ("OLD-1", 3)]  # all since 2 March; then the larger balance
    # Between the payment and its return, the payment counts.
    mid = dashboard.finance_dashboard(engine, county["ap"], as_of=D3)
    sheep = next(t for t in mid.townships if t.township == B)
    assert (sheep.spent_fen, sheep.progress_pct) == (30_000, Decimal("20.0"))
    assert next(r for r in mid.idle.items if r.code == "SHEEP").last_payment_on == D3


def test_a_township_user_sees_its_township_and_county_wide_projects(engine, county):
    board = dashboard.finance_dashboard(engine, county["fo-a"], as_of=LATER)
    assert board.scope == A
    assert links_of(board) == {k: v for k, v in WANT_LINKS.items()
                               if f"{ACC}ROSE" in k[0] + k[1] or f"{ACC}WELF" in k[0] + k[1]}
    assert [(t.township, t.allocated_fen) for t in board.townships] == [(None, 400_000), (A, 450_000)]
    assert [r.code for r in board.idle.items] == ["ROSE", "WELF"]
    other = dashboard.finance_dashboard(engine, county["ap-b"], as_of=LATER)
    assert {n.code for n in other.sankey.nodes if n.kind == "project"} == {"SHEEP", "WELF"}
    assert other.allocated_fen == 550_000


def test_only_finance_approvers_and_inspectors_read_it(engine, county):
    for name in ("fo", "ap", "insp"):
        assert dashboard.finance_dashboard(engine, county[name]).projects == 4
    assert dashboard.finance_dashboard(engine, SYSTEM).projects == 4
    for name in ("lo", "adm"):
        with pytest.raises(PermissionDenied):
            dashboard.finance_dashboard(engine, county[name])
        with pytest.raises(PermissionDenied):
            dashboard.export_table(engine, county[name], "townships", "xlsx")


def test_an_empty_ledger_has_an_empty_dashboard(engine):
    board = dashboard.finance_dashboard(engine, SYSTEM)
    assert (board.projects, board.allocated_fen, board.progress_pct, board.sankey.links, board.townships,
            board.idle.total) == (0, 0, None, (), (), 0)


def audits(engine, action: str) -> list:
    with engine.connect() as c:
        return c.execute(select(AUDIT).where(AUDIT.c.action == action).order_by(AUDIT.c.id)).all()


def test_the_exports_carry_the_figures_and_are_audited(engine, county):
    name, data = dashboard.export_table(engine, county["fo"], "townships", "xlsx", as_of=LATER)
    assert name.startswith("huimin-dashboard_townships-") and name.endswith(".xlsx")
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    assert rows[0] == ["township 乡镇", "projects 项目数", "allocated 已安排", "spent 已支出", "balance 结余",
                       "progress % 支出进度"]
    assert rows[1] == ["县级 county-wide", 1, 4000, 1500, 2500, 37.5]  # yuan
    assert {r[0]: r[2:5] for r in rows[2:4]} == {A: [4500, 1000, 3500], B: [1500, 0, 1500]}
    assert rows[4][0] == "未入库项目 not in the project library"
    [row] = audits(engine, "export.dashboard_townships")
    assert row.actor_id == county.ids["fo"] and row.object_id == name
    assert json.loads(row.after)["rows"] == 4 and json.loads(row.after)["params"]["as_of"] == LATER.isoformat()

    name, data = dashboard.export_table(engine, county["insp"], "idle", "xlsx", as_of=LATER)
    rows = [list(r) for r in openpyxl.load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True)]
    assert rows[0][4:7] == ["balance 结余", "CENTRAL 结余", "TJ 结余"]
    assert [(r[0], r[4], r[5], r[6], r[-2], r[-1]) for r in rows[1:]] == [
        ("SHEEP", 1500, 500, 1000, 212, "flag"), ("OLD-1", 700, 700, None, 212, "flag"),
        ("ROSE", 3500, 1500, 2000, 194, "flag"), ("WELF", 2500, 2500, None, 194, "flag")]
    assert len(audits(engine, "export.dashboard_idle")) == 1

    _name, data = dashboard.export_table(engine, county["fo-a"], "idle", "csv", as_of=LATER)
    text = data.decode("utf-8-sig")
    assert "ROSE" in text and "SHEEP" not in text and "OLD-1" not in text  # the scope holds in exports too
    with pytest.raises(LedgerRefusal):
        dashboard.export_table(engine, county["fo"], "journal", "xlsx")
    with pytest.raises(LedgerRefusal):
        dashboard.export_table(engine, county["fo"], "idle", "pdf")


def test_a_reversed_allocation_and_a_recovery_count_as_ledger_projects_counts_them(engine, county):
    """A reversal counts as the kind it reverses (funding); a recovery paid back into a project is
    spending that lowers spent. The dashboard agrees with project_detail, which sums every posting."""
    wrong = services.allocate(engine, SYSTEM, "a-welf-wrong", "WELF", "TJ", 40_000, D2)
    services.reverse_entry(engine, SYSTEM, wrong.seq, "a-welf-wrong-rev", D3)
    post(engine, EntryDraft("recover-welf", D4, "recovery", "追回", (
        PostingDraft(projects.flows.project_account("WELF"), "CENTRAL", 5_000),
        PostingDraft("Expenses:Wage:Forest", "CENTRAL", -5_000, "H0001"))))
    board = dashboard.finance_dashboard(engine, county["insp"])
    d = projects.project_detail(engine, county["insp"], "WELF")
    welf = next(r for r in board.idle.items if r.code == "WELF")
    assert (d.allocated_fen, d.spent_fen, d.balance_fen) == (400_000, 145_000, 255_000)
    assert welf.balance_fen == d.balance_fen and welf.last_payment_on == d.last_payment_on == D4
    links = links_of(board)
    assert links[("fund:CENTRAL", f"project:{ACC}WELF")] == 400_000 and ("fund:TJ", f"project:{ACC}WELF") not in links
    assert links[(f"project:{ACC}WELF", "industry:welfare_post")] == 145_000
    county_wide = next(t for t in board.townships if t.township is None and t.in_library)
    assert (county_wide.allocated_fen, county_wide.spent_fen, county_wide.progress_pct) == (
        400_000, 145_000, Decimal("36.3"))
