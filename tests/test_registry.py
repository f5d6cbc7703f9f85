"""The registry (DESIGN.md §5, §8; ledger.registry) on every database lane.

Services first (idempotent upserts, audit rows, status history, one active person per ID,
deactivation, township scope, search, batch limits, all-or-nothing), then the database's own
refusals when a script goes around the services with raw SQL.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import Date, bindparam, event, func, select, text
from sqlalchemy import table as sa_table
from sqlalchemy.exc import DBAPIError, IntegrityError

from ledger import registry
from ledger.ids import id_check_char, luhn_ok
from ledger.journal import LedgerRefusal
from ledger.models import AuditLog, Household, HouseholdStatus, Official, Person, ReferenceEntry, Village
from ledger.permissions import SYSTEM, PermissionDenied
from ledger.registry import HouseholdIn, OfficialIn, PersonIn, ReferenceIn, TownshipIn
from tests.helpers import Users

HOUSEHOLD, PERSON, STATUS = Household.__table__, Person.__table__, HouseholdStatus.__table__
VILLAGE, AUDIT = Village.__table__, AuditLog.__table__
OFFICIAL, REFERENCE = Official.__table__, ReferenceEntry.__table__

A, B = "阿羌乡", "木尕拉镇"  # two townships of the county
D1, D2, D3 = dt.date(2024, 1, 1), dt.date(2025, 6, 30), dt.date(2026, 1, 10)


# ---------------------------------------------------------------------------------------------
# Helpers


def rid(n: int, birth: str = "19800101") -> str:
    """A valid resident ID of Yutian county (653226), the n-th for this birth date."""
    first17 = f"653226{birth}{n % 1000:03d}"
    return first17 + id_check_char(first17)


def card(n: int) -> str:
    """A 19-digit account number that passes the Luhn check."""
    body = f"621700{n:012d}"
    return next(body + str(d) for d in range(10) if luhn_ok(body + str(d)))


def hh(no: str, head: str, *, township: str = A, village: str = "一村", name: str = "", size: int | str = 3,
       status: str = "poor", bank: str | None = None, phone: str | None = None, row: int | None = None) -> HouseholdIn:
    return HouseholdIn(no, township, village, name or f"户主{no}", head, size, status,
                       bank or card(int(no[-4:]) if no[-4:].isdigit() else 7), phone, row)


def pp(no: str, id_number: str, relation: str = "child", *, name: str = "", row: int | None = None) -> PersonIn:
    return PersonIn(no, name or f"成员{id_number[-5:]}", id_number, relation, row)


def count(engine, table, *where) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def audit_rows(engine, action: str | None = None) -> list:
    with engine.connect() as c:
        stmt = select(AUDIT).order_by(AUDIT.c.id)
        if action:
            stmt = stmt.where(AUDIT.c.action == action)
        return c.execute(stmt).all()


def snapshot(engine) -> dict:
    return {t.name: count(engine, t) for t in (HOUSEHOLD, PERSON, STATUS, VILLAGE, AUDIT, OFFICIAL, REFERENCE)}


def refusal(exc: pytest.ExceptionInfo) -> list[tuple[int | None, str, str]]:
    return [(p.row, p.field, p.message) for p in exc.value.problems]


def current_status_is_latest_history(engine) -> bool:
    """household.status equals the status of each household's latest history row, everywhere."""
    with engine.connect() as c:
        latest = (select(STATUS.c.status).where(STATUS.c.household_id == HOUSEHOLD.c.id)
                  .order_by(STATUS.c.effective_on.desc(), STATUS.c.id.desc()).limit(1).scalar_subquery())
        bad = c.execute(select(func.count()).select_from(HOUSEHOLD).where(HOUSEHOLD.c.status != latest)).scalar_one()
        none = c.execute(select(func.count()).select_from(HOUSEHOLD).where(latest.is_(None))).scalar_one()
    return bad == 0 and none == 0


USERS = {  # name -> (role, township scope: a township's name or code)
    "fo": ("finance_officer", None), "fo-a": ("finance_officer", A), "fo-b": ("finance_officer", "MGL"),
    "fo-x": ("finance_officer", "不存在乡"), "ap": ("approver", None), "lo": ("loan_officer", None),
    "insp": ("inspector", None), "adm": ("admin", None),
}


