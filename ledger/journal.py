"""The journal: the only code that writes entries, postings and balances.

`post` takes checked drafts and, inside the caller's transaction, locks the chain head, resolves
idempotency keys, enforces open accounts, closed periods and account limits, assigns gap-free
sequence numbers, chains the hashes, inserts entries and postings in bulk, seals them (the
database refuses the seal unless every fund balances) and updates the stored balances.
`verify` recomputes the chain and every balance from the postings.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, func, literal_column, select, tuple_, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

from ledger import bulk
from ledger.entries import (
    EntryDraft,
    PostingDraft,
    Problem,
    check_draft,
    entry_hash,
    month_of,
    payload_hash,
)
from ledger.models import GENESIS_HASH, Account, Balance, Entry, Fund, JournalHead, PeriodClose, Posting, utcnow
from ledger.money import format_yuan

ENTRY = Entry.__table__
POSTING = Posting.__table__
BALANCE = Balance.__table__
ACCOUNT = Account.__table__
FUND = Fund.__table__
HEAD = JournalHead.__table__

# Keeps every IN (...) list well under SQLite's and PostgreSQL's bound-parameter limits.
LOOKUP_CHUNK = bulk.LOOKUP_CHUNK
# The most drafts one call to `post` takes; callers with more (imports) call it repeatedly
# inside one transaction.
MAX_DRAFTS_PER_CALL = 10_000


class LedgerRefusal(Exception):
    """The journal refused a batch; nothing of it was written. Carries every problem found."""

    def __init__(self, problems: Sequence[Problem]):
        assert problems
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems[:5]))


@dataclass(frozen=True, slots=True)
class Posted:
    seq: int
    key: str
    created: bool  # False when the key was already posted with the same payload


_chunks = bulk.chunks


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


_ENTRY_COLUMNS = ("seq", "effective_date", "recorded_at", "kind", "memo", "idempotency_key", "payload_hash",
                  "reverses", "maker_id", "checker_id", "status", "prev_hash", "hash")
_POSTING_COLUMNS = ("entry_seq", "account_id", "fund_id", "amount_fen", "party", "effective_date")
_BALANCE_COLUMNS = ("account_id", "fund_id", "balance_fen", "version", "last_seq", "non_negative")


# Statements for ledger.bulk: compiled once per dialect, run on the DBAPI cursor.
def _entries_by_key() -> tuple[Executable, dict]:
    return select(ENTRY.c.idempotency_key, ENTRY.c.seq, ENTRY.c.payload_hash).where(
        ENTRY.c.idempotency_key.in_(bulk.in_params(ENTRY.c.idempotency_key))), {}


def _accounts_by_code() -> tuple[Executable, dict]:
    return select(ACCOUNT.c.code, ACCOUNT.c.id, ACCOUNT.c.opened_on, ACCOUNT.c.closed_on, ACCOUNT.c.limit_kind).where(
        ACCOUNT.c.code.in_(bulk.in_params(ACCOUNT.c.code))), {}


def _balances_by_account() -> tuple[Executable, dict]:
    return select(BALANCE.c.account_id, BALANCE.c.fund_id).where(
        BALANCE.c.account_id.in_(bulk.in_params(BALANCE.c.account_id))), {}


def _balance_add() -> tuple[Executable, dict]:
    stmt = (
        update(BALANCE)
        .where(BALANCE.c.account_id == bindparam("a"), BALANCE.c.fund_id == bindparam("f"))
        .values(balance_fen=BALANCE.c.balance_fen + bindparam("d"), version=BALANCE.c.version + literal_column("1"),
                last_seq=bindparam("s"))
    )
    return stmt, {}


def lock_head(session: Session) -> tuple[int, str]:
    """Lock the chain head for this transaction and return (last seq, last hash)."""
    stmt = select(HEAD.c.seq, HEAD.c.hash).where(HEAD.c.id == 1)
    if _dialect(session) == "postgresql":
        stmt = stmt.with_for_update()
    row = session.execute(stmt).one_or_none()
    assert row is not None, "journal_head row missing: run `huimin db upgrade`"
    return int(row.seq), str(row.hash)


def existing_keys(session: Session, keys: Sequence[str]) -> dict[str, tuple[int, str]]:
    """key -> (seq, payload_hash) for keys already in the journal."""
    found: dict[str, tuple[int, str]] = {}
    for key, seq, ph in bulk.rows_in(session.connection(), "entry.by_key", _entries_by_key, list(keys)):
        found[key] = (int(seq), ph)
    return found


def account_rows(session: Session, codes: Iterable[str]) -> dict[str, tuple[int, dt.date, dt.date | None, str]]:
    """code -> (id, opened_on, closed_on, limit_kind)."""
    conn = session.connection()
    to_date = bulk.from_driver(conn, ACCOUNT.c.opened_on)  # opened_on and closed_on are both dates
    out: dict[str, tuple[int, dt.date, dt.date | None, str]] = {}
    for code, aid, opened_on, closed_on, limit_kind in bulk.rows_in(conn, "account.by_code", _accounts_by_code,
                                                                     sorted(set(codes))):
        out[code] = (int(aid), to_date(opened_on), to_date(closed_on), limit_kind)
    return out


def fund_ids(session: Session, codes: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for chunk in _chunks(sorted(set(codes))):
        for code, fid in session.execute(select(FUND.c.code, FUND.c.id).where(FUND.c.code.in_(chunk))):
            out[code] = int(fid)
    return out


def closed_months(session: Session) -> set[str]:
    return {m for (m,) in session.execute(select(PeriodClose.__table__.c.month))}


def post(
    session: Session,
    drafts: Sequence[EntryDraft],
    *,
    labels: Sequence[str] | None = None,
    recorded_at: dt.datetime | None = None,
    checked: bool = False,
) -> list[Posted]:
    """Post drafts in order inside the caller's transaction; all or nothing.

    `labels` names each draft in problems (an import passes "line 17"); default "entry <key>".
    `checked=True` says the caller has already run `check_draft` on these very drafts and found
    nothing (the journal importer's parser does, for every line); drafts are frozen, so that check
    still holds and is not run again. Everything that needs the database is always checked here,
    and the database's seal still refuses an entry that does not balance within each fund.
    Raises LedgerRefusal with every problem found; the caller's transaction must then roll back.
    """
    assert len(drafts) <= MAX_DRAFTS_PER_CALL, "split the batch"
    if not drafts:
        return []
    labels = list(labels) if labels is not None else [f"entry {d.key}" for d in drafts]
    assert len(labels) == len(drafts)
    recorded_at = (recorded_at or utcnow()).replace(microsecond=0)

    problems: list[Problem] = []
    if not checked:
        for draft, where in zip(drafts, labels, strict=True):
            problems.extend(check_draft(draft, where))
        if problems:
            raise LedgerRefusal(problems)

    head_seq, head_hash = lock_head(session)

    # Idempotency: a key already posted with the same payload returns the original entry; with a
    # different payload it is a conflict. Repeats inside this batch are treated the same way.
    hashes = [payload_hash(d) for d in drafts]
    known = existing_keys(session, [d.key for d in drafts])
    in_batch: dict[str, str] = {}
    results: list[Posted | None] = []
    fresh: list[int] = []  # indexes of drafts to post
    for i, (draft, ph) in enumerate(zip(drafts, hashes, strict=True)):
        prior = known.get(draft.key)
        if prior is not None:
            if prior[1] != ph:
                problems.append(Problem(labels[i], "key", draft.key,
                                        f"key already posted as entry {prior[0]} with a different payload"))
            results.append(Posted(prior[0], draft.key, False))
            continue
        if draft.key in in_batch:
            if in_batch[draft.key] != ph:
                problems.append(Problem(labels[i], "key", draft.key, "key repeated with a different payload"))
            results.append(None)  # filled in once the first occurrence has its seq
            continue
        in_batch[draft.key] = ph
        results.append(None)
        fresh.append(i)

    accounts = account_rows(session, (p.account for i in fresh for p in drafts[i].postings))
    funds = fund_ids(session, (p.fund for i in fresh for p in drafts[i].postings))
    closed = closed_months(session)
    reversed_targets = _check_reversals(session, [drafts[i] for i in fresh], [labels[i] for i in fresh])
    problems.extend(reversed_targets)

    for i in fresh:
        draft, where = drafts[i], labels[i]
        day = draft.effective_date
        if closed and month_of(day) in closed:
            problems.append(Problem(where, "date", day.isoformat(), f"period {month_of(day)} is closed"))
        for n, p in enumerate(draft.postings):
            acct = accounts.get(p.account)
            if acct is None:
                problems.append(Problem(where, f"postings[{n}].account", p.account, "unknown account"))
            else:
                _, opened_on, closed_on, _ = acct
                if day < opened_on:
                    problems.append(Problem(where, f"postings[{n}].account", p.account,
                                            f"account opens on {opened_on.isoformat()}"))
                if closed_on is not None and day > closed_on:
                    problems.append(Problem(where, f"postings[{n}].account", p.account,
                                            f"account closed on {closed_on.isoformat()}"))
            if p.fund not in funds:
                problems.append(Problem(where, f"postings[{n}].fund", p.fund, "unknown fund"))
    if problems:
        raise LedgerRefusal(problems)

    problems.extend(_check_limits(session, drafts, labels, fresh, accounts, funds))
    if problems:
        raise LedgerRefusal(problems)

    conn = session.connection()
    # Rows as tuples for ledger.bulk; dates in the driver's form, converted once per distinct date.
    entry_day = bulk.to_driver(conn, ENTRY.c.effective_date)
    posting_day = bulk.to_driver(conn, POSTING.c.effective_date)
    recorded = bulk.to_driver(conn, ENTRY.c.recorded_at)(recorded_at)
    entry_rows: list[tuple] = []
    posting_rows: list[tuple] = []
    deltas: dict[tuple[int, int], int] = defaultdict(int)
    last_seq_of: dict[tuple[int, int], int] = {}
    seq_of_key: dict[str, int] = {}
    seq, prev = head_seq, head_hash
    for i in fresh:
        draft = drafts[i]
        seq += 1
        canon = [(p.account, p.fund, p.amount_fen, p.party) for p in draft.postings]
        h = entry_hash(prev, seq, draft.key, draft.effective_date, recorded_at, draft.kind, draft.memo,
                       draft.reverses, draft.maker_id, draft.checker_id, canon)
        entry_rows.append((seq, entry_day(draft.effective_date), recorded, draft.kind, draft.memo, draft.key,
                           hashes[i], draft.reverses, draft.maker_id, draft.checker_id, "pending", prev, h))
        day = posting_day(draft.effective_date)
        for account, fund, amount, party in canon:
            pair = (accounts[account][0], funds[fund])
            posting_rows.append((seq, pair[0], pair[1], amount, party, day))
            deltas[pair] += amount
            last_seq_of[pair] = seq
        seq_of_key[draft.key] = seq
        prev = h

    if entry_rows:
        bulk.insert_rows(conn, ENTRY, _ENTRY_COLUMNS, entry_rows, frozenset({"effective_date", "recorded_at"}))
        bulk.insert_rows(conn, POSTING, _POSTING_COLUMNS, posting_rows, frozenset({"effective_date"}))
        # The seal: the database aborts this statement unless every entry balances within each fund.
        sealed = conn.execute(
            update(ENTRY).where(and_(ENTRY.c.seq > head_seq, ENTRY.c.seq <= seq)).values(status="posted")
        ).rowcount
        assert sealed == len(entry_rows), (sealed, len(entry_rows))
        _apply_balances(session, deltas, last_seq_of, accounts)
        session.execute(update(HEAD).where(HEAD.c.id == 1).values(seq=seq, hash=prev))

    fresh_set = set(fresh)
    out: list[Posted] = []
    for i, (draft, res) in enumerate(zip(drafts, results, strict=True)):
        out.append(res if res is not None else Posted(seq_of_key[draft.key], draft.key, i in fresh_set))
    return out


def _check_reversals(session: Session, drafts: Sequence[EntryDraft], labels: Sequence[str]) -> list[Problem]:
    targets = [d.reverses for d in drafts if d.reverses is not None]
    if not targets:
        return []
    problems: list[Problem] = []
    rows = {
        int(r.seq): r
        for chunk in _chunks(sorted(set(targets)))
        for r in session.execute(select(ENTRY.c.seq, ENTRY.c.reverses, ENTRY.c.status).where(ENTRY.c.seq.in_(chunk)))
    }
    already = {
        int(r[0])
        for chunk in _chunks(sorted(set(targets)))
        for r in session.execute(select(ENTRY.c.reverses).where(ENTRY.c.reverses.in_(chunk)))
    }
    seen: set[int] = set()
    for d, where in zip(drafts, labels, strict=True):
        if d.reverses is None:
            if d.kind == "reversal":
                problems.append(Problem(where, "reverses", "", "a reversal must name the entry it reverses"))
            continue
        t = d.reverses
        row = rows.get(t)
        if row is None:
            problems.append(Problem(where, "reverses", str(t), "no such entry"))
        elif row.reverses is not None:
            problems.append(Problem(where, "reverses", str(t), "a reversal cannot be reversed"))
        elif t in already or t in seen:
            problems.append(Problem(where, "reverses", str(t), "entry is already reversed"))
        seen.add(t)
    return problems


def _check_limits(session: Session, drafts, labels, fresh, accounts, funds) -> list[Problem]:
    """Replay the batch over locked balances of limited accounts; name the draft that overdraws."""
    limited = {code: row[0] for code, row in accounts.items() if row[3] == "non_negative"}
    if not limited:
        return []
    pairs = sorted({
        (limited[p.account], funds[p.fund]) for i in fresh for p in drafts[i].postings if p.account in limited
    })
    if not pairs:
        return []
    running: dict[tuple[int, int], int] = {}
    for chunk in _chunks(pairs, 250):
        # Fixed lock order (account, fund) so two posters can never deadlock on balance rows.
        stmt = (
            select(BALANCE.c.account_id, BALANCE.c.fund_id, BALANCE.c.balance_fen)
            .where(tuple_(BALANCE.c.account_id, BALANCE.c.fund_id).in_(chunk))
            .order_by(BALANCE.c.account_id, BALANCE.c.fund_id)
        )
        if _dialect(session) == "postgresql":
            stmt = stmt.with_for_update()
        for aid, fid, bal in session.execute(stmt):
            running[(int(aid), int(fid))] = int(bal)
    problems: list[Problem] = []
    for i in fresh:
        for n, p in enumerate(drafts[i].postings):
            if p.account not in limited:
                continue
            pair = (limited[p.account], funds[p.fund])
            new = running.get(pair, 0) + p.amount_fen
            running[pair] = new
            if new < 0:
                problems.append(Problem(labels[i], f"postings[{n}].amount", format_yuan(p.amount_fen),
                                        f"{p.account} in fund {p.fund} would go to {format_yuan(new)}; "
                                        "it may not go below zero"))
    return problems


def _apply_balances(session: Session, deltas, last_seq_of, accounts) -> None:
    """Add each (account, fund) delta to its stored balance, creating missing rows.

    Not an UPSERT: SQLite checks CHECK constraints on the candidate row before it sees the
    conflict, so a negative delta to a healthy limited balance would be refused.
    """
    non_negative_ids = {row[0] for row in accounts.values() if row[3] == "non_negative"}
    pairs = sorted(deltas)
    # Which pairs have a row: look up by account (the primary key's leading column), keep the pairs.
    conn = session.connection()
    existing: set[tuple[int, int]] = set()
    for a, f in bulk.rows_in(conn, "balance.by_account", _balances_by_account, sorted({a for a, _ in pairs})):
        pair = (int(a), int(f))
        if pair in deltas:
            existing.add(pair)
    flag = bulk.to_driver(conn, BALANCE.c.non_negative)
    updates = [(deltas[pair], last_seq_of[pair], pair[0], pair[1]) for pair in pairs if pair in existing]
    inserts = [(a, f, deltas[(a, f)], 1, last_seq_of[(a, f)], flag(a in non_negative_ids))
               for a, f in pairs if (a, f) not in existing]
    bulk.executemany(conn, "balance.add", _balance_add, ("d", "s", "a", "f"), updates)
    bulk.insert_rows(conn, BALANCE, _BALANCE_COLUMNS, inserts, frozenset({"non_negative"}))


# ---------------------------------------------------------------------------------------------
# Reading


def entry_postings(session: Session, seq: int) -> list[PostingDraft]:
    rows = session.execute(
        select(ACCOUNT.c.code, FUND.c.code, POSTING.c.amount_fen, POSTING.c.party)
        .select_from(POSTING.join(ACCOUNT, ACCOUNT.c.id == POSTING.c.account_id)
                     .join(FUND, FUND.c.id == POSTING.c.fund_id))
        .where(POSTING.c.entry_seq == seq)
        .order_by(POSTING.c.id)
    )
    return [PostingDraft(a, f, int(amt), party) for a, f, amt, party in rows]


@dataclass(frozen=True, slots=True)
class BalanceRow:
    account: str
    fund: str
    balance_fen: int


def trial_balance(session: Session, as_of: dt.date | None = None) -> list[BalanceRow]:
    """Balances per (account, fund), debit positive, zero rows omitted.

    Current balances come from the stored balance table. An as-of balance is the stored balance
    minus postings dated after the as-of date (an index range on posting.effective_date), so the
    cost grows with the history after the date, never with the whole journal.
    """
    totals: dict[tuple[int, int], int] = {}
    for aid, fid, bal in session.execute(select(BALANCE.c.account_id, BALANCE.c.fund_id, BALANCE.c.balance_fen)):
        totals[(int(aid), int(fid))] = int(bal)
    if as_of is not None:
        later = session.execute(
            select(POSTING.c.account_id, POSTING.c.fund_id, func.sum(POSTING.c.amount_fen))
            .where(POSTING.c.effective_date > as_of)
            .group_by(POSTING.c.account_id, POSTING.c.fund_id)
        )
        for aid, fid, s in later:
            totals[(int(aid), int(fid))] = totals.get((int(aid), int(fid)), 0) - int(s)
    codes = dict(session.execute(select(ACCOUNT.c.id, ACCOUNT.c.code)).all())
    fcodes = dict(session.execute(select(FUND.c.id, FUND.c.code)).all())
    rows = [BalanceRow(codes[a], fcodes[f], v) for (a, f), v in totals.items() if v != 0]
    rows.sort(key=lambda r: (r.account, r.fund))
    return rows


def account_balance(session: Session, account_id: int, fund_id: int, as_of: dt.date | None = None) -> int:
    """One account's balance in one fund, as of a date: an index range, not a scan."""
    if as_of is None:
        bal = session.execute(
            select(BALANCE.c.balance_fen).where(BALANCE.c.account_id == account_id, BALANCE.c.fund_id == fund_id)
        ).scalar_one_or_none()
        return int(bal or 0)
    s = session.execute(
        select(func.coalesce(func.sum(POSTING.c.amount_fen), 0)).where(
            POSTING.c.account_id == account_id, POSTING.c.fund_id == fund_id, POSTING.c.effective_date <= as_of
        )
    ).scalar_one()
    return int(s)


# ---------------------------------------------------------------------------------------------
# Verification


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    entries_checked: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None
    message: str

    def as_dict(self) -> dict:
        return {
            "ok": self.ok, "entries_checked": self.entries_checked, "head_seq": self.head_seq,
            "head_hash": self.head_hash, "first_bad_seq": self.first_bad_seq, "message": self.message,
        }


VERIFY_FETCH = 5_000


def verify(session: Session) -> VerifyResult:
    """Recompute the hash chain and every stored balance from the postings.

    Streams entries and postings in seq order (two ordered cursors merged), so memory stays flat
    on millions of postings. Stops at the first entry that disagrees and names it.
    """
    codes = dict(session.execute(select(ACCOUNT.c.id, ACCOUNT.c.code)).all())
    fcodes = dict(session.execute(select(FUND.c.id, FUND.c.code)).all())
    head_seq, head_hash = session.execute(select(HEAD.c.seq, HEAD.c.hash).where(HEAD.c.id == 1)).one()

    entries = session.execute(
        select(ENTRY.c.seq, ENTRY.c.idempotency_key, ENTRY.c.effective_date, ENTRY.c.recorded_at, ENTRY.c.kind,
               ENTRY.c.memo, ENTRY.c.reverses, ENTRY.c.maker_id, ENTRY.c.checker_id, ENTRY.c.status,
               ENTRY.c.prev_hash, ENTRY.c.hash)
        .order_by(ENTRY.c.seq).execution_options(yield_per=VERIFY_FETCH)
    )
    postings = session.execute(
        select(POSTING.c.entry_seq, POSTING.c.account_id, POSTING.c.fund_id, POSTING.c.amount_fen, POSTING.c.party,
               POSTING.c.effective_date)
        .order_by(POSTING.c.entry_seq, POSTING.c.id).execution_options(yield_per=VERIFY_FETCH)
    )
    pit = iter(postings)
    pending_p = next(pit, None)
    computed: dict[tuple[int, int], int] = defaultdict(int)
    prev = GENESIS_HASH
    expected_seq = 0
    count = 0

    def bad(seq: int | None, msg: str) -> VerifyResult:
        return VerifyResult(False, count, int(head_seq), head_hash, seq, msg)

    for e in entries:
        expected_seq += 1
        if pending_p is not None and pending_p.entry_seq < e.seq:
            return bad(int(pending_p.entry_seq), f"posting belongs to missing entry {pending_p.entry_seq}")
        mine = []
        while pending_p is not None and pending_p.entry_seq == e.seq:
            mine.append(pending_p)
            pending_p = next(pit, None)
        if e.seq != expected_seq:
            return bad(expected_seq, f"sequence gap: expected entry {expected_seq}, found {e.seq}")
        if e.status != "posted":
            return bad(e.seq, f"entry {e.seq} is not sealed")
        if e.prev_hash != prev:
            return bad(e.seq, f"entry {e.seq}: prev_hash does not match the hash of entry {e.seq - 1}")
        by_fund: dict[int, int] = defaultdict(int)
        for p in mine:
            by_fund[p.fund_id] += int(p.amount_fen)
            computed[(int(p.account_id), int(p.fund_id))] += int(p.amount_fen)
            if p.effective_date != e.effective_date:
                return bad(e.seq, f"entry {e.seq}: a posting's date differs from its entry's")
        if len(mine) < 2 or any(v != 0 for v in by_fund.values()):
            return bad(e.seq, f"entry {e.seq} does not balance within each fund")
        canon = [(codes[p.account_id], fcodes[p.fund_id], int(p.amount_fen), p.party) for p in mine]
        h = entry_hash(prev, e.seq, e.idempotency_key, e.effective_date, e.recorded_at, e.kind, e.memo,
                       e.reverses, e.maker_id, e.checker_id, canon)
        if h != e.hash:
            return bad(e.seq, f"entry {e.seq}: hash does not match its contents (changed after posting)")
        prev = h
        count += 1
    if pending_p is not None:
        return bad(int(pending_p.entry_seq), f"posting belongs to missing entry {pending_p.entry_seq}")
    if int(head_seq) != expected_seq or head_hash != prev:
        return bad(int(head_seq), f"chain head says entry {head_seq} but the journal ends at {expected_seq}")

    stored = {
        (int(a), int(f)): (int(b), int(ls))
        for a, f, b, ls in session.execute(
            select(BALANCE.c.account_id, BALANCE.c.fund_id, BALANCE.c.balance_fen, BALANCE.c.last_seq)
        )
    }
    for pair in sorted(set(stored) | set(computed)):
        have = stored.get(pair, (0, None))
        want = computed.get(pair, 0)
        if have[0] != want:
            where = have[1]
            return bad(where, f"stored balance of {codes.get(pair[0])} in fund {fcodes.get(pair[1])} is "
                              f"{format_yuan(have[0])}, the postings sum to {format_yuan(want)}")
    return VerifyResult(True, count, int(head_seq), head_hash, None, "ok")
