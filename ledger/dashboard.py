"""The finance dashboard (资金看板): where project money came from, where it went, and what sits idle.

Owns one read model for the holders of `dashboard.read` (finance officer, approver, inspector, system),
and the export of its two tables. Three views of the same figures:

- the flow of money (a Sankey): fund sources -> projects -> industries, plus one "unspent" (结余) sink
  that each project feeds with what it still holds. A fund -> project link is what the project was
  allocated from that fund, net of reallocations and re-designations; a project -> industry link is
  what the project spent, filed under the project's industry;
- spending progress by township (乡镇): allocated, spent, progress (ledger.projects.spending_progress);
- idle balances: the projects holding money, per fund, with the days it has sat unspent
  (ledger.projects.idle_days), worst first.

What counts, exactly as ledger.projects counts it for one project: a posting to a project account is
funding when its entry is of a kind in projects.FUNDING_KINDS (a reversal counts as the kind it
reverses), and spending otherwise (payments, advances to implementers, interest subsidies; recoveries
paid back lower it): projects.split_flows. So for every project and fund, allocated - spent = balance,
and the Sankey conserves money: what flows into a project flows out to its industry and the sink.

Which projects: every project account (`Assets:Project:...`). A project in the library (项目库) gives
its name, industry and township. An account with no project (history posted before the library
existed, like the demo journal's) appears under its account name, with no industry; only a
county-level user sees it, because a user scoped to a township sees that township's projects and the
county-wide ones (ledger.projects' own rule, used here, not copied) and such an account has neither.

Cost, so that it stays quick with millions of payment postings: the funding postings of the readable
project accounts in one GROUP BY (account, fund, entry kind: a few rows per project); the stored
balances (as of a date, less what was posted after it, as the trial balance does); spent is then
allocated - balance, the identity above, so the payments are never summed one by one; and per account
and fund the date of the last payment, an index walk backwards that stops at the first one standing.
Everything else is arithmetic in pure functions, tested without a database. Limits: at most
MAX_PROJECTS project accounts (by code; `truncated` says when there were more); the Sankey draws the
SANKEY_PROJECTS largest projects and merges the rest into one node, so every total still adds up; the
idle list keeps IDLE_LIMIT rows and counts the rest.

Amounts are integer fen, progress a Decimal percentage; formatting belongs to the caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Engine, and_, case, exists, func, select, union_all

from ledger import audit, exports
from ledger.db import read_only, unit_of_work
from ledger.entries import Problem
from ledger.journal import ACCOUNT, BALANCE, ENTRY, FUND, POSTING, LedgerRefusal
from ledger.models import PROJECT_INDUSTRIES, utcnow
from ledger.money import fen_to_yuan
from ledger.permissions import Actor, require
from ledger.projects import (
    FUNDING_IN_KINDS,
    FUNDING_KINDS,
    INDUSTRY_NAMES_ZH,
    PROJECT,
    _readable_where,
    _scope,
    idle_days,
    spending_progress,
    split_flows,
)

PROJECT_ACCOUNT_PREFIX = "Assets:Project:"
MAX_PROJECTS = 5_000  # project accounts read at most (a county has hundreds)
SANKEY_PROJECTS = 30  # projects drawn one by one; the rest share one node
IDLE_LIMIT = 50  # rows of the idle list on the page and in the API
# DESIGN §7, R08: money idle for 180 days is a flag; warn from 90, severe from 365.
IDLE_WARN_DAYS, IDLE_FLAG_DAYS, IDLE_SEVERE_DAYS = 90, 180, 365

EXPORT_TABLES = ("townships", "idle")
EXPORT_FORMATS = ("xlsx", "csv")


# ---------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True, slots=True)
class FlowGroup:
    """One group of funding postings (or reversals) to one project account, as the GROUP BY returns it."""

    fund: str
    kind: str  # the entry's own kind
    reversed_kind: str | None  # a reversal: the kind of the entry it reverses
    amount_fen: int  # net, debit positive
    first_in_on: dt.date | None  # the earliest debit (money in)


@dataclass(frozen=True, slots=True)
class FundMoney:
    fund: str
    allocated_fen: int
    spent_fen: int

    @property
    def balance_fen(self) -> int:
        return self.allocated_fen - self.spent_fen


@dataclass(frozen=True, slots=True)
class ProjectMoney:
    """One project account's money: per fund, with the dates idle days are counted from."""

    account: str  # Assets:Project:<component>: unique, so it keys the project everywhere here
    code: str  # the project's code; for an account not in the library, its last component
    name: str
    industry: str | None  # None: not in the project library
    township: str | None  # None: county-wide (or not in the library)
    by_fund: tuple[FundMoney, ...]  # by fund code
    first_allocation_on: dt.date | None = None
    last_payment_on: dt.date | None = None

    @property
    def in_library(self) -> bool:
        return self.industry is not None

    @property
    def allocated_fen(self) -> int:
        return sum(f.allocated_fen for f in self.by_fund)

    @property
    def spent_fen(self) -> int:
        return sum(f.spent_fen for f in self.by_fund)

    @property
    def balance_fen(self) -> int:
        return sum(f.balance_fen for f in self.by_fund)