@pytest.fixture
def u(engine) -> Users:
    users = Users(engine, USERS)
    registry.upsert_townships(engine, SYSTEM, [TownshipIn("AQ", A), TownshipIn("MGL", B)])
    return users


@pytest.fixture
def county(engine, u) -> Users:
    """Two households in township A (village 一村), one in B (village 二村)."""
    registry.upsert_households(engine, u["fo"], [
        hh("0001", rid(1), row=2), hh("0002", rid(2), row=3), hh("0003", rid(3), township=B, village="二村", row=4),
    ], [
        pp("0001", rid(1), "head", name="户主0001", row=2), pp("0001", rid(11), "spouse", row=3),
        pp("0001", rid(12), row=4), pp("0002", rid(2), "户主", name="户主0002", row=5),
        pp("0003", rid(3), "head", name="户主0003", row=6), pp("0003", rid(31), row=7),
    ], create_villages=True, effective_on=D1)
    return u


# ---------------------------------------------------------------------------------------------
# Pure rules


def test_status_on_picks_the_latest_row_on_or_before_the_day():
    history = [(D1, 1, "poor"), (D2, 2, "exited"), (D2, 3, "monitored"), (D3, 4, "general")]
    assert registry.status_on(history, D1 - dt.timedelta(days=1)) is None
    assert registry.status_on(history, D1) == "poor"
    assert registry.status_on(history, D2 - dt.timedelta(days=1)) == "poor"
    assert registry.status_on(history, D2) == "monitored"  # same day: the later row
    assert registry.status_on(reversed(history), D3) == "general"


def test_keys_are_english_or_chinese():
    assert registry.key_of("未脱贫户", registry.STATUS_LABELS) == "poor"
    assert registry.key_of(" Exited ", registry.STATUS_LABELS) == "exited"
    assert registry.key_of("配偶", registry.RELATION_LABELS) == "spouse"
    assert registry.key_of("poorish", registry.STATUS_LABELS) is None


# ---------------------------------------------------------------------------------------------
# Upserts: idempotent, audited, all or nothing


def test_import_registers_households_persons_villages_and_first_status(engine, county):
    assert count(engine, HOUSEHOLD) == 3 and count(engine, PERSON) == 6 and count(engine, VILLAGE) == 2
    assert count(engine, STATUS) == 3
    d = registry.household_detail(engine, county["fo"], "0001")
    assert d is not None and d.township == A and d.village == "一村" and d.head_name == "户主0001"
    assert [m.relation for m in d.members] == ["head", "spouse", "child"] and d.members[0].is_head
    assert [(h.status, h.effective_on, h.changed_by) for h in d.history] == [("poor", D1, "fo")]
    creates = audit_rows(engine, "registry.household.create")
    assert [r.object_id for r in creates] == ["0001", "0002", "0003"]
    assert json.loads(creates[0].after)["head_id_number"] == rid(1) and creates[0].actor_id == county.ids["fo"]
    assert len(audit_rows(engine, "registry.person.create")) == 6
    assert len(audit_rows(engine, "registry.village.create")) == 2
    assert current_status_is_latest_history(engine)


def test_reimporting_the_same_rows_changes_nothing_and_writes_no_audit(engine, county):
    before = snapshot(engine)
    report = registry.upsert_households(engine, county["fo"], [
        hh("0001", rid(1)), hh("0002", rid(2)), hh("0003", rid(3), township="MGL", village="二村")], [
        pp("0001", rid(1), "head", name="户主0001"), pp("0001", rid(11), "spouse"), pp("0001", rid(12)),
        pp("0002", rid(2), "head", name="户主0002")])
    assert not report.changed
    assert (report.households_unchanged, report.persons_unchanged) == (3, 4)
    assert snapshot(engine) == before
    # A persons file alone, again: nothing.
    assert not registry.upsert_persons(engine, county["fo"], [pp("0003", rid(31))]).changed
    assert snapshot(engine) == before


