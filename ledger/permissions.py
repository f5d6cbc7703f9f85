"""Roles and what each may do (DESIGN.md §1). Checked in the service layer, whatever the caller.

A permission is a string naming a use case. `require` raises PermissionDenied; routes and the CLI
only translate that into 403 / exit 2. The `system` role is the command line and scheduled jobs
run by whoever holds the server, as a database administrator would.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("finance_officer", "approver", "loan_officer", "inspector", "admin", "system")

ROLE_NAMES_ZH = {
    "finance_officer": "财务人员",
    "approver": "审核人",
    "loan_officer": "信贷专管员",
    "inspector": "纪检监察",
    "admin": "系统管理员",
    "system": "系统",
}

_READ_LEDGER = {"journal.read", "journal.export"}

PERMISSIONS: dict[str, frozenset[str]] = {
    "finance_officer": frozenset(_READ_LEDGER | {"fund.register", "fund.receive", "fund.allocate",
                                                 "fund.reallocate", "journal.reverse"}),
    "approver": frozenset(_READ_LEDGER | {"fund.approve"}),
    "loan_officer": frozenset(_READ_LEDGER),
    "inspector": frozenset(_READ_LEDGER | {"journal.verify", "audit.read"}),
    "admin": frozenset({"users.manage", "audit.read", "journal.verify", "period.close"}),
    "system": frozenset({
        "journal.read", "journal.export", "journal.import", "journal.verify", "journal.reverse", "fund.register",
        "fund.receive", "fund.allocate", "fund.reallocate", "fund.redesignate", "fund.approve", "period.close",
        "audit.read", "users.manage",
    }),
}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: enough to authorise and to audit, nothing from the web."""

    user_id: int
    username: str
    role: str
    township: str | None = None


SYSTEM = Actor(user_id=1, username="system", role="system")


class PermissionDenied(Exception):
    def __init__(self, actor: Actor, permission: str):
        self.actor = actor
        self.permission = permission
        super().__init__(f"{actor.username} ({actor.role}) may not {permission}")


def allowed(actor: Actor, permission: str) -> bool:
    return permission in PERMISSIONS.get(actor.role, frozenset())


def require(actor: Actor, permission: str) -> None:
    if not allowed(actor, permission):
        raise PermissionDenied(actor, permission)
