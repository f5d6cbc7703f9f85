"""Use cases. Each opens one unit of work (one transaction), checks the actor's permission, does
its domain work and writes its audit row in the same commit. Nothing here knows about HTTP.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ledger import audit, bulk, exports, flows, journal, projects, queries
from ledger.chart import ensure_accounts, ensure_funds
from ledger.db import read_only, unit_of_work
from ledger.entries import FUND_KINDS, EntryDraft, Problem, fund_code_problem, month_of, payload_hash, reversal_of
from ledger.history import HISTORY, HistoryMark
from ledger.history import approver as history_approver
from ledger.history import mark as history_mark
from ledger.imports.journal_lines import MAX_FILE_BYTES, MAX_LINES, parse_line
from ledger.journal import ACCOUNT, ENTRY, POSTING, LedgerRefusal, Posted
from ledger.models import Fund, PeriodClose, VerificationRun, utcnow
from ledger.money import fen_to_yuan, format_yuan
from ledger.permissions import Actor, require

FUND = Fund.__table__
MAX_PROBLEMS_LISTED = 1_000
IMPORT_CHUNK = journal.MAX_DRAFTS_PER_CALL
# A journal file up to this size is parsed once: its drafts stay in memory from the check to the
# posting (about 3 bytes of memory per byte of file: 64 MiB of file, some 200 MiB of drafts). A larger
# file is read and parsed again for the posting, so memory stays flat however long the history is.
KEEP_DRAFTS_MAX_BYTES = 64 << 20
# SQLite page cache for the import's connection while it posts (KiB; restored afterwards). The
# default 2 MiB cannot hold the pages a bulk import keeps touching (the unique key and hash
# indexes, the postings' indexes), so pages would be evicted and re-read many times over.
IMPORT_SQLITE_CACHE_KIB = 64 << 10


def _refuse(where: str, field_: str, value: object, message: str) -> LedgerRefusal:
    return LedgerRefusal([Problem(where, field_, str(value), message)])


# ---------------------------------------------------------------------------------------------
# Funds and their flows


def register_fund(engine: Engine, actor: Actor, code: str, name: str, kind: str,
                  document_no: str | None = None) -> None:
    require(actor, "fund.register")
    msg = fund_code_problem(code)
    if msg:
        raise _refuse("fund", "code", code, msg)
    if kind not in FUND_KINDS:
        raise _refuse("fund", "kind", kind, "kind must be one of " + ", ".join(FUND_KINDS))
    with unit_of_work(engine) as s:
        if s.execute(select(FUND.c.id).where(FUND.c.code == code)).first() is not None:
            raise _refuse("fund", "code", code, "fund already registered")
        if ensure_funds(s, {code: (name, kind, document_no)}) == 0:  # another officer won the race
            raise _refuse("fund", "code", code, "fund already registered")
        audit.record(s, actor, "fund.register", "fund", code,
                     after={"code": code, "name": name, "kind": kind, "document_no": document_no})


def _post_one(engine: Engine, actor: Actor, draft: EntryDraft, action: str,
              guard: Callable[[Session], None] | None = None) -> Posted:
    with unit_of_work(engine) as s:
        if guard is not None:
            guard(s)
        ensure_accounts(s, {p.account: draft.effective_date for p in draft.postings})
        [posted] = journal.post(s, [draft])
        if posted.created:
            audit.record(s, actor, action, "entry", str(posted.seq), after={
                "key": draft.key, "kind": draft.kind, "date": draft.effective_date.isoformat(),
                "postings": [[p.account, p.fund, format_yuan(p.amount_fen)] for p in draft.postings]})
        return posted


def _receiving(key: str, account: str) -> Callable[[Session], None]:
    """A project in the library receives money only while approved or implementing (ledger.projects).
    A retry of an entry already posted is left to the journal, which returns the original."""
    def guard(s: Session) -> None:
        if key not in journal.existing_keys(s, [key]):
            projects.refuse_unless_receiving(s, account, f"entry {key}")
    return guard


def receive_fund(engine: Engine, actor: Actor, key: str, fund: str, amount_fen: int, on: dt.date,
                 memo: str = "") -> Posted:
    require(actor, "fund.receive")
    return _post_one(engine, actor, flows.fund_received(key, fund, amount_fen, on, memo, actor.user_id),
                     "fund.receive")


def allocate(engine: Engine, actor: Actor, key: str, project_code: str, fund: str, amount_fen: int,
             on: dt.date, memo: str = "") -> Posted:
    """Post an allocation at once, with no second approver: `system` only (the command line, the demo).
    Officers prepare an allocation request (ledger.projects.prepare_allocation) for an approver."""
    require(actor, "fund.allocate")
    require(actor, "fund.post_direct")
    account = flows.project_account(project_code)
    return _post_one(engine, actor, flows.allocation(key, project_code, fund, amount_fen, on, memo, actor.user_id),
                     "fund.allocate", _receiving(key, account))


def reallocate(engine: Engine, actor: Actor, key: str, from_project: str, to_project: str, fund: str,
               amount_fen: int, on: dt.date, memo: str = "") -> Posted:
    """Like `allocate`: straight into the journal, `system` only; officers use a reallocation request."""
    require(actor, "fund.reallocate")
    require(actor, "fund.post_direct")
    if flows.project_account(from_project) == flows.project_account(to_project):
        raise _refuse(f"entry {key}", "to_project", to_project, "a reallocation needs two different projects")
    draft = flows.reallocation(key, from_project, to_project, fund, amount_fen, on, memo, actor.user_id)
    account = flows.project_account(to_project)
    return _post_one(engine, actor, draft, "fund.reallocate", _receiving(key, account))


def redesignate(engine: Engine, actor: Actor, key: str, account: str, from_fund: str, to_fund: str,
                amount_fen: int, on: dt.date, memo: str = "") -> Posted:
    require(actor, "fund.redesignate")
    if from_fund == to_fund:
        raise _refuse(f"entry {key}", "to_fund", to_fund, "re-designation needs two different funds")
    draft = flows.fund_redesignation(key, account, from_fund, to_fund, amount_fen, on, memo, actor.user_id)
    return _post_one(engine, actor, draft, "fund.redesignate")


def reverse_entry(engine: Engine, actor: Actor, seq: int, key: str, on: dt.date, memo: str = "") -> Posted:
    """Undo a posted entry with its mirror image, linked to it. The original stays as it was."""
    require(actor, "journal.reverse")
    with read_only(engine) as s:
        postings = journal.entry_postings(s, seq)
    if not postings:
        raise _refuse(f"entry {seq}", "seq", seq, "no such entry")
    draft = reversal_of(key, on, memo or f"冲销 reversal of entry {seq}", seq, postings, actor.user_id)
    return _post_one(engine, actor, draft, "journal.reverse")


def close_period(engine: Engine, actor: Actor, month: str) -> None:
    """Close a month: nothing can be posted with an effective date inside it any more."""
    require(actor, "period.close")
    try:
        first = dt.date.fromisoformat(month + "-01")
    except ValueError:
        raise _refuse("period", "month", month, "month must be YYYY-MM") from None
    assert month_of(first) == month
    with unit_of_work(engine) as s:
        table = PeriodClose.__table__
        if s.execute(select(table.c.month).where(table.c.month == month)).first() is not None:
            raise _refuse("period", "month", month, "period is already closed")
        s.execute(table.insert().values(month=month, closed_at=utcnow(), closed_by=actor.user_id))
        audit.record(s, actor, "period.close", "period", month, after={"month": month})


# ---------------------------------------------------------------------------------------------
# Journal import (JSON Lines)


@dataclass
class ImportReport:
    ok: bool
    lines: int = 0
    posted: int = 0
    already_posted: int = 0
    accounts_opened: int = 0
    funds_opened: int = 0
    problems: list[Problem] = field(default_factory=list)
    more_problems: int = 0

    def as_dict(self) -> dict:
        out: dict = {"ok": self.ok, "lines": self.lines, "posted": self.posted,
                     "already_posted": self.already_posted, "accounts_opened": self.accounts_opened,
                     "funds_opened": self.funds_opened}
        if not self.ok:
            out["errors"] = [p.as_dict() for p in self.problems]
            out["more_errors"] = self.more_problems
        return out


def _lines(path: Path):
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, start=1):
            if n > MAX_LINES:
                raise _refuse(f"line {n}", "file", path.name, f"more than {MAX_LINES} lines")
            raw = raw.strip()
            if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if raw:
                yield n, raw


@contextmanager
def _bulk_sqlite_cache(session: Session) -> Iterator[None]:
    """A larger SQLite page cache for one bulk write, restored afterwards (the connection goes back
    to the pool). Durability settings (journal mode, synchronous) are not touched."""
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        yield
        return
    before = int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one())
    # Integers only, from our constant and SQLite's own answer: PRAGMA takes no bound parameters.
    conn.exec_driver_sql(f"PRAGMA cache_size = {-int(IMPORT_SQLITE_CACHE_KIB)}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {before}")


def import_journal(engine: Engine, actor: Actor, path: Path, *, open_missing: bool = False,
                   progress: Callable[[int], None] | None = None) -> ImportReport:
    """Post a JSON Lines journal: the whole file is checked first, then posted in one transaction.

    Pass 1 streams the file and collects every problem it can find without posting (format,
    balance per fund, kinds, key conflicts inside the file and against the journal, unknown or
    not-yet-open accounts, closed periods). Pass 2 posts in chunks inside one transaction, so a
    problem only the posting can see (an overdraw) still leaves nothing written. A file up to
    KEEP_DRAFTS_MAX_BYTES keeps its parsed drafts from pass 1; a larger one is read again.
    """
    require(actor, "journal.import")
    with bulk.collector_paused():
        return _import_journal(engine, actor, path, open_missing, progress)


def _import_journal(engine: Engine, actor: Actor, path: Path, open_missing: bool,
                    progress: Callable[[int], None] | None) -> ImportReport:
    report = ImportReport(ok=False)
    try:
        size = path.stat().st_size
    except OSError as exc:
        report.problems.append(Problem("file", "file", str(path), f"cannot read: {exc.strerror}"))
        return report
    if size > MAX_FILE_BYTES:
        report.problems.append(Problem("file", "file", str(path), f"larger than {MAX_FILE_BYTES >> 20} MiB"))
        return report

    def add(problems: list[Problem]) -> None:
        for p in problems:
            if len(report.problems) < MAX_PROBLEMS_LISTED:
                report.problems.append(p)
            else:
                report.more_problems += 1

    # key -> (line of its first use, that line's draft when drafts are kept, else its payload hash)
    first_of_key: dict[str, tuple[int, EntryDraft | str]] = {}
    first_use: dict[str, tuple[dt.date, int]] = {}
    funds_used: dict[str, int] = {}
    months: dict[str, int] = {}
    keep = size <= KEEP_DRAFTS_MAX_BYTES
    kept: list[tuple[int, EntryDraft]] = []

    def fingerprint(first: EntryDraft | str) -> str:
        return first if isinstance(first, str) else payload_hash(first)

    try:
        for n, raw in _lines(path):
            report.lines += 1
            draft, problems = parse_line(raw, n, actor.user_id)
            if problems:
                add(problems)
                continue
            assert draft is not None
            prior = first_of_key.get(draft.key)
            if prior is None:
                # A payload hash is only needed when the key turns up again (here or in the journal).
                first_of_key[draft.key] = (n, draft if keep else payload_hash(draft))
            elif fingerprint(prior[1]) != payload_hash(draft):
                add([Problem(f"line {n}", "key", draft.key,
                             f"key already used on line {prior[0]} with a different payload", row=n)])
            if keep:
                kept.append((n, draft))
            day = draft.effective_date
            for p in draft.postings:
                old = first_use.get(p.account)
                if old is None or day < old[0]:
                    first_use[p.account] = (day, n)
                if p.fund not in funds_used:
                    funds_used[p.fund] = n
            month = month_of(day)
            if month not in months:
                months[month] = n
    except LedgerRefusal as exc:
        add(exc.problems)
    if report.lines == 0 and not report.problems:
        add([Problem("file", "file", path.name, "the file has no entries")])

    with read_only(engine) as s:
        known = journal.existing_keys(s, list(first_of_key))
        for k, (seq, ph) in known.items():
            line, first = first_of_key[k]
            if ph != fingerprint(first):
                add([Problem(f"line {line}", "key", k,
                             f"key already posted as entry {seq} with a different payload", row=line)])
        accounts = journal.account_rows(s, first_use)
        funds = journal.fund_ids(s, funds_used)
        closed = journal.closed_months(s)
    for code, (first, line) in sorted(first_use.items(), key=lambda kv: kv[1][1]):
        row = accounts.get(code)
        if row is None:
            if not open_missing:
                add([Problem(f"line {line}", "account", code, "unknown account (use --open to open it)", row=line)])
        elif first < row[1]:
            add([Problem(f"line {line}", "account", code, f"account opens on {row[1].isoformat()}", row=line)])
    if not open_missing:
        for code, line in sorted(funds_used.items(), key=lambda kv: kv[1]):
            if code not in funds:
                add([Problem(f"line {line}", "fund", code, "unknown fund (use --open to open it)", row=line)])
    for month, line in sorted(months.items(), key=lambda kv: kv[1]):
        if month in closed:
            add([Problem(f"line {line}", "date", month, f"period {month} is closed", row=line)])
    if report.problems:
        report.problems.sort(key=lambda p: (p.row or 0))
        return report

    # Pass 2: everything we could check holds; post it all or nothing.
    first_of_key.clear()
    try:
        with unit_of_work(engine) as s, _bulk_sqlite_cache(s):
            if open_missing:
                report.funds_opened = ensure_funds(
                    s, {c: (c, "unclassified", None) for c in funds_used if c not in funds})
                report.accounts_opened = ensure_accounts(
                    s, {c: first for c, (first, _) in first_use.items() if c not in accounts})
            batch: list[EntryDraft] = []
            labels: list[str] = []
            first_seq = last_seq = None
            done = 0

            def flush() -> None:
                nonlocal first_seq, last_seq, done
                # parse_line ran check_draft on every one of these drafts; post() does the rest.
                for posted in journal.post(s, batch, labels=labels, checked=True):
                    if posted.created:
                        report.posted += 1
                        first_seq = posted.seq if first_seq is None else first_seq
                        last_seq = posted.seq
                    else:
                        report.already_posted += 1
                done += len(batch)
                batch.clear()
                labels.clear()
                if progress:
                    progress(done)

            def parsed_again():
                for n, raw in _lines(path):
                    draft, _ = parse_line(raw, n, actor.user_id)
                    assert draft is not None, "the file changed between the two passes"
                    yield n, draft

            for n, draft in (kept if keep else parsed_again()):
                batch.append(draft)
                labels.append(f"line {n}")
                if len(batch) >= IMPORT_CHUNK:
                    flush()
            if batch:
                flush()
            file_sha = hashlib.sha256(path.read_bytes()).hexdigest() if size < (64 << 20) else None
            audit.record(s, actor, "journal.import", "journal",
                         f"{first_seq}-{last_seq}" if first_seq else None,
                         after={"file": path.name, "sha256": file_sha, "lines": report.lines,
                                "posted": report.posted, "already_posted": report.already_posted,
                                "accounts_opened": report.accounts_opened, "funds_opened": report.funds_opened})
    except LedgerRefusal as exc:
        report.posted = report.already_posted = report.accounts_opened = report.funds_opened = 0
        for p in exc.problems:
            row = int(p.where.split()[1]) if p.where.startswith("line ") else None
            add([Problem(p.where, p.field, p.value, p.message, row=row)])
        return report
    report.ok = True
    return report


# ---------------------------------------------------------------------------------------------
# Reading, verifying, exporting


def trial_balance(engine: Engine, actor: Actor, as_of: dt.date | None = None) -> list[journal.BalanceRow]:
    require(actor, "journal.read")
    with read_only(engine) as s:
        return journal.trial_balance(s, as_of)


def verify_journal(engine: Engine, actor: Actor) -> journal.VerifyResult:
    """Recompute everything from the postings, then record the run (and audit it)."""
    require(actor, "journal.verify")
    with read_only(engine) as s:
        result = journal.verify(s)
    with unit_of_work(engine) as s:
        s.execute(VerificationRun.__table__.insert().values(
            at=utcnow(), ok=result.ok, entries_checked=result.entries_checked, head_seq=result.head_seq,
            head_hash=result.head_hash, first_bad_seq=result.first_bad_seq, message=result.message))
        audit.record(s, actor, "journal.verify", "journal", str(result.head_seq), after=result.as_dict())
    return result


def export_beancount(engine: Engine, actor: Actor, path: Path) -> int:
    """Write the journal as a Beancount file; returns the number of transactions written."""
    from ledger.beancount_export import write_beancount

    require(actor, "journal.export")
    with read_only(engine) as s:
        with path.open("w", encoding="utf-8") as fh:
            n = write_beancount(s, fh)
    with unit_of_work(engine) as s:
        audit.record(s, actor, "journal.export", "journal", None, after={"format": "beancount", "file": path.name,
                                                                          "transactions": n})
    return n


def chain_digest(engine: Engine, actor: Actor) -> dict:
    """The head (seq, hash): an auditor who keeps it can later prove history was not rewritten."""
    require(actor, "journal.read")
    with read_only(engine) as s:
        seq, h = s.execute(select(journal.HEAD.c.seq, journal.HEAD.c.hash)).one()
    return {"seq": int(seq), "hash": h}


def entry_hash_at(engine: Engine, actor: Actor, seq: int) -> str | None:
    require(actor, "journal.read")
    with read_only(engine) as s:
        return s.execute(select(journal.ENTRY.c.hash).where(journal.ENTRY.c.seq == seq)).scalar_one_or_none()


# ---------------------------------------------------------------------------------------------
# Screens and exports (read models in ledger.queries)


def journal_page(engine: Engine, actor: Actor, f: queries.JournalFilter, page: int = 1,
                 page_size: int = queries.DEFAULT_PAGE_SIZE) -> queries.Page:
    require(actor, "journal.read")
    with read_only(engine) as s:
        return queries.list_entries(s, f, page, page_size)


def entry_detail(engine: Engine, actor: Actor, seq: int) -> queries.EntryDetail | None:
    require(actor, "journal.read")
    with read_only(engine) as s:
        return queries.entry_detail(s, seq)


def account_statement(engine: Engine, actor: Actor, code: str, fund: str | None = None,
                      date_from: dt.date | None = None, date_to: dt.date | None = None, page: int = 1,
                      page_size: int = queries.DEFAULT_PAGE_SIZE) -> queries.Statement | None:
    require(actor, "journal.read")
    with read_only(engine) as s:
        return queries.account_statement(s, code, fund, date_from, date_to, page, page_size)


def audit_page(engine: Engine, actor: Actor, f: queries.AuditFilter, page: int = 1,
               page_size: int = queries.DEFAULT_PAGE_SIZE) -> queries.Page:
    require(actor, "audit.read")
    with read_only(engine) as s:
        return queries.list_audit(s, f, page, page_size)


def chain_status(engine: Engine, actor: Actor) -> queries.ChainStatus:
    # Admins do not read the ledger, but they may see whether the chain verifies.
    require(actor, "journal.verify" if actor.role == "admin" else "journal.read")
    with read_only(engine) as s:
        return queries.chain_status(s)


def journal_choices(engine: Engine, actor: Actor) -> tuple[list[str], list[str]]:
    """(entry kinds in use, fund codes) for filter drop-downs."""
    require(actor, "journal.read")
    with read_only(engine) as s:
        return queries.entry_kinds(s), queries.fund_codes(s)


EXPORT_FORMATS = ("xlsx", "csv")


def _yuan(fen: int) -> Decimal:
    return fen_to_yuan(fen)


def export_list(engine: Engine, actor: Actor, list_name: str, fmt: str, params: dict) -> tuple[str, bytes]:
    """Export a whole list (not just the page on screen) as XLSX or CSV; audited.

    list_name: journal | trial_balance | statement | funds | audit. Returns (file name, bytes).
    """
    if fmt not in EXPORT_FORMATS:
        raise _refuse("export", "format", fmt, "format must be xlsx or csv")
    perm = "audit.read" if list_name == "audit" else "journal.export"
    require(actor, perm)
    cap = queries.MAX_EXPORT_ROWS
    with read_only(engine) as s:
        if list_name == "journal":
            f = params["filter"]
            page = queries.list_entries(s, f, limit_all=cap)
            headers = ["seq 序号", "date 日期", "kind 类型", "memo 摘要", "amount 金额", "key 业务键",
                       "reverses 冲销", "reversed_by 被冲销", "maker 制单人", "recorded_at 记录时间"]
            rows = [[r.seq, r.effective_date, r.kind, r.memo, _yuan(r.amount_fen), r.key, r.reverses,
                     r.reversed_by, r.maker, r.recorded_at] for r in page.items]
        elif list_name == "trial_balance":
            as_of = params.get("as_of")
            tb = journal.trial_balance(s, as_of)
            headers = ["account 科目", "fund 资金来源", "balance 余额"]
            rows = [[r.account, r.fund, _yuan(r.balance_fen)] for r in tb]
        elif list_name == "statement":
            st = queries.account_statement(s, params["code"], params.get("fund"), params.get("date_from"),
                                           params.get("date_to"), limit_all=cap)
            if st is None:
                raise _refuse("export", "account", params["code"], "no such account")
            headers = ["date 日期", "seq 序号", "kind 类型", "memo 摘要", "fund 资金来源", "party 对象",
                       "amount 金额", "balance 余额"]
            rows = [[ln.effective_date, ln.seq, ln.kind, ln.memo, ln.fund, ln.party, _yuan(ln.amount_fen),
                     _yuan(ln.running_fen)] for ln in st.lines.items]
        elif list_name == "funds":
            headers = ["fund 资金编码", "name 资金名称", "kind 资金性质", "document_no 指标文号",
                       "received 到位金额", "allocated 已安排", "in_pool 资金池结余"]
            rows = [[f.code, f.name, f.kind, f.document_no, _yuan(f.received_fen), _yuan(f.allocated_fen),
                     _yuan(f.in_pool_fen)] for f in fund_sources(engine, actor)]
        elif list_name == "audit":
            page = queries.list_audit(s, params["filter"], limit_all=cap)
            headers = ["id", "at 时间", "actor 操作人", "action 操作", "object 对象", "object_id 编号",
                       "before 变更前", "after 变更后"]
            rows = [[a.id, a.at, a.actor, a.action, a.object_type, a.object_id, a.before, a.after]
                    for a in page.items]
        else:
            raise _refuse("export", "list", list_name, "unknown list")
    data = exports.to_xlsx(headers, rows, list_name) if fmt == "xlsx" else exports.to_csv(headers, rows)
    name = f"huimin-{list_name}-{utcnow().strftime('%Y%m%d-%H%M%S')}.{fmt}"
    with unit_of_work(engine) as s:
        audit.record(s, actor, "export." + list_name, "export", name,
                     after={"format": fmt, "rows": len(rows), "params": {k: str(v) for k, v in params.items()}})
    return name, data


# ---------------------------------------------------------------------------------------------
# Fund receipts from the funds template (DESIGN.md §8)


@dataclass(frozen=True, slots=True)
class FundReceiptIn:
    """One row of the funds template: a fund source and the money that arrived from it."""

    fund_code: str
    fund_name: str
    kind: str
    document_no: str
    amount_fen: int
    received_on: dt.date
    row: int | None = None


def _row_of(where: str) -> int | None:
    head, _, rest = where.partition(" ")
    return int(rest) if head in ("row", "line") and rest.isdigit() else None


def import_fund_receipts(engine: Engine, actor: Actor, rows: list[FundReceiptIn],
                         history: HistoryMark | None = None) -> dict:
    """Register the fund sources a sheet names and post their receipts (资金到位): all or nothing.

    A receipt's idempotency key is the fund code and its date, so re-importing the sheet posts
    nothing, and the same fund and date with another amount is a conflict, not a second receipt.
    A fund already registered must keep its kind: a sheet cannot re-classify a source silently.

    With `history` (money received before the county adopted Huimin): the same checks and the same
    posting, with the named approver as each entry's checker (validated in this transaction by
    ledger.history.approver) and a history_record row per entry. The key is the same as today's, so
    a receipt is never in the journal twice; one already posted as today's work is refused by row
    rather than marked as history (its entry has no checker: the mark would claim an approval the
    journal does not show).
    """
    require(actor, "fund.register")
    require(actor, "fund.receive")
    assert len(rows) <= journal.MAX_DRAFTS_PER_CALL, "split the sheet"
    with unit_of_work(engine) as s:
        checker = history_approver(s, actor, "funds", history.approved_by) if history is not None else None
        known = {r.code: r for r in s.execute(select(FUND.c.code, FUND.c.kind, FUND.c.document_no)
                                              .where(FUND.c.code.in_(sorted({r.fund_code for r in rows}))))}
        problems = []
        for r in rows:
            have = known.get(r.fund_code)
            if have is not None and have.kind != r.kind:
                problems.append(Problem(f"row {r.row}", "kind", r.kind,
                                        f"fund {r.fund_code} is registered as {have.kind}", row=r.row))
        if problems:
            raise LedgerRefusal(problems)
        funds_created = ensure_funds(s, {r.fund_code: (r.fund_name, r.kind, r.document_no) for r in rows
                                         if r.fund_code not in known})
        drafts = [flows.fund_received(f"funds:{r.fund_code}:{r.received_on.isoformat()}", r.fund_code, r.amount_fen,
                                      r.received_on, f"{r.fund_name} {r.document_no}".strip(), actor.user_id,
                                      checker_id=checker.user_id if checker is not None else None)
                  for r in rows]
        first_use: dict[str, dt.date] = {}
        for d in drafts:
            for p in d.postings:
                first_use[p.account] = min(first_use.get(p.account, d.effective_date), d.effective_date)
        ensure_accounts(s, first_use)
        try:
            posted = journal.post(s, drafts, labels=[f"row {r.row}" for r in rows])
        except LedgerRefusal as exc:
            raise LedgerRefusal([Problem(p.where, p.field, p.value, p.message, row=_row_of(p.where))
                                 for p in exc.problems]) from None
        created = [p.seq for p in posted if p.created]
        summary = {"funds_created": funds_created, "receipts_posted": len(created),
                   "receipts_already_posted": len(posted) - len(created)}
        if history is not None:
            assert checker is not None
            earlier = [(r, p) for r, p in zip(rows, posted, strict=True) if not p.created]
            marked = history_marked(s, [p.seq for _r, p in earlier])
            refused = [Problem(f"row {r.row}", "fund_code", r.fund_code,
                               f"this receipt is already entry {p.seq}, posted as today's work and not as history: "
                               "take the row out of the history sheet", row=r.row)
                       for r, p in earlier if p.seq not in marked]
            if refused:
                raise LedgerRefusal(refused)
            summary["history_marked"] = history_mark(s, "funds", history.file_sha256, actor, checker,
                                                     [(p.seq, r.row) for r, p in zip(rows, posted, strict=True)])
        if created or funds_created:
            extra = ({"history": {"approved_by": checker.username, "file_sha256": history.file_sha256}}
                     if history is not None and checker is not None else {})
            audit.record(s, actor, "fund.import", "journal", f"{min(created)}-{max(created)}" if created else None,
                         after=summary | {"rows": len(rows)} | extra)
    return summary


def history_marked(session: Session, seqs: list[int]) -> set[int]:
    """Which of these entries carry a history_record mark."""
    out: set[int] = set()
    for chunk in bulk.chunks(sorted(set(seqs))):
        out.update(int(r[0]) for r in session.execute(select(HISTORY.c.entry_seq)
                                                      .where(HISTORY.c.entry_seq.in_(chunk))))
    return out


# ---------------------------------------------------------------------------------------------
# Fund sources (资金来源): what each source sent, with its document numbers, and where it is now


MAX_RECEIPTS_PER_FUND = 500  # a source sends a few tranches a year


@dataclass(frozen=True, slots=True)
class ReceiptView:
    seq: int
    received_on: dt.date
    amount_fen: int  # negative for a reversal of a receipt
    memo: str
    kind: str


@dataclass(frozen=True, slots=True)
class FundSourceView:
    code: str
    name: str
    kind: str
    document_no: str | None
    received_fen: int  # net of reversals
    in_pool_fen: int  # not yet allocated to a project
    receipts: tuple[ReceiptView, ...]

    @property
    def allocated_fen(self) -> int:
        """Given out of the pool (to projects, the risk fund, or re-designated): received minus what is left."""
        return self.received_fen - self.in_pool_fen


def fund_sources(engine: Engine, actor: Actor) -> list[FundSourceView]:
    """Every fund source with its receipts (资金到位) into the pool, newest last; stored balances for the
    totals, the pool's postings (an index range per fund) for the receipts."""
    require(actor, "journal.read")
    with read_only(engine) as s:
        funds = s.execute(select(FUND.c.id, FUND.c.code, FUND.c.name, FUND.c.kind, FUND.c.document_no)
                          .order_by(FUND.c.code)).all()
        pool = s.execute(select(ACCOUNT.c.id).where(ACCOUNT.c.code == flows.POOL)).scalar()
        out = []
        for f in funds:
            income = s.execute(select(ACCOUNT.c.id).where(
                ACCOUNT.c.code == flows.transfer_income_account(f.code))).scalar()
            received = -journal.account_balance(s, income, f.id) if income is not None else 0
            in_pool = journal.account_balance(s, pool, f.id) if pool is not None else 0
            receipts: tuple[ReceiptView, ...] = ()
            if income is not None:
                rows = s.execute(select(ENTRY.c.seq, ENTRY.c.effective_date, ENTRY.c.memo, ENTRY.c.kind,
                                        POSTING.c.amount_fen)
                                 .select_from(POSTING.join(ENTRY, ENTRY.c.seq == POSTING.c.entry_seq))
                                 .where(POSTING.c.account_id == income, POSTING.c.fund_id == f.id)
                                 .order_by(POSTING.c.effective_date, ENTRY.c.seq).limit(MAX_RECEIPTS_PER_FUND)).all()
                receipts = tuple(ReceiptView(int(r.seq), r.effective_date, -int(r.amount_fen), r.memo, r.kind)
                                 for r in rows)
            out.append(FundSourceView(f.code, f.name, f.kind, f.document_no, received, in_pool, receipts))
    return out
