"""History imports (`huimin import KIND FILE --history --approved-by USER`): money a county already
received, allocated or paid this year before it adopted Huimin Ledger.

Such rows go through the same validation and the same posting code as today's work, on their own
dates; what differs is who is named: the importer is the maker, the named approver the checker (the
entry's `checker_id`), and each entry gets a `history_record` row so that reports, the inspector and
an auditor can tell a migrated payment from one decided in the system. There is no disclosure wait
(the 公示 happened on paper at the time). This module owns the approver check and the marks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger import bulk
from ledger.entries import Problem
from ledger.journal import LedgerRefusal
from ledger.models import HISTORY_SOURCES, AppUser, HistoryRecord, utcnow
from ledger.permissions import Actor, allowed

USER = AppUser.__table__
HISTORY = HistoryRecord.__table__

# Which permission the named approver must hold for each history source.
APPROVER_PERMISSION = {"funds": "fund.approve", "allocations": "fund.approve", "payments": "payment.approve"}
assert set(APPROVER_PERMISSION) == set(HISTORY_SOURCES)


@dataclass(frozen=True, slots=True)
class HistoryMark:
    """What the command line knows when it is asked for a history import."""

    approved_by: str  # a username
    file_sha256: str


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def approver(session: Session, actor: Actor, source: str, username: str) -> Actor:
    """The named approver as an Actor, or a refusal: an active user, not the importer, allowed to
    approve this kind of thing today (history is checked by the same role that would approve it now)."""
    row = session.execute(select(USER.c.id, USER.c.username, USER.c.role, USER.c.township, USER.c.is_active)
                          .where(USER.c.username == username)).first()
    if row is None or not row.is_active:
        raise LedgerRefusal([Problem("file", "approved_by", username, "no active user by that name")])
    checker = Actor(user_id=int(row.id), username=row.username, role=row.role, township=row.township)
    if checker.user_id == actor.user_id:
        raise LedgerRefusal([Problem("file", "approved_by", username,
                                     "the approver must be another user than the importer")])
    permission = APPROVER_PERMISSION[source]
    if not allowed(checker, permission) or checker.role == "system":
        raise LedgerRefusal([Problem("file", "approved_by", username,
                                     f"{username} ({checker.role}) may not approve {source}")])
    return checker


def mark(session: Session, source: str, file_hash: str, recorded_by: Actor, approved_by: Actor,
         entries: Iterable[tuple[int, int | None]], new_entries: bool = False) -> int:
    """Mark (entry seq, sheet row) pairs as history; an entry already marked (a re-import) is skipped.
    `new_entries`: the caller posted every one of these entries in this transaction, so none can be
    marked yet (no look-up)."""
    assert source in HISTORY_SOURCES
    pairs = list(entries)
    if not pairs:
        return 0
    seqs = [seq for seq, _ in pairs]
    known: set[int] = set()
    for i in range(0, 0 if new_entries else len(seqs), bulk.LOOKUP_CHUNK):
        known.update(r[0] for r in session.execute(
            select(HISTORY.c.entry_seq).where(HISTORY.c.entry_seq.in_(seqs[i:i + bulk.LOOKUP_CHUNK]))))
    now = utcnow()
    rows = [{"entry_seq": seq, "source": source, "file_sha256": file_hash, "row_no": row_no,
             "recorded_by": recorded_by.user_id, "approved_by": approved_by.user_id, "recorded_at": now}
            for seq, row_no in pairs if seq not in known]
    bulk.insert_dicts(session.connection(), HISTORY, rows)
    return len(rows)
