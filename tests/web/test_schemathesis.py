"""Schemathesis against the app's own /openapi.json, in process (DESIGN.md §12: no 500).

Every operation in the schema is fuzzed as four roles (the finance officer, who writes money and
prepares allocation requests; the approver, who decides them; the inspector, who reads the ledger
and the audit log and runs verification; the admin, who manages users), with data the schema
allows (positive) and data it does not (negative). Each
response must not be a server error, and must match the schema's status codes, content types and
response bodies.

Random path ids mostly miss (404) and random fund codes are unknown (422), so each operation is
also called with a few cases pinned to things that exist (an entry, an account, a fund); the test
then insists that every operation answered 2xx at least once, so none is only ever refused.

Deterministic by default (CI); HUIMIN_SCHEMATHESIS_EXAMPLES=200 HUIMIN_SCHEMATHESIS_RANDOM=1 digs
deeper with fresh random data on every run.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter, defaultdict

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ledger import projects, services, users
from ledger.permissions import SYSTEM, Actor
from tests.web import payment_seed


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    """Argon2 at its cheapest for these tests (the production cost makes each `world` take ~1 s)."""
    monkeypatch.setattr(users, "_hasher", PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024,
                                                                     parallelism=1),)))


EXAMPLES = int(os.environ.get("HUIMIN_SCHEMATHESIS_EXAMPLES", "12"))
RANDOM = bool(os.environ.get("HUIMIN_SCHEMATHESIS_RANDOM"))
PINNED_EXAMPLES = 4
ROLES = ("finance_officer", "approver", "inspector", "admin")
# Not `positive_data_acceptance`: JSON Schema cannot say that a date is 1900-01-01 or later, so
# schemathesis generates year-0056 dates that the API rightly refuses with 422.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
POOL = "Assets:Treasury:Pool"
PROJECT = "FUZZ-P1"  # in the library, being carried out
NOTHING_TO_NEGATE = {"GET /api/v1/me", "GET /api/v1/verify", "GET /api/v1/digest", "GET /api/v1/funds"}


def _settings(n: int):
    return settings(max_examples=n, deadline=None, database=None, derandomize=not RANDOM, print_blob=True,
                    suppress_health_check=list(HealthCheck))


def _realistic(**fields):
    """Set body fields to values that exist (a real fund, a business date after the accounts opened)."""
    def pin(case):
        if isinstance(case.body, dict):
            case.body.update(fields)
        return case
    return pin


def _pinned(op, reversible: list[int], pending: dict[str, list[int]], role: str):
    """A strategy for cases of `op` (called as `role`) that point at things that exist, or None if
    random is fine. Allocation requests are decided by the approver; everything else written is the
    finance officer's.

    The schema cannot say that dates run from 1900 (its `ge`/`le` on a date are not JSON Schema),
    and posting needs a date on which the accounts are open, so written dates are pinned too.
    """
    day = _realistic(date="2026-03-01")
    label = op.label
    if role == "approver":
        if label.startswith("POST /api/v1/allocation-requests/{request_id}/"):
            ids = pending[label.rsplit("/", 1)[1]]
            return st.sampled_from(ids).flatmap(
                lambda i: op.as_strategy(path_parameters={"request_id": i})).map(_realistic(reason="不符合安排"))
        return None
    if role != "finance_officer":
        return None
    if label == "GET /api/v1/journal/{seq}":
        return op.as_strategy(path_parameters={"seq": 1})
    if label == "GET /api/v1/accounts/{code}/statement":
        return op.as_strategy(path_parameters={"code": POOL})
    if label == "POST /api/v1/funds/{code}/receipts":
        return op.as_strategy(path_parameters={"code": "CENTRAL"}).map(day)
    if label == "POST /api/v1/entries/{seq}/reversal":
        return st.sampled_from(reversible).flatmap(lambda seq: op.as_strategy(path_parameters={"seq": seq})).map(day)
    if label == "POST /api/v1/allocation-requests":
        return op.as_strategy().map(_realistic(date="2026-03-01", fund="CENTRAL", amount="1.00", project_code=PROJECT,
                                               from_project=None))
    if label == "GET /api/v1/projects/{code}":
        return op.as_strategy(path_parameters={"code": PROJECT})
    if label == "POST /api/v1/projects":
        return op.as_strategy().map(_realistic(start_on="2026-01-01", end_on="2026-12-31", name="新项目",
                                               township=None))
    return None


def _set_body(body: dict):
    def pin(case):
        case.body = dict(body)
        return case
    return pin


def _pinned_payments(op, pay: payment_seed.Seeded, role: str):
    """Payment batches that exist (tests.web.payment_seed): the finance officer reads, enters a roll,
    discloses a draft and prepares an advance; the approver approves the disclosed batch and rejects the
    other draft. A repeat of a pinned write is refused (422) or answered as already done (200)."""
    label = op.label
    batch_path = "/api/v1/payment-batches/{batch_no}"
    if role == "approver":
        if label == f"POST {batch_path}/approve":
            return op.as_strategy(path_parameters={"batch_no": pay.disclosed})
        if label == f"POST {batch_path}/reject":
            return op.as_strategy(path_parameters={"batch_no": pay.draft2}).map(_set_body({"reason": "不符合条件"}))
        return None
    if role != "finance_officer":
        return None
    if label == f"GET {batch_path}":
        return op.as_strategy(path_parameters={"batch_no": pay.posted})
    if label == f"POST {batch_path}/disclosure":
        return op.as_strategy(path_parameters={"batch_no": pay.draft}).map(_set_body({"days": 10}))
    if label == "GET /api/v1/households/{household_no}/statement":
        return op.as_strategy(path_parameters={"household_no": payment_seed.hh_no(1)})
    if label == "GET /api/v1/public/notices/{batch_no}":
        return op.as_strategy(path_parameters={"batch_no": pay.disclosed})
    if label == "POST /api/v1/payment-batches":
        n = 2
        return op.as_strategy().map(_set_body({"declared_count": 1, "declared_total": "10.00", "rows": [{
            "ref": "FUZZ-ROLL-1", "batch_no": "FUZZ-ROLL", "project_code": payment_seed.PROJECT,
            "household_no": payment_seed.hh_no(n), "payee_id_number": payment_seed.rid(n),
            "payee_name": payment_seed.head_name(n), "bank_account": payment_seed.card(n), "amount": "10.00",
            "paid_on": "2026-03-10", "purpose": "subsidy", "period": "2026-08"}]}))
    if label == "POST /api/v1/advances":
        return op.as_strategy().map(_realistic(project_code=payment_seed.PROJECT, amount="1.00", date="2026-03-01"))
    return None


def _fuzz(strategy, n: int, headers: dict, statuses: Counter) -> None:
    @given(case=strategy)
    @_settings(n)
    def fuzz(case):
        response = case.call(headers=headers)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    fuzz()


def test_schemathesis_finds_no_server_error(world):
    # Entries to reverse (one each), so reversals can succeed.
    reversible = [services.receive_fund(world.engine, SYSTEM, f"fuzz-{i}", "CENTRAL", 100 + i,
                                        dt.date(2026, 3, 1)).seq for i in range(PINNED_EXAMPLES * 2)]
    # A project to allocate to, and pending requests (prepared by the system user) for the approver.
    projects.create_project(world.engine, SYSTEM, projects.ProjectIn(PROJECT, "模糊测试项目", "rose",
                                                                     dt.date(2026, 1, 1), 100_000_00))
    approver = Actor(world.user_ids["approver"], "approver", "approver")
    projects.change_project_status(world.engine, approver, PROJECT, "approved", "批复")
    projects.change_project_status(world.engine, SYSTEM, PROJECT, "implementing", "实施")
    pending = {decision: [projects.prepare_allocation(world.engine, SYSTEM, f"fuzz-{decision}-{i}", PROJECT, "CENTRAL",
                                                      100, dt.date(2026, 3, 1)).id for i in range(PINNED_EXAMPLES * 2)]
               for decision in ("approve", "reject")}
    pay = payment_seed.seed_batches(world)  # payment batches in every state
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {op.label for op in operations}
    # Every JSON route of the app is in the schema, so every one is fuzzed.
    in_app = {f"{m} {p}" for p, item in world.app.openapi()["paths"].items() for m in map(str.upper, item)}
    assert labels == in_app and len(labels) == 34, sorted(labels ^ in_app)

    statuses: dict[str, Counter] = defaultdict(Counter)
    for role in ROLES:
        headers = {"Authorization": f"Bearer {world.tokens[role]}"}
        for op in operations:
            label = op.label
            runs = [(GenerationMode.POSITIVE, op.as_strategy(generation_mode=GenerationMode.POSITIVE), EXAMPLES),
                    (GenerationMode.NEGATIVE, op.as_strategy(generation_mode=GenerationMode.NEGATIVE), EXAMPLES)]
            pinned = _pinned(op, reversible, pending, role)
            if pinned is None:
                pinned = _pinned_payments(op, pay, role)
            if pinned is not None:
                runs.append((GenerationMode.POSITIVE, pinned, PINNED_EXAMPLES))
            for mode, strategy, n in runs:
                try:
                    _fuzz(strategy, n, headers, statuses[label])
                except Unsatisfiable:
                    # Nothing to make invalid in an operation without parameters or body.
                    assert mode is GenerationMode.NEGATIVE and label in NOTHING_TO_NEGATE, label
    never_ok = sorted(label for label in labels if not any(200 <= s < 300 for s in statuses[label]))
    assert not never_ok, f"operations never answered 2xx (not really exercised): {never_ok}\n{dict(statuses)}"
    assert not any(s >= 500 for c in statuses.values() for s in c)