@dataclass(frozen=True, slots=True)
class SankeyNode:
    key: str  # unique: fund:<code>, project:<account>, projects:other, industry:<key>, unspent
    kind: str  # fund | project | other_projects | industry | unspent
    code: str  # fund code, project code, industry key ('' when not in the library); '' for the rest
    name: str  # fund or project name; '' where the page names it (industries, the sink, other projects)
    projects: int = 0  # other_projects: how many projects it stands for


@dataclass(frozen=True, slots=True)
class SankeyLink:
    source: str  # node keys
    target: str
    amount_fen: int  # always > 0


@dataclass(frozen=True, slots=True)
class Sankey:
    nodes: tuple[SankeyNode, ...]
    links: tuple[SankeyLink, ...]


@dataclass(frozen=True, slots=True)
class TownshipProgress:
    township: str | None  # None: county-wide projects (县级)
    in_library: bool  # False: the one row of project accounts not in the library
    projects: int
    allocated_fen: int
    spent_fen: int
    balance_fen: int
    progress_pct: Decimal | None  # spent / allocated, to 0.1 %; None when nothing is allocated


@dataclass(frozen=True, slots=True)
class FundBalance:
    fund: str
    balance_fen: int


@dataclass(frozen=True, slots=True)
class IdleBalance:
    account: str
    code: str
    name: str
    industry: str | None
    township: str | None
    balance_fen: int
    by_fund: tuple[FundBalance, ...]  # the funds it holds money in
    first_allocation_on: dt.date | None
    last_payment_on: dt.date | None
    idle_days: int | None  # None: holds money that never arrived by allocation (a recovery)
    level: str | None  # warn | flag | severe (DESIGN §7, R08), None below IDLE_WARN_DAYS


@dataclass(frozen=True, slots=True)
class IdleList:
    items: tuple[IdleBalance, ...]  # worst first, at most the limit asked
    total: int  # projects holding money
    total_fen: int  # what they hold together


@dataclass(frozen=True, slots=True)
class Dashboard:
    as_of: dt.date | None  # None: every posted entry (the stored balances)
    day: dt.date  # idle days are counted to this day
    scope: str | None  # the reader's township; None: the whole county
    projects: int  # project accounts read
    truncated: bool  # more than MAX_PROJECTS project accounts exist: the figures cover the first ones
    allocated_fen: int
    spent_fen: int
    balance_fen: int
    progress_pct: Decimal | None
    sankey: Sankey
    townships: tuple[TownshipProgress, ...]
    idle: IdleList


# ---------------------------------------------------------------------------------------------
# Pure computations (values in, values out; no database)


def fund_figures(groups: Iterable[FlowGroup], balances: Mapping[str, int]
                 ) -> tuple[tuple[FundMoney, ...], dt.date | None]:
    """One project account's funding groups and balances by fund -> (money by fund, first allocation).

    The same figures as ledger.projects.project_detail: allocated is what split_flows counts as funding
    (a reversal counts as the kind it reverses); spent is everything else, which split_flows makes
    allocated - balance, so it is taken from the balance instead of from every payment posting.
    Money first arrived with the earliest debit of an allocation, reallocation or opening balance.
    """
    pairs: dict[str, list[tuple[str, int]]] = {}
    first_on: dt.date | None = None
    for g in groups:
        if (g.reversed_kind or g.kind) in FUNDING_KINDS:
            pairs.setdefault(g.fund, []).append((g.reversed_kind or g.kind, g.amount_fen))
        if g.kind in FUNDING_IN_KINDS and g.first_in_on is not None:
            first_on = g.first_in_on if first_on is None else min(first_on, g.first_in_on)
    by_fund = []
    for fund in sorted(set(pairs) | set(balances)):
        allocated, _ = split_flows(pairs.get(fund, ()))
        by_fund.append(FundMoney(fund, allocated, allocated - balances.get(fund, 0)))
    return tuple(by_fund), first_on


