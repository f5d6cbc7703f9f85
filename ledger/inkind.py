"""In-kind aid through an implementer (实物补助, DESIGN.md §4, §7 R08/R11): what each project's implementer
(an enterprise or co-operative) has been advanced and not yet delivered to households, and for how long.

Owns a read model over the journal, `advance_aging`, and its pure rules. Nothing here writes money.

The money. An advance (预付款, entry kind `advance_paid`) moves a project's money into the implementer's
advance account `Assets:Advance:<project>` (ledger.flows.advance_account); each delivery confirmed by a
household (`in_kind_delivered`) spends it to `Expenses:InKind:<industry>`. What the account holds is what
the implementer still owes in goods: undelivered = balance. Per fund, because the advance keeps the fund
of the money it came from:

    advanced    debits by advance_paid entries
    delivered   credits by in_kind_delivered entries
    other       anything else that moved the account (an opening balance, a fund re-designation)
    undelivered = advanced - delivered + other = the account's balance

A reversal counts with the kind of the entry it reverses: a reversed advance is not advanced, a returned
delivery (退票 of an in-kind row) is not delivered.

The age. Deliveries consume the earliest advances first (FIFO), so what is still undelivered is the tail
of the latest advances; its age is the days since the oldest advance not yet covered by deliveries. The
undelivered amount is also split by the age of each open advance into the buckets 0–30, 31–90, 91–180 and
over 180 days, as a receivables aging would (an implementer holding money for half a year is R08's idle
advance). The FIFO and the buckets are pure functions (`open_advances`, `undelivered_age`, `bucket_of`,
`bucket_amounts`), tested without a database.

Permission `payment.read`. A township-scoped user sees its township's and county-wide projects; advance
accounts that belong to no project in the library (history imported before the library) only a
county-level user sees.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine, exists, func, select

from ledger import audit, flows
from ledger.db import read_only, unit_of_work
from ledger.entries import Problem
from ledger.journal import ACCOUNT, ENTRY, FUND, POSTING, LedgerRefusal
from ledger.models import Project, utcnow
from ledger.money import fen_to_yuan
from ledger.permissions import Actor, require
from ledger.projects import _readable

PROJECT = Project.__table__
ADVANCE_PREFIX = "Assets:Advance:"
ADVANCED_KIND = "advance_paid"
DELIVERED_KIND = "in_kind_delivered"

# (name, first day, last day or None): the aging buckets of an undelivered advance.
BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-30", 0, 30), ("31-90", 31, 90), ("91-180", 91, 180), ("180+", 181, None))
BUCKET_NAMES = tuple(b[0] for b in BUCKETS)


# ---------------------------------------------------------------------------------------------
# Pure rules


def open_advances(advances: Sequence[tuple[dt.date, int]], delivered_fen: int) -> list[tuple[dt.date, int]]:
    """FIFO: deliveries consume the earliest advances first. What remains of each advance, oldest first
    (fully covered ones left out). Advances of the same day keep their given order. A negative
    `delivered_fen` (more returned than delivered, which the journal's limits do not allow) consumes
    nothing."""
    assert all(fen > 0 for _, fen in advances), "an advance is a positive amount"
    left = max(delivered_fen, 0)
    out: list[tuple[dt.date, int]] = []
    for day, fen in sorted(advances, key=lambda a: a[0]):
        take = min(left, fen)
        left -= take
        if fen - take:
            out.append((day, fen - take))
    return out


def undelivered_age(advances: Sequence[tuple[dt.date, int]], delivered_fen: int,
                    as_of: dt.date) -> tuple[int, dt.date | None, int | None]:
    """(undelivered fen, the oldest advance not yet covered by deliveries, days since it as of `as_of`).

    Undelivered is all advanced less delivered; when nothing is undelivered there is no age (None, None).
    """
    undelivered = sum(fen for _, fen in advances) - delivered_fen
    if undelivered <= 0:
        return undelivered, None, None
    remaining = open_advances(advances, delivered_fen)
    if not remaining:  # money held that never arrived as an advance (cannot happen through the services)
        return undelivered, None, None
    oldest = remaining[0][0]
    return undelivered, oldest, max(0, (as_of - oldest).days)


def bucket_of(days: int | None) -> str | None:
    """The aging bucket of an age in days (None: nothing undelivered, no bucket)."""
    if days is None:
        return None
    for name, low, high in BUCKETS:
        if days >= low and (high is None or days <= high):
            return name
    raise AssertionError(f"a negative age: {days}")


def bucket_amounts(open_items: Iterable[tuple[dt.date, int]], as_of: dt.date) -> dict[str, int]:
    """The undelivered amount split by the age of each open advance (every bucket present)."""
    out = dict.fromkeys(BUCKET_NAMES, 0)
    for day, fen in open_items:
        out[bucket_of(max(0, (as_of - day).days))] += fen  # type: ignore[index]
    return out


# ---------------------------------------------------------------------------------------------
# The read model


@dataclass(frozen=True, slots=True)
class FundAging:
    fund: str
    advanced_fen: int
    delivered_fen: int
    other_fen: int
    undelivered_fen: int  # the account's balance in this fund
    oldest_on: dt.date | None
    days: int | None
    bucket: str | None
    buckets: dict[str, int]


@dataclass(frozen=True, slots=True)
class AdvanceRow:
    project_code: str | None  # None: an advance account of no project in the library
    project_name: str
    implementer: str | None
    township: str | None
    industry: str | None
    account: str
    advanced_fen: int
    delivered_fen: int
    other_fen: int
    undelivered_fen: int
    oldest_on: dt.date | None  # the oldest undelivered advance over all funds
    days: int | None
    bucket: str | None
    buckets: dict[str, int]
    by_fund: tuple[FundAging, ...]


@dataclass(frozen=True, slots=True)
class AdvanceAging:
    as_of: dt.date
    rows: list[AdvanceRow]
    advanced_fen: int
    delivered_fen: int
    other_fen: int
    undelivered_fen: int
    buckets: dict[str, int]  # undelivered by age, all projects
    projects_by_bucket: dict[str, int] = field(default_factory=dict)  # projects by their oldest advance's age


def advance_aging(engine: Engine, actor: Actor, as_of: dt.date | None = None) -> AdvanceAging:
    """Per project with an advance account: advanced, delivered, undelivered by fund, and its age, as
    of the end of `as_of` (default today). Longest undelivered first."""
    require(actor, "payment.read")
    day = as_of or dt.date.today()
    scoped = bool((actor.township or "").strip())
    with read_only(engine) as s:
        accounts = {int(r.id): r.code for r in s.execute(
            select(ACCOUNT.c.id, ACCOUNT.c.code).where(ACCOUNT.c.code.startswith(ADVANCE_PREFIX)))}
        by_account = {}
        for p in s.execute(select(PROJECT.c.project_code, PROJECT.c.name, PROJECT.c.implementer,
                                  PROJECT.c.township, PROJECT.c.industry)):
            by_account.setdefault(flows.advance_account(p.project_code), p)
        visible = {aid: code for aid, code in accounts.items()
                   if (by_account.get(code) is None and not scoped)
                   or (by_account.get(code) is not None and _readable(actor, by_account[code].township))}
        ids = sorted(visible)
        funds = dict(s.execute(select(FUND.c.id, FUND.c.code)).all()) if ids else {}
        orig = ENTRY.alias("orig")
        kind = func.coalesce(orig.c.kind, ENTRY.c.kind)
        flows_of: dict[tuple[int, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        arrivals: dict[tuple[int, int], list[tuple[dt.date, int]]] = defaultdict(list)
        if ids:
            # Net per (account, fund, effective kind), up to the day: index ranges of (account, fund, date).
            for aid, fid, k, amount in s.execute(
                    select(POSTING.c.account_id, POSTING.c.fund_id, kind, func.sum(POSTING.c.amount_fen))
                    .select_from(POSTING.join(ENTRY, ENTRY.c.seq == POSTING.c.entry_seq)
                                 .outerjoin(orig, orig.c.seq == ENTRY.c.reverses))
                    .where(POSTING.c.account_id.in_(ids), POSTING.c.effective_date <= day)
                    .group_by(POSTING.c.account_id, POSTING.c.fund_id, kind)):
                flows_of[(int(aid), int(fid))][k] += int(amount)
            # The arrivals FIFO ages: money in that stands (not reversed by the day), deliveries aside.
            rev = ENTRY.alias("rev")
            undone = exists(select(rev.c.seq).where(rev.c.reverses == ENTRY.c.seq, rev.c.effective_date <= day))
            for aid, fid, on, amount in s.execute(
                    select(POSTING.c.account_id, POSTING.c.fund_id, POSTING.c.effective_date, POSTING.c.amount_fen)
                    .select_from(POSTING.join(ENTRY, ENTRY.c.seq == POSTING.c.entry_seq))
                    .where(POSTING.c.account_id.in_(ids), POSTING.c.effective_date <= day, POSTING.c.amount_fen > 0,
                           ENTRY.c.kind.not_in(("reversal", DELIVERED_KIND)), ~undone)
                    .order_by(POSTING.c.effective_date, POSTING.c.id)):
                arrivals[(int(aid), int(fid))].append((_as_date(on), int(amount)))
    rows = [_row(aid, visible[aid], by_account.get(visible[aid]), {
        funds[fid]: (f, arrivals.get((aid, fid), [])) for (a, fid), f in flows_of.items() if a == aid}, day)
        for aid in ids]
    rows.sort(key=lambda r: (r.days is None, -(r.days or 0), -r.undelivered_fen, r.account))
    buckets = dict.fromkeys(BUCKET_NAMES, 0)
    projects_by_bucket = dict.fromkeys(BUCKET_NAMES, 0)
    for r in rows:
        for name, fen in r.buckets.items():
            buckets[name] += fen
        if r.bucket is not None:
            projects_by_bucket[r.bucket] += 1
    return AdvanceAging(day, rows, sum(r.advanced_fen for r in rows), sum(r.delivered_fen for r in rows),
                        sum(r.other_fen for r in rows), sum(r.undelivered_fen for r in rows), buckets,
                        projects_by_bucket)


def _as_date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _row(account_id: int, code: str, project, per_fund: dict[str, tuple[dict[str, int], list]],
         day: dt.date) -> AdvanceRow:
    fund_rows = []
    for fund in sorted(per_fund):
        by_kind, arrived = per_fund[fund]
        balance = sum(by_kind.values())
        advanced = by_kind.get(ADVANCED_KIND, 0)
        delivered = -by_kind.get(DELIVERED_KIND, 0)
        other = balance - advanced + delivered
        # What arrived and still stands, less what the balance says is left, is what deliveries (and any
        # other outflow) consumed, oldest first.
        consumed = sum(fen for _, fen in arrived) - balance
        undelivered, oldest, days = undelivered_age(arrived, consumed, day)
        assert undelivered == balance
        fund_rows.append(FundAging(fund, advanced, delivered, other, balance, oldest, days, bucket_of(days),
                                   bucket_amounts(open_advances(arrived, consumed), day) if balance > 0 else
                                   dict.fromkeys(BUCKET_NAMES, 0)))
    oldest_dates = [f.oldest_on for f in fund_rows if f.oldest_on is not None]
    oldest = min(oldest_dates) if oldest_dates else None
    days = max(0, (day - oldest).days) if oldest is not None else None
    buckets = dict.fromkeys(BUCKET_NAMES, 0)
    for f in fund_rows:
        for name, fen in f.buckets.items():
            buckets[name] += fen
    return AdvanceRow(
        project.project_code if project is not None else None, project.name if project is not None else code,
        project.implementer if project is not None else None, project.township if project is not None else None,
        project.industry if project is not None else None, code,
        sum(f.advanced_fen for f in fund_rows), sum(f.delivered_fen for f in fund_rows),
        sum(f.other_fen for f in fund_rows), sum(f.undelivered_fen for f in fund_rows), oldest, days,
        bucket_of(days), buckets, tuple(fund_rows))


def export_advance_aging(engine: Engine, actor: Actor, as_of: dt.date | None, fmt: str) -> tuple[str, bytes]:
    """The aging table (one line per project and fund) as XLSX or CSV, audited. Returns (file name, bytes)."""
    from ledger import exports

    if fmt not in ("xlsx", "csv"):
        raise LedgerRefusal([Problem("export", "format", fmt, "format must be xlsx or csv")])
    aging = advance_aging(engine, actor, as_of)
    headers = ["project_code 项目编号", "project 项目名称", "implementer 实施主体", "township 乡镇", "fund 资金来源",
               "advanced 预付", "delivered 已交付", "other 其他", "undelivered 未交付", "oldest_on 最早未交付预付日期",
               "days 账龄(天)", *(f"{name} 天" for name in BUCKET_NAMES)]
    rows = [[r.project_code or "", r.project_name, r.implementer or "", r.township or "全县", f.fund,
             fen_to_yuan(f.advanced_fen), fen_to_yuan(f.delivered_fen), fen_to_yuan(f.other_fen),
             fen_to_yuan(f.undelivered_fen), f.oldest_on, f.days, *(fen_to_yuan(f.buckets[b]) for b in BUCKET_NAMES)]
            for r in aging.rows for f in r.by_fund]
    data = exports.to_xlsx(headers, rows, "advance_aging") if fmt == "xlsx" else exports.to_csv(headers, rows)
    name = f"huimin-advance-aging-{utcnow().strftime('%Y%m%d-%H%M%S')}.{fmt}"
    with unit_of_work(engine) as s:
        audit.record(s, actor, "export.advance_aging", "export", name, after={
            "format": fmt, "rows": len(rows), "params": {"as_of": aging.as_of.isoformat()}})
    return name, data
