"""The demo county (ledger.demo, DESIGN.md §10): the generator is reproducible and shaped like the seed; the
town-scale build goes through the officers' use cases on every database lane, leaves work waiting for
each role, plants irregularities for the inspectors, keeps the journal verifiable, and a second run
builds nothing. The county scale is measured in benchmarks/county_demo.py, not here.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from ledger import demo, payments, services
from ledger.db import read_only
from ledger.ids import luhn_ok, parse_resident_id
from ledger.models import (
    HistoryRecord,
    Household,
    Official,
    PaymentBatch,
    PaymentRow,
    Person,
    Project,
    ReferenceEntry,
    WelfarePost,
)
from ledger.permissions import SYSTEM

TODAY = dt.date(2026, 12, 6)


def test_the_generator_is_reproducible_and_shaped_like_the_seed():
    county = demo.SCALES["county"]
    assert (county.townships, county.villages, county.households, county.persons) == (15, 218, 31_943, 123_717)
    assert sum(n for _, n, _ in demo.POSTS) == 5_724
    assert {i.key: i.households for i in demo.INDUSTRIES}["rose"] == 3_454
    town = demo.SCALES["town"]
    a, b = demo.generate_county(town, 7), demo.generate_county(town, 7)
    assert a.households == b.households and a.persons == b.persons
    assert demo.generate_county(town, 8).households != a.households
    assert len(a.households) == town.households and len(a.persons) == town.persons
    ids = [p.id_number for p in a.persons]
    assert len(set(ids)) == len(ids)  # one person per ID
    assert all(parse_resident_id(i, dt.date(2026, 1, 1))[1] is None for i in ids[:500])
    assert all(luhn_ok(h.bank_account) for h in a.households)
    assert sum(h.size for h in a.households) == len(a.persons)


def count(engine, table, *where) -> int:
    with read_only(engine) as s:
        return int(s.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_town_demo_builds_through_the_use_cases_and_only_once(engine):
    out = demo.build_demo(engine, "town", 7, today=TODAY)
    town = demo.SCALES["town"]
    assert out["households"] == town.households == count(engine, Household.__table__)
    assert count(engine, Person.__table__) == town.persons
    assert count(engine, Project.__table__) == len(demo.INDUSTRIES) + 1
    assert count(engine, WelfarePost.__table__) == out["posts"] > 0
    rows = PaymentRow.__table__
    assert count(engine, rows, rows.c.status == "paid") == out["subsidy_rows"] + out["wage_rows"] + \
        out["in_kind_deliveries"] + 10  # + the December roll's ten cards that went through
    assert count(engine, HistoryRecord.__table__) == out["subsidy_rows"] + out["wage_rows"] + out["in_kind_deliveries"]

    # Work waiting for the demo users.
    batches = {b.batch_no: b for b in payments.list_batches(engine, SYSTEM, page_size=100).items}
    assert batches[out["draft_batch"]].status == "draft"
    wages = batches[out["disclosed_batch"]]
    assert wages.status == "disclosed" and wages.disclosure_until <= TODAY
    returned = batches[out["returned_batch"]]
    assert (returned.failed_count, returned.paid_count) == (2, 10)
    assert batches[out["returned_batch"] + "-R"].status == "draft"
    assert count(engine, ReferenceEntry.__table__) >= 7 and count(engine, Official.__table__) >= 2

    # Every demo household's statement sums by fund to what it received.
    some = payments.batch_detail(engine, SYSTEM, out["returned_batch"]).rows.items[5].household_no
    st = payments.household_statement(engine, SYSTEM, some)
    assert st.total_fen > 0 and sum(fen for _, _, fen in st.by_fund) == st.total_fen
    assert services.verify_journal(engine, SYSTEM).ok

    before = {t.name: count(engine, t) for t in (Household.__table__, rows, PaymentBatch.__table__)}
    assert demo.build_demo(engine, "town", 7, today=TODAY) == {"already_built": True}
    assert {t.name: count(engine, t) for t in (Household.__table__, rows, PaymentBatch.__table__)} == before
