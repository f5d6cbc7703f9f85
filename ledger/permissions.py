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
# The registry (ledger.registry): reading it (search, household pages), importing households and
# persons, editing it (status changes, members leaving), and the officials and reference lists the
# supervision rules compare payees with. A user scoped to a township reads and changes only its own.
_READ_REGISTRY = {"registry.read"}
_KEEP_REGISTRY = {"registry.import", "registry.edit", "registry.reference"}

PERMISSIONS: dict[str, frozenset[str]] = {
    "finance_officer": frozenset(_READ_LEDGER | _READ_REGISTRY | _KEEP_REGISTRY | {
        "fund.register", "fund.receive", "fund.allocate", "fund.reallocate", "journal.reverse"}),
    "approver": frozenset(_READ_LEDGER | _READ_REGISTRY | {"fund.approve"}),
    "loan_officer": frozenset(_READ_LEDGER | _READ_REGISTRY),
    "inspector": frozenset(_READ_LEDGER | _READ_REGISTRY | {"journal.verify", "audit.read"}),
    "admin": frozenset({"users.manage", "audit.read", "journal.verify", "period.close"}),
    "system": frozenset({
        "journal.read", "journal.export", "journal.import", "journal.verify", "journal.reverse", "fund.register",
        "fund.receive", "fund.allocate", "fund.reallocate", "fund.redesignate", "fund.approve", "period.close",
        "audit.read", "users.manage",
    } | _READ_REGISTRY | _KEEP_REGISTRY),
}

# The project library and allocation requests (ledger.projects). Preparing an allocation or a
# reallocation request takes fund.allocate / fund.reallocate, deciding one fund.approve (and never by
# its preparer). A project is created by a finance officer and approved (and, after completion,
# accepted: 验收) by an approver other than its creator; the finance officer moves it through
# implementing, completed and closed.
_PROJECTS: dict[str, set[str]] = {
    "finance_officer": {"project.read", "project.create", "project.advance"},
    "approver": {"project.read", "project.approve"},
    "loan_officer": {"project.read"},
    "inspector": {"project.read"},
    "system": {"project.read", "project.create", "project.advance", "project.approve"},
}
PERMISSIONS.update({role: PERMISSIONS[role] | extra for role, extra in _PROJECTS.items()})

# The finance dashboard (ledger.dashboard): money by source, project and industry, spending progress by
# township and idle balances, with its tables exported. Read-only; the loan officer (whose work is the
# loan book) and the admin (who does not read the ledger) have no use for it.
_DASHBOARD = ("finance_officer", "approver", "inspector", "system")
PERMISSIONS.update({role: PERMISSIONS[role] | {"dashboard.read"} for role in _DASHBOARD})

# Posting an allocation or a reallocation straight into the journal, with no second approver
# (services.allocate / reallocate): the command line, the demo and history scripts only. Officers
# go through allocation requests (ledger.projects), which an approver other than the preparer decides.
PERMISSIONS["system"] = PERMISSIONS["system"] | {"fund.post_direct"}


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

# Payment batches (ledger.payments) and public-welfare posts (ledger.welfare). A finance officer
# prepares a batch, publishes its disclosure (公示), records the bank's return and re-issues failed rows;
# an approver other than the preparer approves (which posts) or rejects it. The inspector reads them.
_PAYMENTS: dict[str, set[str]] = {
    "finance_officer": {"payment.read", "payment.prepare", "payment.disclose", "payment.return",
                        "welfare.read", "welfare.manage"},
    "approver": {"payment.read", "payment.approve", "welfare.read"},
    "inspector": {"payment.read", "welfare.read"},
    "system": {"payment.read", "payment.prepare", "payment.disclose", "payment.approve", "payment.return",
               "payment.history", "welfare.read", "welfare.manage"},
}
PERMISSIONS.update({role: PERMISSIONS[role] | extra for role, extra in _PAYMENTS.items()})