def test_a_changed_row_updates_and_audits_before_and_after(engine, county):
    report = registry.upsert_households(engine, county["fo"], [hh("0002", rid(2), bank=card(9999), size=4)],
                                        [pp("0001", rid(12), name="改名")])
    assert (report.households_updated, report.persons_updated, report.status_changes) == (1, 1, 0)
    [h] = audit_rows(engine, "registry.household.update")
    before, after = json.loads(h.before), json.loads(h.after)
    assert (before["bank_account"], after["bank_account"]) == (card(2), card(9999))
    assert (before["size"], after["size"]) == (3, 4) and h.object_id == "0002"
    [p] = audit_rows(engine, "registry.person.update")
    assert (json.loads(p.before)["name"], json.loads(p.after)["name"]) == (f"成员{rid(12)[-5:]}", "改名")
    assert len(audit_rows(engine, "registry.import")) == 2  # the county fixture's, and this one
    with engine.connect() as c:
        assert c.execute(select(HOUSEHOLD.c.bank_account, HOUSEHOLD.c.size)
                         .where(HOUSEHOLD.c.household_no == "0002")).one() == (card(9999), 4)


def test_a_new_household_without_person_rows_registers_its_head(engine, u):
    registry.upsert_households(engine, u["fo"], [hh("0100", rid(100), name="阿依古丽·买买提")], create_villages=True)
    [m] = registry.household_detail(engine, u["fo"], "0100").members
    assert (m.name, m.id_number, m.relation, m.is_head) == ("阿依古丽·买买提", rid(100), "head", True)


def test_a_bad_batch_writes_nothing_and_lists_every_problem(engine, county):
    before = snapshot(engine)
    bad_checksum = rid(5)[:17] + ("0" if rid(5)[17] != "0" else "1")
    with pytest.raises(LedgerRefusal) as exc:
        registry.upsert_households(engine, county["fo"], [
            hh("0005", rid(5), row=2),  # fine on its own
            hh("0006", bad_checksum, row=3),
            hh("0007", rid(7), village="不存在村", row=4),
            hh("0008", rid(8), status="rich", size="three", row=5),
            hh("0006", rid(9), row=6),
        ], [
            pp("9999", rid(90), row=2),  # unknown household
            pp("0005", rid(5), "head", name="户主0005", row=3),
            pp("0005", rid(11), "spouse", row=4),  # active in 0001
            pp("0001", rid(91), "relative", row=5),
        ])
    problems = refusal(exc)
    fields = {(p.where.split()[0], p.row, p.field) for p in exc.value.problems}
    assert ("households", 3, "head_id_number") in fields
    assert ("households", 4, "village") in fields
    assert {("households", 5, "status"), ("households", 5, "size")} <= fields
    assert ("households", 6, "household_no") in fields
    assert ("persons", 2, "household_no") in fields
    assert ("persons", 4, "id_number") in fields
    assert ("persons", 5, "relation") in fields
    assert any("already an active member of household 0001" in m for _, _, m in problems)
    assert snapshot(engine) == before


def test_villages_are_created_only_when_asked(engine, county):
    with pytest.raises(LedgerRefusal) as exc:
        registry.upsert_households(engine, county["fo"], [hh("0010", rid(10), village="三村", row=7)])
    assert refusal(exc)[0][:2] == (7, "village")
    report = registry.upsert_households(engine, county["fo"], [hh("0010", rid(10), village="三村")],
                                        create_villages=True)
    assert report.villages_created == 1
    assert [v.name for v in registry.list_villages(engine, county["fo"], A)] == ["一村", "三村"]


def test_the_head_must_be_among_the_households_persons(engine, u):
    with pytest.raises(LedgerRefusal) as exc:
        registry.upsert_households(engine, u["fo"], [hh("0020", rid(20), row=2)],
                                   [pp("0020", rid(21), "spouse", row=2)], create_villages=True)
    assert refusal(exc) == [(2, "head_id_number", "the head is not among the household's persons")]
    with pytest.raises(LedgerRefusal) as exc:  # the head listed, but not as head; someone else as head
        registry.upsert_households(engine, u["fo"], [hh("0020", rid(20), row=2)],
                                   [pp("0020", rid(20), "spouse", name="户主0020", row=2),
                                    pp("0020", rid(21), "head", row=3)], create_villages=True)
    assert {(r, f) for r, f, _ in refusal(exc)} == {(2, "relation"), (3, "relation")}
    assert count(engine, HOUSEHOLD) == 0


