"""Idempotency keys for API requests: the first response to a (user, key) is kept and replayed.

A request is identified by a fingerprint over its method, path and body (JSON bodies are
canonicalised first, so key order and whitespace do not matter). The protocol is

1. `begin` — in its own short transaction: if the (user, key) was answered before with the same
   fingerprint, return that answer (`Replay`); with another fingerprint, `Conflict`; if another
   request with the key is still running, `InProgress`; otherwise reserve the key (`Reserved`).
2. the use case runs (its own unit of work, audited as usual);
3. `complete` stores the status and JSON body, or `abandon` drops the reservation when the use
   case failed in a way that must not be replayed (a server error).

A reservation left behind by a crashed process goes stale after STALE_AFTER and may be taken
over. The journal's own entry keys make posting idempotent in any case; this layer makes every
POST (users, funds, tokens, verification runs) answer a retry with its first result.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import IntegrityError

from ledger.db import unit_of_work
from ledger.models import IdempotencyRecord, utcnow

RECORD = IdempotencyRecord.__table__
MAX_KEY_LEN = 200
IN_PROGRESS = 0  # status_code of a reservation whose request has not finished
STALE_AFTER = dt.timedelta(minutes=10)


def key_problem(key: str) -> str | None:
    """None if `key` is usable as an idempotency key: 1–200 printable ASCII characters."""
    if not key:
        return "Idempotency-Key is empty"
    if len(key) > MAX_KEY_LEN:
        return f"Idempotency-Key is longer than {MAX_KEY_LEN} characters"
    if not all(0x21 <= ord(c) <= 0x7E for c in key):
        return "Idempotency-Key must be printable ASCII without spaces"
    return None


def fingerprint(method: str, path: str, body: bytes) -> str:
    """SHA-256 over method, path and body; a JSON body is canonicalised (sorted keys, no spaces)."""
    canon = body
    if body:
        try:
            canon = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"),
                               ensure_ascii=True).encode("ascii")
        except (ValueError, UnicodeDecodeError, RecursionError):
            canon = body
    h = hashlib.sha256()
    for part in (method.upper().encode("ascii"), path.encode("utf-8", "surrogatepass"), canon):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class Reserved:
    record_id: int


@dataclass(frozen=True, slots=True)
class Replay:
    status_code: int
    body: str  # JSON text


@dataclass(frozen=True, slots=True)
class Conflict:
    message: str


@dataclass(frozen=True, slots=True)
class InProgress:
    message: str


Outcome = Reserved | Replay | Conflict | InProgress


def _judge(row, method: str, path: str, request_hash: str, now: dt.datetime) -> Outcome | None:
    if row.method != method or row.path != path or row.request_hash != request_hash:
        return Conflict(f"Idempotency-Key {row.key!r} was already used for {row.method} {row.path} with a "
                        "different request; use a new key for a new request")
    if row.status_code == IN_PROGRESS:
        if now - row.created_at < STALE_AFTER:
            return InProgress(f"a request with Idempotency-Key {row.key!r} is still being processed; retry later")
        return None  # stale reservation: take it over
    return Replay(int(row.status_code), row.response_body)


def begin(engine: Engine, user_id: int, key: str, method: str, path: str, request_hash: str) -> Outcome:
    assert key_problem(key) is None, key
    method = method.upper()[:8]
    path = path[:500]
    for _attempt in range(3):
        now = utcnow()
        try:
            with unit_of_work(engine) as s:
                row = s.execute(select(RECORD).where(RECORD.c.user_id == user_id, RECORD.c.key == key)).first()
                if row is not None:
                    judged = _judge(row, method, path, request_hash, now)
                    if judged is not None:
                        return judged
                    # Compare-and-set, so two requests cannot both take over the same stale reservation.
                    taken = s.execute(update(RECORD).where(
                        RECORD.c.id == row.id, RECORD.c.status_code == IN_PROGRESS,
                        RECORD.c.created_at == row.created_at).values(created_at=now)).rowcount
                    if taken == 1:
                        return Reserved(int(row.id))
                    continue
                rid = s.execute(RECORD.insert().values(
                    user_id=user_id, key=key, method=method, path=path, request_hash=request_hash,
                    status_code=IN_PROGRESS, response_body="", created_at=now,
                ).returning(RECORD.c.id)).scalar_one()
                return Reserved(int(rid))
        except IntegrityError:
            continue  # another request reserved the key between our read and insert: look again
    return InProgress(f"a request with Idempotency-Key {key!r} is still being processed; retry later")


def complete(engine: Engine, reserved: Reserved, status_code: int, body: str) -> None:
    """Keep the answer for replay. Server errors are never kept (the caller abandons instead)."""
    assert 100 <= status_code < 500, status_code
    with unit_of_work(engine) as s:
        s.execute(update(RECORD).where(RECORD.c.id == reserved.record_id)
                  .values(status_code=status_code, response_body=body))


def abandon(engine: Engine, reserved: Reserved) -> None:
    with unit_of_work(engine) as s:
        s.execute(delete(RECORD).where(RECORD.c.id == reserved.record_id, RECORD.c.status_code == IN_PROGRESS))
