"""The audit trail: append-only rows written in the same transaction as the change they describe."""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from ledger.models import AuditLog, utcnow
from ledger.permissions import Actor

AUDIT = AuditLog.__table__


def record(session: Session, actor: Actor, action: str, object_type: str, object_id: str | None = None,
           before: dict | None = None, after: dict | None = None) -> None:
    session.execute(AUDIT.insert().values(
        at=utcnow(), actor_id=actor.user_id, action=action, object_type=object_type, object_id=object_id,
        before=None if before is None else json.dumps(before, ensure_ascii=False, sort_keys=True, default=str),
        after=None if after is None else json.dumps(after, ensure_ascii=False, sort_keys=True, default=str),
    ))
