"""Registry pages (户籍): search, the household page, ID masking per role, and the spreadsheet
import with its error list and error sheet. Both lanes (SQLite and PostgreSQL) through `world`."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from openpyxl import load_workbook
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import func, select

from ledger import registry, users
from ledger.ids import mask_account, mask_id
from ledger.models import AuditLog, Household, Person
from ledger.permissions import SYSTEM

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    monkeypatch.setattr(users, "_hasher", PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024,
                                                                     parallelism=1),)))


def rid(first17: str) -> str:
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


HEAD1, HEAD2, CHILD = rid("65322619800101001"), rid("65322619820305002"), rid("65322620100709003")
ACCOUNT1 = "6217001234567890"
HOUSEHOLDS_CSV = (
    "户编号,乡镇,行政村,户主姓名,户主身份证号,家庭人口数,户类型,一卡通账号,联系电话\n"
    f"H001,木尕拉镇,阿克村,买买提,{HEAD1},3,脱贫户,{ACCOUNT1},13900000000\n"
    f"H002,MGL,阿克村,阿依古丽,{HEAD2},2,poor,6217001234567891,\n"
)


def csrf_of(client) -> str:
    m = CSRF_RE.search(client.get("/").text)
    assert m
    return m.group(1)


def counts(engine) -> tuple[int, int, int]:
    with engine.connect() as c:
        return tuple(c.execute(select(func.count()).select_from(t.__table__)).scalar_one()
                     for t in (Household, Person, AuditLog))


def upload(client, kind: str, text: str, *, csrf: str | None, name: str = "hh.csv", **fields):
    data = {"kind": kind, **{k: "true" for k, v in fields.items() if v}}
    if csrf is not None:
        data["csrf_token"] = csrf
    return client.post("/registry/import", data=data, files={"file": (name, text.encode("utf-8"), "text/csv")})


@pytest.fixture
def county(world):
    registry.upsert_townships(world.engine, SYSTEM, [registry.TownshipIn("MGL", "木尕拉镇")])
    return world


@pytest.fixture
def households(county):
    world = county
    registry.upsert_households(world.engine, SYSTEM, [
        registry.HouseholdIn("H001", "MGL", "阿克村", "买买提", HEAD1, 3, "exited", ACCOUNT1, "13900000000"),
        registry.HouseholdIn("H002", "MGL", "阿克村", "阿依古丽", HEAD2, 2, "poor", "6217001234567891"),
    ], [
        registry.PersonIn("H001", "买买提", HEAD1, "head"),
        registry.PersonIn("H001", "买小买", CHILD, "child"),
    ], create_villages=True)
    registry.change_household_status(world.engine, SYSTEM, "H002", "edge", dt.date.today(), "收入回落，纳入监测")
    return world


def test_search_by_name_id_and_household_number(households):
    c = households.signed_in("finance_officer")
    r = c.get("/registry", params={"name": "买"})
    assert r.status_code == 200
    assert "买买提" in r.text and "买小买" in r.text and "阿依古丽" not in r.text
    assert 'href="/registry/households/H001"' in r.text
    r = c.get("/registry", params={"id_number": HEAD2})
    assert "阿依古丽" in r.text and "买买提" not in r.text
    r = c.get("/registry", params={"household_no": "H001"}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text  # the htmx partial
    assert "买买提" in r.text and "买小买" in r.text and "阿依古丽" not in r.text
    assert r.headers["HX-Push-Url"] == "/registry?household_no=H001"
    r = c.get("/registry", params={"name": "没有这个人"})
    assert 'id="registry-empty"' in r.text
    # An empty form is a hint, not an error; a too-long search is refused with the service's message.
    assert 'id="registry-hint"' in c.get("/registry").text
    r = c.get("/registry", params={"household_no": "H" * 40})
    assert r.status_code == 422 and "查询内容过长" in r.text  # the search text is too long (web/problem_text.py)


def test_search_pages_use_the_service_page_size(county):
    world = county
    many = [registry.HouseholdIn(f"P{i:03d}", "MGL", "阿克村", f"张{i:03d}", rid(f"65322619800101{i:03d}"), 1, "poor",
                                   f"62170012345{i:05d}")
            for i in range(1, 56)]
    registry.upsert_households(world.engine, SYSTEM, many, create_villages=True)
    c = world.signed_in("approver")
    r = c.get("/registry", params={"name": "张"})
    assert "55" in r.text and 'id="registry-pager"' in r.text and "张050" in r.text and "张051" not in r.text
    r = c.get("/registry", params={"name": "张", "page": 2})
    assert "张051" in r.text and "张055" in r.text and "张050" not in r.text


def test_household_page_shows_members_and_status_history(households):
    c = households.signed_in("inspector")
    r = c.get("/registry/households/H001")
    assert r.status_code == 200
    assert "买买提" in r.text and "买小买" in r.text and "木尕拉镇" in r.text and "阿克村" in r.text
    assert "子女" in r.text  # relation, in Chinese
    r = c.get("/registry/households/H002")
    assert "收入回落，纳入监测" in r.text and "system" in r.text
    assert "未脱贫户" in r.text and "边缘易致贫户" in r.text  # both rows of the history
    assert c.get("/registry/households/H999").status_code == 404
    assert c.get("/registry/households/<x>").status_code == 422


@pytest.mark.parametrize("role,full", [("finance_officer", True), ("inspector", True), ("approver", False),
                                       ("loan_officer", False)])
def test_id_numbers_and_accounts_are_masked_per_role(households, role, full):
    c = households.signed_in(role)
    search = c.get("/registry", params={"household_no": "H001"}).text
    page = c.get("/registry/households/H001").text
    for text in (search, page):
        assert (HEAD1 in text) is full and (CHILD in text) is full
        assert (mask_id(HEAD1) in text) is not full
    assert (ACCOUNT1 in page) is full and (mask_account(ACCOUNT1) in page) is not full
    assert ("13900000000" in page) is full


def test_upload_dry_run_writes_nothing_then_import_lands(county):
    world = county
    c = world.signed_in("finance_officer")
    token = csrf_of(c)
    form = c.get("/registry/import").text
    assert 'enctype="multipart/form-data"' in form and 'name="csrf_token"' in form
    before = counts(world.engine)
    r = upload(c, "households", HOUSEHOLDS_CSV, csrf=token, dry_run=True, create_villages=True)
    assert r.status_code == 200, r.text
    assert 'id="import-ok"' in r.text and "试导入" in r.text
    assert counts(world.engine) == before
    r = upload(c, "households", HOUSEHOLDS_CSV, csrf=token, create_villages=True)
    assert r.status_code == 200 and 'id="import-summary"' in r.text
    assert "新增户数" in r.text
    after = counts(world.engine)
    assert after[0] == before[0] + 2 and after[2] > before[2]  # audited by the service
    assert "买买提" in c.get("/registry", params={"name": "买"}).text


def test_bad_upload_lists_every_problem_and_the_error_sheet_downloads_once(county):
    world = county
    c = world.signed_in("finance_officer")
    token = csrf_of(c)
    bad = HOUSEHOLDS_CSV.replace(",3,脱贫户,", ",x,脱贫户,").replace("poor", "<b>rich</b>")
    before = counts(world.engine)
    r = upload(c, "households", bad, csrf=token, create_villages=True, name="坏表.csv")
    assert r.status_code == 422
    assert counts(world.engine) == before
    table = r.text[r.text.index('id="import-errors"'):]
    assert re.search(r"<td class=\"num\">2</td><td>size</td><td>x</td><td>[^<]+</td>", table), table[:2000]
    # Row 3's status: the value as typed, shown as text.
    assert re.search(r"<td class=\"num\">3</td><td>status</td><td>&lt;b&gt;rich&lt;/b&gt;</td><td>[^<]+</td>", table)
    assert "<b>rich" not in table
    link = re.search(r'href="(/registry/import/errors/[A-Za-z0-9_-]+)"', r.text).group(1)
    assert world.signed_in("inspector").get(link).status_code == 403  # not the importer's role
    sheet = c.get(link)
    assert sheet.status_code == 200
    assert "attachment" in sheet.headers["content-disposition"]
    assert "errors.xlsx" in sheet.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(sheet.content))
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    assert rows[0][0] == "错误 / errors" and rows[0][1] == "户编号"
    assert rows[1][0] and rows[1][1] == "H001"  # row 2 of the sheet is row 2 here, with its message
    assert rows[2][0] and rows[2][1] == "H002"
    assert c.get(link).status_code == 404  # served once


def test_an_error_sheet_is_served_only_to_its_uploader_and_the_store_is_bounded():
    from web.registry_pages import ErrorSheets

    store = ErrorSheets(max_entries=3, max_bytes=10)
    token = store.put(1, "a.xlsx", b"abc")
    assert store.take(2, token) is None  # another user
    assert store.take(1, token).data == b"abc"
    assert store.take(1, token) is None  # once
    tokens = [store.put(1, f"{i}.xlsx", b"x") for i in range(5)]
    assert [store.take(1, t) is not None for t in tokens] == [False, False, True, True, True]
    assert store.put(1, "big.xlsx", b"x" * 11) is None  # larger than the whole store
    store.put(1, "a", b"123456"), store.put(1, "b", b"123456")
    assert len(store._items) == 1  # the bytes cap evicts the oldest


def test_upload_without_csrf_is_refused_and_writes_nothing(county):
    world = county
    c = world.signed_in("finance_officer")
    before = counts(world.engine)
    r = upload(c, "households", HOUSEHOLDS_CSV, csrf=None, create_villages=True)
    assert r.status_code == 403
    r = upload(c, "households", HOUSEHOLDS_CSV, csrf="wrong-token", create_villages=True)
    assert r.status_code == 403
    assert counts(world.engine) == before


def test_who_may_open_the_registry_pages(households):
    world = households
    lo = world.signed_in("loan_officer")
    assert lo.get("/registry/import").status_code == 403
    assert upload(lo, "households", HOUSEHOLDS_CSV, csrf=csrf_of(lo)).status_code == 403
    assert 'id="nav-registry"' in lo.get("/").text
    assert 'id="registry-import-link"' not in lo.get("/registry").text
    admin = world.signed_in("admin")
    assert admin.get("/registry").status_code == 403
    assert admin.get("/registry/households/H001").status_code == 403
    assert 'id="nav-registry"' not in admin.get("/").text
    fo = world.signed_in("finance_officer")
    assert 'id="registry-import-link"' in fo.get("/registry").text


def test_a_head_name_with_script_shows_as_text(county):
    world = county
    evil = "<script>alert(1)</script>"
    registry.upsert_households(world.engine, SYSTEM, [
        registry.HouseholdIn("X001", "MGL", "阿克村", evil, HEAD1, 1, "poor", ACCOUNT1)], create_villages=True)
    c = world.signed_in("approver")
    for text in (c.get("/registry/households/X001").text, c.get("/registry", params={"household_no": "X001"}).text):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert evil not in text