def test_import_status_change_is_a_history_row(engine, county):
    report = registry.upsert_households(engine, county["fo"], [hh("0001", rid(1), status="脱贫户")],
                                        effective_on=D2, reason="2025 年脱贫")
    assert report.status_changes == 1
    d = registry.household_detail(engine, county["fo"], "0001", as_of=D2 - dt.timedelta(days=1))
    assert d.status == "exited" and d.status_as_of == "poor"
    assert [(h.status, h.effective_on, h.reason) for h in d.history][-1] == ("exited", D2, "2025 年脱贫")
    # A change dated before the latest recorded status is refused.
    with pytest.raises(LedgerRefusal) as exc:
        registry.upsert_households(engine, county["fo"], [hh("0001", rid(1), status="edge")], effective_on=D1)
    assert refusal(exc)[0][1] == "status"
    assert current_status_is_latest_history(engine)


# ---------------------------------------------------------------------------------------------
# Status history


def test_status_history_is_effective_dated(engine, county):
    fo = county["fo"]
    v = registry.change_household_status(engine, fo, "0002", "exited", D2, "人均纯收入超过标准")
    assert (v.status, v.effective_on, v.changed_by) == ("exited", D2, "fo")
    registry.change_household_status(engine, fo, "0002", "监测户", D3, "因病返贫风险")
    assert registry.household_status_on(engine, fo, "0002", D1 - dt.timedelta(days=1)) is None
    assert registry.household_status_on(engine, fo, "0002", D1) == "poor"
    assert registry.household_status_on(engine, fo, "0002", D2) == "exited"
    assert registry.household_status_on(engine, fo, "0002", D3 - dt.timedelta(days=1)) == "exited"
    assert registry.household_status_on(engine, fo, "0002", D3) == "monitored"
    d = registry.household_detail(engine, fo, "0002")
    assert d.status == "monitored" and [h.status for h in d.history] == ["poor", "exited", "monitored"]
    [a, _] = audit_rows(engine, "registry.household.status")
    assert json.loads(a.before) == {"status": "poor", "effective_on": "2024-01-01"}
    assert json.loads(a.after) == {"status": "exited", "effective_on": "2025-06-30", "reason": "人均纯收入超过标准"}
    assert current_status_is_latest_history(engine)


def test_status_changes_that_make_no_sense_are_refused(engine, county):
    fo = county["fo"]
    registry.change_household_status(engine, fo, "0002", "exited", D2, "脱贫")
    cases = [("exited", D3, "脱贫", "status"),  # already exited
             ("edge", D1, "backdated", "effective_on"),  # before the latest row
             ("edge", dt.date.today() + dt.timedelta(days=1), "future", "effective_on"),
             ("rich", D3, "x", "status"), ("edge", D3, "  ", "reason")]
    for status, on, why, field_ in cases:
        with pytest.raises(LedgerRefusal) as exc:
            registry.change_household_status(engine, fo, "0002", status, on, why)
        assert exc.value.problems[0].field == field_, (status, on, why)
    with pytest.raises(LedgerRefusal):
        registry.change_household_status(engine, fo, "nope", "edge", D3, "x")
    assert count(engine, STATUS) == 4


def test_a_closed_household_takes_no_new_members_and_no_import_row(engine, county):
    registry.change_household_status(engine, county["fo"], "0002", "closed", D3, "整户迁出")
    with pytest.raises(LedgerRefusal) as exc:
        registry.upsert_households(engine, county["fo"], [], [pp("0002", rid(22), row=9)])
    assert refusal(exc)[0][:2] == (9, "household_no")
    with pytest.raises(LedgerRefusal):
        registry.upsert_households(engine, county["fo"], [hh("0002", rid(2))])


# ---------------------------------------------------------------------------------------------
# One active person per ID; deactivation