def _industry_order(industry: str | None) -> int:
    return PROJECT_INDUSTRIES.index(industry) if industry in PROJECT_INDUSTRIES else len(PROJECT_INDUSTRIES)


def sankey(projects: Sequence[ProjectMoney], fund_names: Mapping[str, str],
           max_projects: int = SANKEY_PROJECTS) -> Sankey:
    """The flow of money: fund -> project (allocated), project -> industry (spent), project -> unspent.

    The `max_projects` projects with the most allocated are drawn one by one, the others share one
    node (its links add theirs up, per fund and per industry), so the totals are those of all projects.
    Amounts are added per link before anything is dropped; a link is drawn only when what it carries
    is above zero (a project that was given back more than it got in one fund draws no link from it).
    """
    assert max_projects >= 1
    moving = [p for p in projects if any(f.allocated_fen or f.spent_fen for f in p.by_fund)]
    ranked = sorted(moving, key=lambda p: (-p.allocated_fen, p.account))
    shown, rest = ranked[:max_projects], ranked[max_projects:]
    if len(rest) == 1:  # a node "1 other project" says less than the project itself
        shown, rest = ranked, []
    merged = {p.account for p in rest}
    other = SankeyNode("projects:other", "other_projects", "", "", len(rest))

    amounts: dict[tuple[str, str], int] = {}

    def add(source: str, target: str, amount: int) -> None:
        amounts[(source, target)] = amounts.get((source, target), 0) + amount

    for p in shown + rest:
        node = other.key if p.account in merged else f"project:{p.account}"
        for f in p.by_fund:
            add(f"fund:{f.fund}", node, f.allocated_fen)
        add(node, f"industry:{p.industry or ''}", p.spent_fen)
        add(node, "unspent", p.balance_fen)
    links = tuple(SankeyLink(s, t, a) for (s, t), a in amounts.items() if a > 0)
    used = {k for link in links for k in (link.source, link.target)}

    nodes = [SankeyNode(f"fund:{c}", "fund", c, fund_names.get(c) or c)
             for c in sorted({f.fund for p in ranked for f in p.by_fund})]
    nodes += [SankeyNode(f"project:{p.account}", "project", p.code, p.name) for p in shown]
    if rest:
        nodes.append(other)
    nodes += [SankeyNode(f"industry:{i or ''}", "industry", i or "", "")
              for i in sorted({p.industry for p in ranked}, key=lambda i: (_industry_order(i), i or ""))]
    nodes.append(SankeyNode("unspent", "unspent", "", ""))
    return Sankey(tuple(n for n in nodes if n.key in used), links)


def node_totals(s: Sankey) -> dict[str, int]:
    """What passes through each node: the larger of what flows in and what flows out (a fund only sends,
    an industry only receives; a project passes on what it got, unless a link was left out)."""
    into: dict[str, int] = {}
    out: dict[str, int] = {}
    for k in s.links:
        out[k.source] = out.get(k.source, 0) + k.amount_fen
        into[k.target] = into.get(k.target, 0) + k.amount_fen
    return {n.key: max(into.get(n.key, 0), out.get(n.key, 0)) for n in s.nodes}


def township_progress(projects: Iterable[ProjectMoney]) -> tuple[TownshipProgress, ...]:
    """Allocated, spent and progress per township: county-wide projects first, then townships by name,
    then (one row) project accounts not in the library."""
    sums: dict[tuple[bool, str | None], list[int]] = {}
    for p in projects:
        s = sums.setdefault((p.in_library, p.township), [0, 0, 0, 0])
        s[0] += 1
        s[1] += p.allocated_fen
        s[2] += p.spent_fen
        s[3] += p.balance_fen

    def order(key: tuple[bool, str | None]) -> tuple[int, str]:
        in_library, township = key
        return (0 if township is None else 1) if in_library else 2, township or ""

    return tuple(TownshipProgress(t, lib, n, a, s, b, spending_progress(s, a))
                 for (lib, t), (n, a, s, b) in sorted(sums.items(), key=lambda kv: order(kv[0])))


