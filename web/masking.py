"""Who sees full resident ID and bank account numbers, in one place for the pages and the JSON API.

The finance officer (who keeps the registry and prepares payment rolls from it) and the inspector (who
reads everything and must compare payees with it) see them whole. Everyone else sees the 公示 form
(ledger.ids.mask_id, mask_account): enough to recognise a person, not enough to copy an ID number.

Kept free of page machinery (no router, no templates) so that api.routes can import it too: importing
a page module from the API would import web.routes half-way through its own import.
"""

from __future__ import annotations

from collections.abc import Callable

from ledger.ids import mask_account, mask_id
from ledger.permissions import Actor

FULL_ID_ROLES = frozenset({"finance_officer", "inspector"})


def sees_full_ids(actor: Actor) -> bool:
    return actor.role in FULL_ID_ROLES


def id_shower(actor: Actor) -> Callable[[str | None], str]:
    full = sees_full_ids(actor)
    return lambda number: (number or "") if full else mask_id(number or "")


def account_shower(actor: Actor) -> Callable[[str | None], str]:
    full = sees_full_ids(actor)
    return lambda number: (number or "") if full or not number else mask_account(number)