def test_one_active_person_per_id_in_the_services(engine, county):
    fo = county["fo"]
    with pytest.raises(LedgerRefusal) as exc:  # active in 0001 already
        registry.upsert_persons(engine, fo, [pp("0002", rid(12), row=4)])
    assert "already an active member of household 0001" in refusal(exc)[0][2]
    with pytest.raises(LedgerRefusal) as exc:  # twice in one batch, two households
        registry.upsert_persons(engine, fo, [pp("0001", rid(50), row=2), pp("0002", rid(50), row=3)])
    assert refusal(exc) == [(3, "id_number", "the same ID is listed in two households: 0001 (persons row 2) and 0002")]
    with pytest.raises(LedgerRefusal) as exc:  # a new household whose head is someone else's member
        registry.upsert_households(engine, fo, [hh("0030", rid(11), row=8)])
    assert refusal(exc)[0][:2] == (8, "head_id_number")


def test_one_active_person_per_id_in_the_database(engine, county):
    with engine.connect() as c:
        hid = c.execute(select(HOUSEHOLD.c.id).where(HOUSEHOLD.c.household_no == "0002")).scalar_one()
    insert = text("INSERT INTO person (household_id, name, id_number, relation, is_active, left_on, left_reason, "
                  "death_date, created_at, updated_at) VALUES (:h, 'x', :n, 'other', :a, :l, :r, NULL, :t, :t)"
                  ).bindparams(bindparam("l", type_=Date))
    now = dt.datetime(2026, 1, 1)
    with pytest.raises(IntegrityError) as exc:
        with engine.begin() as c:
            c.execute(insert, {"h": hid, "n": rid(12), "a": True, "l": None, "r": None, "t": now})
    assert "unique" in str(exc.value).lower()
    # An inactive membership with the same ID is history, not a second active person.
    with engine.begin() as c:
        c.execute(insert, {"h": hid, "n": rid(12), "a": False, "l": D1, "r": "moved", "t": now})
    assert count(engine, PERSON, PERSON.c.id_number == rid(12)) == 2


def test_deactivation_then_registration_elsewhere(engine, county):
    fo = county["fo"]
    registry.deactivate_person(engine, fo, rid(12), reason="迁出", on=D2, note="婚迁")
    registry.upsert_persons(engine, fo, [pp("0002", rid(12), "spouse")])
    hits = registry.search_registry(engine, fo, id_number=rid(12), include_inactive=True)
    assert [(h.household_no, h.is_active) for h in hits.items] == [("0001", False), ("0002", True)]
    assert registry.search_registry(engine, fo, id_number=rid(12)).total == 1
    old = [m for m in registry.household_detail(engine, fo, "0001").members if m.id_number == rid(12)]
    assert [(m.is_active, m.left_on, m.left_reason, m.left_note) for m in old] == [(False, D2, "moved", "婚迁")]
    [a] = audit_rows(engine, "registry.person.deactivate")
    assert json.loads(a.after)["left_reason"] == "moved" and json.loads(a.before)["is_active"] is True
    with pytest.raises(LedgerRefusal):  # nobody active with this ID
        registry.deactivate_person(engine, fo, rid(99), reason="moved", on=D2)


def test_the_dead_are_not_registered_again(engine, county):
    fo = county["fo"]
    registry.deactivate_person(engine, fo, rid(31), reason="died", on=D2)
    d = registry.household_detail(engine, fo, "0003")
    assert [(m.is_active, m.death_date) for m in d.members if m.id_number == rid(31)] == [(False, D2)]
    with pytest.raises(LedgerRefusal) as exc:
        registry.upsert_persons(engine, fo, [pp("0001", rid(31), row=3)])
    assert "deceased" in refusal(exc)[0][2]
    with pytest.raises(LedgerRefusal):
        registry.deactivate_person(engine, fo, rid(1), reason="lost", on=D2)


def test_a_household_whose_head_left_needs_a_new_head(engine, county):
    fo = county["fo"]
    registry.deactivate_person(engine, fo, rid(1), reason="died", on=D2)
    with pytest.raises(LedgerRefusal) as exc:  # adding a newborn: the household has no active head
        registry.upsert_persons(engine, fo, [pp("0001", rid(13, "20250101"), row=2)])
    assert refusal(exc)[0][:2] == (2, "household_no")
    report = registry.upsert_households(engine, fo, [hh("0001", rid(11), name=f"成员{rid(11)[-5:]}")], [
        pp("0001", rid(11), "head"), pp("0001", rid(12)), pp("0001", rid(13, "20250101"))])
    assert (report.households_updated, report.persons_updated, report.persons_created) == (1, 1, 1)
    assert registry.household_detail(engine, fo, "0001").head_name == f"成员{rid(11)[-5:]}"