def idle_level(days: int | None) -> str | None:
    """warn from 90 days, flag from 180 (R08's threshold), severe from 365; None below (DESIGN §7)."""
    if days is None or days < IDLE_WARN_DAYS:
        return None
    if days < IDLE_FLAG_DAYS:
        return "warn"
    return "flag" if days < IDLE_SEVERE_DAYS else "severe"


def idle_balances(projects: Iterable[ProjectMoney], day: dt.date, limit: int = IDLE_LIMIT) -> IdleList:
    """The projects holding money, longest idle first (then the larger balance, then the account);
    at most `limit` rows, with the count and the sum of all of them."""
    rows = []
    for p in projects:
        if p.balance_fen <= 0:
            continue
        days = idle_days(day, p.balance_fen, p.first_allocation_on, p.last_payment_on)
        rows.append(IdleBalance(p.account, p.code, p.name, p.industry, p.township, p.balance_fen,
                                tuple(FundBalance(f.fund, f.balance_fen) for f in p.by_fund if f.balance_fen),
                                p.first_allocation_on, p.last_payment_on, days, idle_level(days)))
    rows.sort(key=lambda r: (r.idle_days is None, -(r.idle_days or 0), -r.balance_fen, r.account))
    return IdleList(tuple(rows[:max(0, limit)]), len(rows), sum(r.balance_fen for r in rows))


def dashboard_of(projects: Sequence[ProjectMoney], fund_names: Mapping[str, str], as_of: dt.date | None,
                 day: dt.date, scope: str | None = None, truncated: bool = False,
                 idle_limit: int = IDLE_LIMIT) -> Dashboard:
    allocated = sum(p.allocated_fen for p in projects)
    spent = sum(p.spent_fen for p in projects)
    return Dashboard(as_of, day, scope, len(projects), truncated, allocated, spent, allocated - spent,
                     spending_progress(spent, allocated), sankey(projects, fund_names),
                     township_progress(projects), idle_balances(projects, day, idle_limit))


# ---------------------------------------------------------------------------------------------
# Reading


