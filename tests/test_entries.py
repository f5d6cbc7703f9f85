"""ledger/entries.py and ledger/flows.py: drafts, their checks, their hashes and the §4 templates.

Pure unit tests, no database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections import defaultdict

import pytest
from beancount.core import account as bc_account
from hypothesis import given
from hypothesis import strategies as st

from ledger import flows
from ledger.entries import (
    ACCOUNT_ROOTS,
    MAX_ACCOUNT_CODE_LEN,
    EntryDraft,
    PostingDraft,
    account_code_problem,
    account_type,
    check_draft,
    default_limit,
    entry_hash,
    fund_code_problem,
    payload_hash,
    reversal_of,
)

D = dt.date(2026, 3, 15)
T = dt.datetime(2026, 3, 15, 9, 30, 0)


def draft(*postings: tuple, key: str = "k1", kind: str = "allocation", memo: str = "m", on: dt.date = D,
          reverses: int | None = None) -> EntryDraft:
    return EntryDraft(key, on, kind, memo, tuple(PostingDraft(*p) for p in postings), reverses=reverses)


BALANCED = draft(("Assets:Project:P1", "CENTRAL", 1000), ("Assets:Treasury:Pool", "CENTRAL", -1000))


def fund_sums(d: EntryDraft) -> dict[str, int]:
    sums: dict[str, int] = defaultdict(int)
    for p in d.postings:
        sums[p.fund] += p.amount_fen
    return dict(sums)


# --------------------------------------------------------------------------------------------
# Account codes: valid Beancount account names (ASCII; components start with an uppercase letter)

VALID_CODES = [
    "Assets:Treasury:Pool",
    "Assets:Project:Xm-2026-01",
    "Assets:Bank:ABC",
    "Liabilities:Payable:A1",
    "Equity:FundRedesignation",
    "Income:Transfer:CENTRAL",
    "Expenses:Subsidy:Rose",
    "Expenses:X",
    "Assets:A-",
    "Assets:" + "A" * (MAX_ACCOUNT_CODE_LEN - len("Assets:")),
]

INVALID_CODES = [
    "",
    "Assets",  # a root alone is not an account
    "assets:Pool",
    "Asset:Pool",
    "Revenue:Sales",
    "Assets:pool",
    "Assets:1Pool",  # the design requires an uppercase letter first
    "Assets:-Pool",
    "Assets:Pool:",
    "Assets::Pool",
    ":Assets:Pool",
    "Assets:Pool Name",
    "Assets:Pool_1",
    "Assets:Pool.1",
    "Assets:玫瑰",
    "Assets:Pool\n",  # `$` matches before a trailing newline; the check must not
    "Assets:Pool\r",
    " Assets:Pool",
    "Assets:" + "A" * (MAX_ACCOUNT_CODE_LEN - len("Assets:") + 1),
]


@pytest.mark.parametrize("code", VALID_CODES)
def test_valid_account_codes_are_accepted_and_valid_in_beancount(code):
    assert account_code_problem(code) is None
    assert bc_account.is_valid(code)


@pytest.mark.parametrize("code", INVALID_CODES)
def test_invalid_account_codes_are_refused(code):
    assert account_code_problem(code) is not None


@pytest.mark.parametrize("code", [None, 5, b"Assets:Pool", ["Assets:Pool"]])
def test_non_string_account_codes_are_refused(code):
    assert account_code_problem(code) == "account code is missing"


@given(st.from_regex(re.compile(r"(Assets|Liabilities|Equity|Income|Expenses)(:[A-Z][A-Za-z0-9-]{0,12}){1,4}"),
                     fullmatch=True))
def test_every_accepted_code_is_a_valid_beancount_account(code):
    assert account_code_problem(code) is None
    assert bc_account.is_valid(code)


@given(st.text(max_size=40))
def test_accepted_codes_are_always_valid_in_beancount(code):
    if account_code_problem(code) is None:
        assert bc_account.is_valid(code)


@pytest.mark.parametrize(("code", "typ"), [(f"{root}:X", typ) for root, typ in ACCOUNT_ROOTS.items()])
def test_account_type_comes_from_the_root(code, typ):
    assert account_type(code) == typ


@pytest.mark.parametrize(
    ("code", "limit"),
    [
        ("Assets:Treasury:Pool", "non_negative"),
        ("Assets:Project:P1", "non_negative"),
        ("Assets:Advance:Coop", "non_negative"),
        ("Assets:RiskFund:ABC", "non_negative"),
        ("Assets:Bank:ABC", "none"),  # the bank's side of its own loan book goes negative by design
        ("Assets:Loan:L1", "none"),
        ("Income:Transfer:CENTRAL", "none"),
        ("Equity:FundRedesignation", "none"),
        ("Expenses:Subsidy:Rose", "none"),
    ],
)
def test_default_limits_follow_design_section_4(code, limit):
    assert default_limit(code) == limit


@pytest.mark.parametrize("code", ["CENTRAL", "TJ-AID", "F_2026", "2026A", "A"])
def test_valid_fund_codes(code):
    assert fund_code_problem(code) is None


@pytest.mark.parametrize("code", ["", "central", "-X", "_X", "A B", "A.B", "CENTRAL\n", "中央", "A" * 65, None, 7])
def test_invalid_fund_codes(code):
    assert fund_code_problem(code) is not None


# --------------------------------------------------------------------------------------------
# check_draft


def test_balanced_draft_has_no_problems():
    assert check_draft(BALANCED, "here") == []


def test_unbalanced_draft_is_refused_naming_the_fund():
    d = draft(("Assets:Project:P1", "CENTRAL", 1000), ("Assets:Treasury:Pool", "CENTRAL", -999))
    problems = check_draft(d, "line 3")
    assert len(problems) == 1
    p = problems[0]
    assert (p.where, p.field, p.value) == ("line 3", "postings", "CENTRAL")
    assert "0.01" in p.message


def test_draft_balanced_in_total_but_not_per_fund_is_refused():
    """Money cannot change source silently: +10 in one fund and −10 in another is two imbalances."""
    d = draft(("Assets:Project:P1", "CENTRAL", 1000), ("Assets:Treasury:Pool", "TIANJIN", -1000))
    assert sum(p.amount_fen for p in d.postings) == 0
    problems = check_draft(d, "x")
    assert sorted(p.value for p in problems if p.field == "postings") == ["CENTRAL", "TIANJIN"]


def test_multi_fund_draft_balanced_within_each_fund_is_accepted():
    d = draft(
        ("Assets:Project:P1", "CENTRAL", 700), ("Assets:Project:P1", "TIANJIN", 300),
        ("Assets:Treasury:Pool", "CENTRAL", -700), ("Assets:Treasury:Pool", "TIANJIN", -300),
    )
    assert check_draft(d, "x") == []


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (dict(key=""), "key"),
        (dict(key="k" * 201), "key"),
        (dict(kind="gift"), "kind"),
        (dict(memo="m" * 2001), "memo"),
    ],
)
def test_draft_fields_are_checked(bad, field):
    d = dataclasses.replace(BALANCED, **bad)
    assert [p.field for p in check_draft(d, "x")] == [field]


def test_one_posting_is_not_an_entry():
    d = draft(("Assets:Project:P1", "CENTRAL", 0))
    fields = {p.field for p in check_draft(d, "x")}
    assert "postings" in fields and "postings[0].amount" in fields


def test_zero_posting_and_bad_codes_are_each_reported():
    d = draft(("assets:bad", "CENTRAL", 0), ("Assets:Treasury:Pool", "bad fund", 0))
    fields = sorted(p.field for p in check_draft(d, "x"))
    assert fields == ["postings[0].account", "postings[0].amount", "postings[1].amount", "postings[1].fund"]


def test_out_of_range_amount_is_refused():
    d = draft(("Assets:Project:P1", "CENTRAL", 10**15 + 1), ("Assets:Treasury:Pool", "CENTRAL", -(10**15 + 1)))
    assert {p.field for p in check_draft(d, "x")} == {"postings[0].amount", "postings[1].amount"}


# --------------------------------------------------------------------------------------------
# payload_hash: what was asked (idempotency fingerprint)


def test_payload_hash_is_stable_and_deterministic():
    again = draft(("Assets:Project:P1", "CENTRAL", 1000), ("Assets:Treasury:Pool", "CENTRAL", -1000))
    assert payload_hash(BALANCED) == payload_hash(BALANCED) == payload_hash(again)
    assert re.fullmatch(r"[0-9a-f]{64}", payload_hash(BALANCED))


def test_payload_hash_ignores_who_asked_and_the_key():
    assert payload_hash(dataclasses.replace(BALANCED, maker_id=7, checker_id=8)) == payload_hash(BALANCED)
    assert payload_hash(dataclasses.replace(BALANCED, key="other")) == payload_hash(BALANCED)


@pytest.mark.parametrize(
    "change",
    [
        dict(effective_date=D + dt.timedelta(days=1)),
        dict(kind="reallocation"),
        dict(memo="m2"),
        dict(reverses=3),
        dict(postings=(PostingDraft("Assets:Project:P1", "CENTRAL", 1001),
                       PostingDraft("Assets:Treasury:Pool", "CENTRAL", -1001))),
        dict(postings=(PostingDraft("Assets:Project:P2", "CENTRAL", 1000),
                       PostingDraft("Assets:Treasury:Pool", "CENTRAL", -1000))),
        dict(postings=(PostingDraft("Assets:Project:P1", "TIANJIN", 1000),
                       PostingDraft("Assets:Treasury:Pool", "TIANJIN", -1000))),
        dict(postings=(PostingDraft("Assets:Project:P1", "CENTRAL", 1000, "H001"),
                       PostingDraft("Assets:Treasury:Pool", "CENTRAL", -1000))),
        dict(postings=tuple(reversed(BALANCED.postings))),
    ],
)
def test_payload_hash_changes_with_the_payload(change):
    assert payload_hash(dataclasses.replace(BALANCED, **change)) != payload_hash(BALANCED)


# --------------------------------------------------------------------------------------------
# entry_hash: the chain

BASE = dict(
    prev_hash="0" * 64, seq=7, key="k1", effective_date=D, recorded_at=T, kind="allocation", memo="m",
    reverses=None, maker_id=1, checker_id=None,
    postings=[("Assets:Project:P1", "CENTRAL", 1000, None), ("Assets:Treasury:Pool", "CENTRAL", -1000, None)],
)


def test_entry_hash_is_stable():
    h = entry_hash(**BASE)
    assert h == entry_hash(**dict(BASE, postings=[tuple(p) for p in BASE["postings"]]))
    assert re.fullmatch(r"[0-9a-f]{64}", h)


def test_entry_hash_ignores_sub_second_recording_time():
    # Both databases store recorded_at to the second; the hash must not depend on what was dropped.
    assert entry_hash(**dict(BASE, recorded_at=T.replace(microsecond=999_999))) == entry_hash(**BASE)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("prev_hash", "1" + "0" * 63),
        ("seq", 8),
        ("key", "k2"),
        ("effective_date", D + dt.timedelta(days=1)),
        ("recorded_at", T + dt.timedelta(seconds=1)),
        ("kind", "reallocation"),
        ("memo", "m2"),
        ("memo", "m "),
        ("reverses", 3),
        ("maker_id", 2),
        ("maker_id", None),
        ("checker_id", 1),
        ("postings", [("Assets:Project:P1", "CENTRAL", 1001, None), ("Assets:Treasury:Pool", "CENTRAL", -1001, None)]),
        ("postings", [("Assets:Project:P2", "CENTRAL", 1000, None), ("Assets:Treasury:Pool", "CENTRAL", -1000, None)]),
        ("postings", [("Assets:Project:P1", "OTHER", 1000, None), ("Assets:Treasury:Pool", "OTHER", -1000, None)]),
        ("postings", [("Assets:Project:P1", "CENTRAL", 1000, "H1"), ("Assets:Treasury:Pool", "CENTRAL", -1000, None)]),
        ("postings", [("Assets:Treasury:Pool", "CENTRAL", -1000, None), ("Assets:Project:P1", "CENTRAL", 1000, None)]),
        ("postings", [("Assets:Project:P1", "CENTRAL", 1000, None)]),
    ],
)
def test_entry_hash_changes_when_any_field_or_posting_changes(field, value):
    assert entry_hash(**dict(BASE, **{field: value})) != entry_hash(**BASE)


def test_reversal_of_negates_every_posting_and_links_the_original():
    r = reversal_of("rev-1", D, "冲销", 12, list(BALANCED.postings), maker_id=3)
    assert r.kind == "reversal" and r.reverses == 12 and r.maker_id == 3
    assert [(p.account, p.fund, p.amount_fen) for p in r.postings] == [
        ("Assets:Project:P1", "CENTRAL", -1000), ("Assets:Treasury:Pool", "CENTRAL", 1000)]
    assert check_draft(r, "x") == []


# --------------------------------------------------------------------------------------------
# flows.py: every template of §4 balances within each fund

FLOW_DRAFTS = {
    "fund_received": flows.fund_received("k", "CENTRAL", 12345, D),
    "allocation": flows.allocation("k", "xm_2026/01", "CENTRAL", 500, D),
    "reallocation": flows.reallocation("k", "P1", "P2", "TIANJIN", 77, D),
    "fund_redesignation": flows.fund_redesignation("k", "Assets:Project:P1", "CENTRAL", "TIANJIN", 300, D),
}


@pytest.mark.parametrize("name", sorted(FLOW_DRAFTS))
def test_every_flow_balances_within_each_fund(name):
    d = FLOW_DRAFTS[name]
    assert d.kind == name
    assert check_draft(d, name) == []
    assert all(v == 0 for v in fund_sums(d).values())


def test_fund_received_debits_the_pool_and_credits_transfer_income():
    d = FLOW_DRAFTS["fund_received"]
    assert [(p.account, p.fund, p.amount_fen) for p in d.postings] == [
        ("Assets:Treasury:Pool", "CENTRAL", 12345), ("Income:Transfer:CENTRAL", "CENTRAL", -12345)]


def test_allocation_moves_pool_money_to_the_project_in_its_fund():
    d = FLOW_DRAFTS["allocation"]
    assert [(p.account, p.fund, p.amount_fen) for p in d.postings] == [
        ("Assets:Project:Xm-2026-01", "CENTRAL", 500), ("Assets:Treasury:Pool", "CENTRAL", -500)]


def test_reallocation_keeps_the_source_fund():
    d = FLOW_DRAFTS["reallocation"]
    assert {p.fund for p in d.postings} == {"TIANJIN"}
    assert [(p.account, p.amount_fen) for p in d.postings] == [("Assets:Project:P2", 77), ("Assets:Project:P1", -77)]


def test_redesignation_moves_the_source_explicitly_through_equity():
    d = FLOW_DRAFTS["fund_redesignation"]
    moves = {(p.account, p.fund): p.amount_fen for p in d.postings}
    assert moves == {
        ("Assets:Project:P1", "CENTRAL"): -300,  # the money leaves its old source …
        ("Assets:Project:P1", "TIANJIN"): 300,  # … and is held under the new one
        ("Equity:FundRedesignation", "CENTRAL"): 300,  # the clearing account shows both sides, per fund
        ("Equity:FundRedesignation", "TIANJIN"): -300,
    }
    assert len(d.postings) == 4
    # The account itself keeps its total; only the recorded source changed.
    assert sum(v for (acct, _), v in moves.items() if acct == "Assets:Project:P1") == 0


@pytest.mark.parametrize(
    "make",
    [
        lambda: flows.fund_received("k", "F", 0, D),
        lambda: flows.allocation("k", "P", "F", -5, D),
        lambda: flows.allocation("k", "P", "F", 1.5, D),
        lambda: flows.reallocation("k", "P1", "P1", "F", 5, D),
        lambda: flows.fund_redesignation("k", "Assets:Project:P", "F", "F", 5, D),
    ],
)
def test_flows_refuse_nonsense(make):
    with pytest.raises(AssertionError):
        make()


@given(
    kind=st.sampled_from(["fund_received", "allocation", "reallocation", "fund_redesignation"]),
    amount=st.integers(min_value=1, max_value=10**15),
    f1=st.from_regex(re.compile(r"[A-Z][A-Z0-9_-]{0,10}"), fullmatch=True),
    f2=st.from_regex(re.compile(r"[A-Z][A-Z0-9_-]{0,10}"), fullmatch=True),
    p1=st.text(min_size=1, max_size=20).filter(str.strip),
    p2=st.text(min_size=1, max_size=20).filter(str.strip),
)
def test_any_flow_with_any_codes_is_a_valid_balanced_entry(kind, amount, f1, f2, p1, p2):
    if kind == "fund_received":
        d = flows.fund_received("k", f1, amount, D)
    elif kind == "allocation":
        d = flows.allocation("k", p1, f1, amount, D)
    elif kind == "reallocation":
        if flows.project_account(p1) == flows.project_account(p2):
            return
        d = flows.reallocation("k", p1, p2, f1, amount, D)
    else:
        if f1 == f2:
            return
        d = flows.fund_redesignation("k", flows.project_account(p1), f1, f2, amount, D)
    assert check_draft(d, "x") == []
    assert all(v == 0 for v in fund_sums(d).values())
    assert all(bc_account.is_valid(p.account) for p in d.postings)


@pytest.mark.parametrize(
    ("code", "component"),
    [("xm_2026/01", "Xm-2026-01"), ("P1", "P1"), ("2026-001", "C2026-001"), ("玫瑰", "C--"), ("rose", "Rose")],
)
def test_component_makes_a_valid_account_component(code, component):
    assert flows.component(code) == component
    assert account_code_problem(flows.project_account(code)) is None