# ---------------------------------------------------------------------------------------------
# The database refuses what the services never do


@pytest.mark.parametrize("table", ["township", "village", "household", "person", "household_status", "official",
                                   "reference_entry"])
def test_nothing_in_the_registry_is_deleted(engine, county, table):
    registry.upsert_officials(engine, county["fo"], [OfficialIn(rid(1), "户主0001", "村支书", A, "一村")])
    registry.upsert_reference_entries(engine, county["fo"], [ReferenceIn(rid(3), "户主0003", "vehicle", D1)])
    assert count(engine, sa_table(table)) >= 1
    with pytest.raises(DBAPIError) as exc:
        with engine.begin() as c:
            c.execute(text(f"DELETE FROM {table}"))  # noqa: S608 (a fixed table name)
    assert "huimin" in str(exc.value)
    assert count(engine, sa_table(table)) >= 1


def test_history_rows_and_former_memberships_do_not_change(engine, county):
    registry.deactivate_person(engine, county["fo"], rid(12), reason="moved", on=D2)
    statements = [
        "UPDATE household_status SET status = 'general'",
        "UPDATE household_status SET reason = 'rewritten'",
        "UPDATE person SET name = 'x' WHERE id_number = :gone",  # an inactive membership is frozen
        "UPDATE person SET is_active = TRUE WHERE id_number = :gone",
        "UPDATE person SET id_number = :other WHERE id_number = :here",  # whose membership it is
        "UPDATE household SET status = 'general' WHERE household_no = '0001'",  # no history row for it
    ]
    ids = {"gone": rid(12), "here": rid(11), "other": rid(77)}
    for sql in statements:
        with pytest.raises(DBAPIError) as exc:
            with engine.begin() as c:
                c.execute(text(sql), ids)
        assert "huimin" in str(exc.value), sql
    with engine.begin() as c:  # an active membership's name may be corrected
        c.execute(text("UPDATE person SET name = '更正' WHERE id_number = :here"), ids)
    assert current_status_is_latest_history(engine)


# ---------------------------------------------------------------------------------------------
# Township scope


def test_a_scoped_officer_sees_and_changes_only_its_township(engine, county):
    fo_a, fo_b = county["fo-a"], county["fo-b"]  # fo-b is scoped by the township code
    assert [t.name for t in registry.list_townships(engine, fo_a)] == [A]
    assert [(t.code, t.households) for t in registry.list_townships(engine, fo_b)] == [("MGL", 1)]
    assert registry.household_detail(engine, fo_a, "0003") is None
    assert registry.household_detail(engine, fo_b, "0003") is not None
    assert registry.search_registry(engine, fo_a, id_number=rid(3)).total == 0
    assert registry.search_registry(engine, fo_b, id_number=rid(3)).total == 1
    assert {h.household_no for h in registry.search_registry(engine, fo_a, name="户主").items} == {"0001", "0002"}
    with pytest.raises(LedgerRefusal):
        registry.list_villages(engine, fo_a, B)
    with pytest.raises(LedgerRefusal):
        registry.change_household_status(engine, fo_a, "0003", "exited", D2, "x")
    with pytest.raises(LedgerRefusal):
        registry.deactivate_person(engine, fo_a, rid(31), reason="moved", on=D2)
    with pytest.raises(LedgerRefusal) as exc:
        registry.upsert_households(engine, fo_a, [hh("0003", rid(3), township=B, village="二村", size=9, row=2),
                                                  hh("0040", rid(40), township=B, village="二村", row=3)],
                                   [pp("0003", rid(32), row=2)])
    assert {(p.row, p.field) for p in exc.value.problems} == {(2, "township"), (3, "township")}
    with pytest.raises(LedgerRefusal) as exc:  # moving B's household into A is changing B's household
        registry.upsert_households(engine, fo_a, [hh("0003", rid(3), row=2)])
    assert "another township" in refusal(exc)[0][2]
    with pytest.raises(LedgerRefusal) as exc:
        registry.upsert_persons(engine, fo_a, [pp("0003", rid(32), row=5)])
    assert refusal(exc)[0][:2] == (5, "household_no")
    with pytest.raises(LedgerRefusal) as exc:  # B's member, named without saying which household
        registry.upsert_persons(engine, fo_a, [pp("0002", rid(31), row=6)])
    assert "another township's household" in refusal(exc)[0][2] and "0003" not in refusal(exc)[0][2]
    with pytest.raises(PermissionDenied):
        registry.upsert_townships(engine, fo_a, [TownshipIn("NEW", "新乡")])
    # Its own township works.
    registry.change_household_status(engine, fo_a, "0002", "exited", D2, "脱贫")
    registry.upsert_households(engine, fo_a, [hh("0041", rid(41))])
    assert registry.household_detail(engine, county["fo"], "0003").size == 3  # untouched