def _as_date(value) -> dt.date | None:
    # min()/max() of a date column come back as text on SQLite.
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _read(engine: Engine, actor: Actor, as_of: dt.date | None) -> tuple[list[ProjectMoney], dict[str, str], bool]:
    """The readable project accounts with their money, the fund names, and whether the cap cut the list.

    Four statements, none of which reads the payment postings in bulk: the accounts; their funding
    postings (found through the entry kinds, a few per project); their balances (stored; as of a date,
    less what was posted after it); and per account and fund its last payment (an index walk backwards
    from the latest posting, which stops at the first payment that stands).
    """
    listing_from = ACCOUNT.outerjoin(PROJECT, PROJECT.c.account_code == ACCOUNT.c.code)
    conds = [ACCOUNT.c.code.startswith(PROJECT_ACCOUNT_PREFIX, autoescape=True)]
    if _scope(actor) is not None:
        # A township's user: its township's and the county-wide projects of the library, nothing else.
        conds += [PROJECT.c.id.is_not(None), _readable_where(actor, PROJECT.c.township)]
    readable = and_(*conds)
    dated = [] if as_of is None else [POSTING.c.effective_date <= as_of]
    with read_only(engine) as s:
        listed = s.execute(
            select(ACCOUNT.c.id, ACCOUNT.c.code, ACCOUNT.c.name_zh, PROJECT.c.project_code, PROJECT.c.name,
                   PROJECT.c.industry, PROJECT.c.township)
            .select_from(listing_from).where(readable).order_by(ACCOUNT.c.code).limit(MAX_PROJECTS + 1)).all()
        truncated = len(listed) > MAX_PROJECTS
        listed = listed[:MAX_PROJECTS]
        ids = (select(ACCOUNT.c.id).select_from(listing_from).where(readable)
               .order_by(ACCOUNT.c.code).limit(MAX_PROJECTS))
        funds = dict(s.execute(select(FUND.c.id, FUND.c.code)).all())  # a county has a handful

        orig = ENTRY.alias("orig")
        # Funding entries and reversals (of anything: fund_figures keeps those of funding), found through
        # the kind and reverses indexes; two selects, because an OR of the two would read every entry.
        funding_entries = union_all(select(ENTRY.c.seq).where(ENTRY.c.kind.in_(sorted(FUNDING_KINDS))),
                                    select(ENTRY.c.seq).where(ENTRY.c.reverses.is_not(None)))
        groups: dict[int, list[FlowGroup]] = {}
        for r in s.execute(
            select(POSTING.c.account_id, POSTING.c.fund_id, ENTRY.c.kind, orig.c.kind.label("reversed_kind"),
                   func.sum(POSTING.c.amount_fen).label("amount"),
                   func.min(case((POSTING.c.amount_fen > 0, POSTING.c.effective_date))).label("first_in"))
            .select_from(POSTING.join(ENTRY, ENTRY.c.seq == POSTING.c.entry_seq)
                         .outerjoin(orig, orig.c.seq == ENTRY.c.reverses))
            .where(POSTING.c.entry_seq.in_(funding_entries), POSTING.c.account_id.in_(ids), *dated)
            .group_by(POSTING.c.account_id, POSTING.c.fund_id, ENTRY.c.kind, orig.c.kind)
        ):
            groups.setdefault(int(r.account_id), []).append(FlowGroup(
                funds[r.fund_id], r.kind, r.reversed_kind, int(r.amount), _as_date(r.first_in)))

        balances: dict[int, dict[str, int]] = {}
        for aid, fid, bal in s.execute(select(BALANCE.c.account_id, BALANCE.c.fund_id, BALANCE.c.balance_fen)
                                       .where(BALANCE.c.account_id.in_(ids))):
            balances.setdefault(int(aid), {})[funds[fid]] = int(bal)
        if as_of is not None:
            # As trial_balance does: the stored balance less what was posted after the date.
            for aid, fid, later in s.execute(
                    select(POSTING.c.account_id, POSTING.c.fund_id, func.sum(POSTING.c.amount_fen))
                    .where(POSTING.c.account_id.in_(ids), POSTING.c.effective_date > as_of)
                    .group_by(POSTING.c.account_id, POSTING.c.fund_id)):
                held = balances.setdefault(int(aid), {})
                held[funds[fid]] = held.get(funds[fid], 0) - int(later)

        # The last payment that stands (not reversed by the date asked), per account and fund.
        pay, rev = POSTING.alias("pay"), ENTRY.alias("rev")
        pay_entry = ENTRY.alias("pay_entry")
        undone = exists(select(rev.c.seq).where(rev.c.reverses == pay_entry.c.seq,
                                                True if as_of is None else rev.c.effective_date <= as_of))
        last = (select(pay.c.effective_date)
                .select_from(pay.join(pay_entry, pay_entry.c.seq == pay.c.entry_seq))
                .where(pay.c.account_id == BALANCE.c.account_id, pay.c.fund_id == BALANCE.c.fund_id,
                       pay.c.amount_fen < 0, pay_entry.c.kind.not_in(sorted(FUNDING_KINDS | {"reversal"})), ~undone,
                       True if as_of is None else pay.c.effective_date <= as_of)
                .order_by(pay.c.effective_date.desc()).limit(1).scalar_subquery())
        last_paid: dict[int, dt.date] = {}
        for aid, on in s.execute(select(BALANCE.c.account_id, last).where(BALANCE.c.account_id.in_(ids))):
            on = _as_date(on)
            if on is not None and (int(aid) not in last_paid or on > last_paid[int(aid)]):
                last_paid[int(aid)] = on

        used = sorted({f.fund for gs in groups.values() for f in gs} | {f for b in balances.values() for f in b})
        fund_names = dict(s.execute(select(FUND.c.code, FUND.c.name).where(FUND.c.code.in_(used))).all()) \
            if used else {}
    out = []
    for r in listed:
        aid = int(r.id)
        by_fund, first_on = fund_figures(groups.get(aid, ()), balances.get(aid, {}))
        if r.project_code is not None:
            out.append(ProjectMoney(r.code, r.project_code, r.name, r.industry, r.township, by_fund, first_on,
                                    last_paid.get(aid)))
        else:
            out.append(ProjectMoney(r.code, r.code[len(PROJECT_ACCOUNT_PREFIX):], r.name_zh, None, None, by_fund,
                                    first_on, last_paid.get(aid)))
    return out, fund_names, truncated