def test_a_scope_naming_no_registered_township_sees_nothing(engine, county):
    fo_x = county["fo-x"]
    assert registry.list_townships(engine, fo_x) == []
    assert registry.search_registry(engine, fo_x, name="户").total == 0
    with pytest.raises(LedgerRefusal):
        registry.upsert_households(engine, fo_x, [hh("0050", rid(50))])


# ---------------------------------------------------------------------------------------------
# Search and reads


def test_search_by_name_prefix_id_and_household_number(engine, county):
    fo = county["fo"]
    page = registry.search_registry(engine, fo, name="户主")
    assert page.total == 3 and [h.household_no for h in page.items] == ["0001", "0002", "0003"]
    assert all(h.is_head for h in page.items)
    assert registry.search_registry(engine, fo, name="主").total == 0  # a prefix, not a substring
    assert registry.search_registry(engine, fo, name="%").total == 0  # wildcards are literal
    assert registry.search_registry(engine, fo, name="_").total == 0
    assert registry.search_registry(engine, fo, id_number=rid(11)[:10]).total == 0  # an ID is exact
    hit = registry.search_registry(engine, fo, id_number=rid(11).lower()).items
    assert [(h.household_no, h.relation, h.township, h.village) for h in hit] == [("0001", "spouse", A, "一村")]
    assert registry.search_registry(engine, fo, household_no="0001").total == 3
    assert registry.search_registry(engine, fo, household_no="0001", name="户主").total == 1
    with pytest.raises(LedgerRefusal):
        registry.search_registry(engine, fo)


def test_search_is_paged_with_a_hard_limit(engine, u):
    registry.upsert_households(engine, u["fo"], [hh(f"1{i:03d}", rid(i, "19900101"), name=f"王{i:03d}")
                                                 for i in range(230)], create_villages=True)
    first = registry.search_registry(engine, u["fo"], name="王", page_size=10_000)
    assert first.total == 230 and first.page_size == 200 and len(first.items) == 200
    last = registry.search_registry(engine, u["fo"], name="王", page=2, page_size=10_000)
    assert [h.name for h in last.items] == [f"王{i:03d}" for i in range(200, 230)]


def test_who_may_read_and_who_may_change_the_registry(engine, county):
    for reader in ("ap", "lo", "insp", "fo"):
        assert registry.household_detail(engine, county[reader], "0001") is not None
        assert registry.search_registry(engine, county[reader], name="户").total == 3
    for not_editor in ("ap", "lo", "insp", "adm"):
        with pytest.raises(PermissionDenied):
            registry.upsert_households(engine, county[not_editor], [hh("0060", rid(60))])
        with pytest.raises(PermissionDenied):
            registry.change_household_status(engine, county[not_editor], "0001", "exited", D2, "x")
        with pytest.raises(PermissionDenied):
            registry.deactivate_person(engine, county[not_editor], rid(12), reason="moved", on=D2)
        with pytest.raises(PermissionDenied):
            registry.upsert_reference_entries(engine, county[not_editor], [ReferenceIn(rid(3), "x", "death", D2)])
    with pytest.raises(PermissionDenied):  # the admin manages users and scopes, not households
        registry.household_detail(engine, county["adm"], "0001")
    assert len(registry.list_townships(engine, county["adm"])) == 2  # ... but may pick a scope