def finance_dashboard(engine: Engine, actor: Actor, as_of: dt.date | None = None,
                      idle_limit: int = IDLE_LIMIT) -> Dashboard:
    """The dashboard as the actor may see it. Without `as_of`: every posted entry, idle days to today;
    with it: postings dated on or before it, idle days to that day."""
    require(actor, "dashboard.read")
    projects, fund_names, truncated = _read(engine, actor, as_of)
    return dashboard_of(projects, fund_names, as_of, as_of or dt.date.today(), _scope(actor), truncated,
                        max(0, min(idle_limit, MAX_PROJECTS)))


# ---------------------------------------------------------------------------------------------
# Exports (the page's two tables, every row; audited like every export)


def _refuse(field_: str, value: object, message: str) -> LedgerRefusal:
    return LedgerRefusal([Problem("export", field_, str(value), message)])


def _township_cell(township: str | None, in_library: bool = True) -> str:
    if not in_library:
        return "未入库项目 not in the project library"
    return "县级 county-wide" if township is None else township


def _industry_cell(industry: str | None) -> str:
    return "" if industry is None else f"{industry} {INDUSTRY_NAMES_ZH.get(industry, '')}".strip()


def export_rows(board: Dashboard, table: str) -> tuple[list[str], list[list[object]]]:
    """Headers (English and Chinese, like every export) and rows of one table; amounts in Decimal yuan."""
    if table == "townships":
        headers = ["township 乡镇", "projects 项目数", "allocated 已安排", "spent 已支出", "balance 结余",
                   "progress % 支出进度"]
        rows = [[_township_cell(t.township, t.in_library), t.projects, fen_to_yuan(t.allocated_fen),
                 fen_to_yuan(t.spent_fen), fen_to_yuan(t.balance_fen), t.progress_pct] for t in board.townships]
        return headers, rows
    if table == "idle":
        funds = sorted({f.fund for r in board.idle.items for f in r.by_fund})
        headers = ["project 项目编号", "name 项目名称", "township 乡镇", "industry 产业", "balance 结余"]
        headers += [f"{f} 结余" for f in funds]
        headers += ["first allocation 首次到位", "last payment 最近支出", "idle days 闲置天数", "level 等级"]
        rows = []
        for r in board.idle.items:
            held = {f.fund: f.balance_fen for f in r.by_fund}
            rows.append([r.code, r.name, _township_cell(r.township, r.industry is not None),
                         _industry_cell(r.industry), fen_to_yuan(r.balance_fen),
                         *[fen_to_yuan(held[f]) if f in held else None for f in funds],
                         r.first_allocation_on, r.last_payment_on, r.idle_days, r.level])
        return headers, rows
    raise _refuse("table", table, "table must be one of " + ", ".join(EXPORT_TABLES))


def export_table(engine: Engine, actor: Actor, table: str, fmt: str,
                 as_of: dt.date | None = None) -> tuple[str, bytes]:
    """One of the dashboard's tables, every row (the idle list too, not only its first page), as XLSX
    or CSV; the export is audited. Returns (file name, bytes)."""
    require(actor, "dashboard.read")
    if table not in EXPORT_TABLES:
        raise _refuse("table", table, "table must be one of " + ", ".join(EXPORT_TABLES))
    if fmt not in EXPORT_FORMATS:
        raise _refuse("format", fmt, "format must be xlsx or csv")
    board = finance_dashboard(engine, actor, as_of, idle_limit=MAX_PROJECTS)
    headers, rows = export_rows(board, table)
    sheet = f"dashboard_{table}"
    data = exports.to_xlsx(headers, rows, sheet) if fmt == "xlsx" else exports.to_csv(headers, rows)
    name = f"huimin-{sheet}-{utcnow().strftime('%Y%m%d-%H%M%S')}.{fmt}"
    with unit_of_work(engine) as s:
        audit.record(s, actor, "export." + sheet, "export", name, after={
            "format": fmt, "rows": len(rows), "params": {"as_of": None if as_of is None else as_of.isoformat(),
                                                        "scope": board.scope, "truncated": board.truncated}})
    return name, data