# ---------------------------------------------------------------------------------------------
# Officials and reference lists


def test_officials_and_reference_entries_are_idempotent_by_natural_key(engine, county):
    fo = county["fo"]
    officials = [OfficialIn(rid(1), "户主0001", "村支书", A, "一村", "2021-01-01", row=2),
                 OfficialIn(rid(3), "户主0003", "副乡长", "MGL", None, row=3)]
    assert registry.upsert_officials(engine, fo, officials).as_dict() == {"created": 2, "updated": 0, "unchanged": 0}
    assert registry.upsert_officials(engine, fo, officials).as_dict() == {"created": 0, "updated": 0, "unchanged": 2}
    moved = [OfficialIn(rid(1), "户主0001", "村支书", A, "一村", "2021-01-01", "2025-12-31")]
    assert registry.upsert_officials(engine, fo, moved).updated == 1
    [a] = audit_rows(engine, "registry.official.update")
    assert (json.loads(a.before)["active_to"], json.loads(a.after)["active_to"]) == (None, "2025-12-31")

    refs = [ReferenceIn(rid(3), "户主0003", "死亡", "2025-03-01", row=2),
            ReferenceIn(rid(3), "户主0003", "vehicle", D1)]
    assert registry.upsert_reference_entries(engine, fo, refs).created == 2
    before = snapshot(engine)
    assert registry.upsert_reference_entries(engine, fo, refs).unchanged == 2
    assert snapshot(engine) == before
    with pytest.raises(LedgerRefusal) as exc:
        registry.upsert_reference_entries(engine, fo, [ReferenceIn("653226", "x", "car", "2025-02-30", row=4),
                                                       refs[0], refs[0]])
    assert {(p.row, p.field) for p in exc.value.problems} == {(4, "id_number"), (4, "kind"), (4, "date"),
                                                              (2, "id_number")}
    with pytest.raises(LedgerRefusal) as exc:  # a scoped officer names officials of its township only
        registry.upsert_officials(engine, county["fo-a"], [OfficialIn(rid(3), "x", "村主任", B, "二村", row=5)])
    assert refusal(exc)[0][:2] == (5, "township")
    assert snapshot(engine) == before


# ---------------------------------------------------------------------------------------------
# Bulk: limits, and no round trip per row


def test_a_batch_over_the_limit_is_refused_whole(engine, u, monkeypatch):
    monkeypatch.setattr(registry, "MAX_BATCH", 3)
    before = snapshot(engine)
    with pytest.raises(LedgerRefusal) as exc:
        registry.upsert_households(engine, u["fo"], [hh(f"00{i}", rid(i)) for i in range(2)],
                                   [pp("000", rid(90)), pp("001", rid(91))], create_villages=True)
    assert exc.value.problems[0].field == "rows"
    with pytest.raises(LedgerRefusal):
        registry.upsert_reference_entries(engine, u["fo"], [ReferenceIn(rid(i), "x", "death", D1) for i in range(4)])
    assert snapshot(engine) == before


@pytest.fixture
def statements(engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count_it(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count_it)
    yield seen
    event.remove(engine, "before_cursor_execute", count_it)


def test_bulk_upserts_do_not_make_a_round_trip_per_row(engine, u, statements):
    def run(first: int, n: int) -> int:
        statements.clear()
        registry.upsert_households(
            engine, u["fo"], [hh(f"{first + i:05d}", rid(i, f"19{first // 1000 + 50}0101")) for i in range(n)],
            [pp(f"{first + i:05d}", rid(i, f"19{first // 1000 + 50}0202")) for i in range(n)]
            + [pp(f"{first + i:05d}", rid(i, f"19{first // 1000 + 50}0101"), "head", name=f"户主{first + i:05d}")
               for i in range(n)], create_villages=True)
        return len(statements)

    small, large = run(1000, 20), run(2000, 900)
    assert count(engine, PERSON) == 2 * 920
    # 45 times the rows: only the chunked lookups (500 keys each) add statements.
    assert large - small <= 20, (small, large)
    statements.clear()
    registry.upsert_persons(engine, u["fo"], [pp(f"{2000 + i:05d}", rid(i, "19520202")) for i in range(900)])
    assert len(statements) <= small + 10
