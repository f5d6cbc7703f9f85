"""Journal entries as values: drafts, their checks, and their hashes. Pure; no database.

A draft is what a flow or an import wants posted. `check_draft` returns every problem as a value
(`Problem`) instead of raising, so an import can list all of a file's errors at once. The two
hashes live here too: `payload_hash` identifies what was asked (idempotency), `entry_hash` chains
what was posted (tamper evidence).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass

from ledger.money import MAX_ABS_FEN, format_yuan

ACCOUNT_ROOTS: dict[str, str] = {
    "Assets": "asset",
    "Liabilities": "liability",
    "Equity": "equity",
    "Income": "income",
    "Expenses": "expense",
}
# A Beancount-valid account name restricted to ASCII: a root, then components that start with an
# uppercase letter and go on with letters, digits and '-'. `\Z`, not `$`: `$` also matches before a
# trailing newline, which would let "Assets:Pool\n" into the chart (and break the Beancount export).
ACCOUNT_CODE_RE = re.compile(r"^(Assets|Liabilities|Equity|Income|Expenses)(:[A-Z][A-Za-z0-9-]*)+\Z")
FUND_CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]*\Z")
MAX_ACCOUNT_CODE_LEN = 200
MAX_FUND_CODE_LEN = 64
MAX_KEY_LEN = 200
MAX_MEMO_LEN = 2000
MAX_POSTINGS_PER_ENTRY = 1000
MAX_PARTY_LEN = 64

FUND_KINDS = ("central", "region", "prefecture", "county", "partner_aid", "social", "bank_credit", "unclassified")

# The business events of DESIGN.md §4, plus the journal's own kinds.
ENTRY_KINDS = frozenset(
    {
        "fund_received",
        "allocation",
        "reallocation",
        "fund_redesignation",
        "subsidy_paid",
        "wage_paid",
        "advance_paid",
        "in_kind_delivered",
        "loan_disbursed",
        "interest_due",
        "repayment",
        "interest_subsidy",
        "risk_fund_deposit",
        "default_compensated",
        "recovery",
        "opening_balance",
        "migrated",
        "reversal",
    }
)

# Accounts that hold money for a purpose may never pay out more than they hold (DESIGN.md §4).
# The bank's own side (Assets:Bank:*) and loan/interest receivables carry no such limit.
_LIMITED_PREFIXES = ("Assets:Treasury:", "Assets:Project:", "Assets:Advance:", "Assets:RiskFund:")


def account_type(code: str) -> str:
    return ACCOUNT_ROOTS[code.split(":", 1)[0]]


def default_limit(code: str) -> str:
    return "non_negative" if code.startswith(_LIMITED_PREFIXES) else "none"


def account_code_problem(code: object) -> str | None:
    if not isinstance(code, str) or not code:
        return "account code is missing"
    if len(code) > MAX_ACCOUNT_CODE_LEN:
        return f"account code is longer than {MAX_ACCOUNT_CODE_LEN} characters"
    if not ACCOUNT_CODE_RE.match(code):
        return (
            "account code must be Root:Component[:…] with root Assets, Liabilities, Equity, Income or "
            "Expenses and components starting with an uppercase ASCII letter, then letters, digits or '-'"
        )
    return None


def fund_code_problem(code: object) -> str | None:
    if not isinstance(code, str) or not code:
        return "fund code is missing"
    if len(code) > MAX_FUND_CODE_LEN or not FUND_CODE_RE.match(code):
        return f"fund code must be 1–{MAX_FUND_CODE_LEN} characters of A–Z, 0–9, '-' or '_'"
    return None


@dataclass(frozen=True, slots=True)
class PostingDraft:
    account: str
    fund: str
    amount_fen: int  # debit positive, credit negative
    party: str | None = None


@dataclass(frozen=True, slots=True)
class EntryDraft:
    key: str
    effective_date: dt.date
    kind: str
    memo: str
    postings: tuple[PostingDraft, ...]
    reverses: int | None = None
    maker_id: int | None = None
    checker_id: int | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one input item: where (line/row/key), which field, the value, why."""

    where: str
    field: str
    value: str
    message: str
    row: int | None = None  # the line or spreadsheet row an officer can find, when there is one

    def as_dict(self) -> dict[str, object]:
        """The §9 error shape: row, column, value, message (plus the human label)."""
        return {"row": self.row, "column": self.field, "value": self.value, "message": self.message,
                "where": self.where}

    def __str__(self) -> str:
        return f"{self.where}: {self.field}={self.value!r}: {self.message}"


# Codes that passed the format check, so a batch naming the same few thousand accounts runs each
# regex once per code, not once per posting. Bounded: cleared when full.
_VALID_ACCOUNT_CODES: set[str] = set()
_VALID_FUND_CODES: set[str] = set()
_MAX_REMEMBERED_CODES = 1 << 20


def _remember(seen: set[str], code: str) -> None:
    if len(seen) >= _MAX_REMEMBERED_CODES:
        seen.clear()
    seen.add(code)


def check_draft(draft: EntryDraft, where: str) -> list[Problem]:
    """Everything that can be known about a draft without the database."""
    problems: list[Problem] = []
    if not draft.key or len(draft.key) > MAX_KEY_LEN:
        problems.append(Problem(where, "key", draft.key, f"key must be 1–{MAX_KEY_LEN} characters"))
    if draft.kind not in ENTRY_KINDS:
        problems.append(Problem(where, "kind", draft.kind, "unknown kind; one of " + ", ".join(sorted(ENTRY_KINDS))))
    if len(draft.memo) > MAX_MEMO_LEN:
        problems.append(Problem(where, "memo", draft.memo[:40], f"memo is longer than {MAX_MEMO_LEN} characters"))
    if len(draft.postings) < 2:
        problems.append(Problem(where, "postings", str(len(draft.postings)), "an entry needs at least two postings"))
    if len(draft.postings) > MAX_POSTINGS_PER_ENTRY:
        problems.append(
            Problem(where, "postings", str(len(draft.postings)), f"more than {MAX_POSTINGS_PER_ENTRY} postings")
        )
    by_fund: dict[str, int] = defaultdict(int)
    for i, p in enumerate(draft.postings):
        account, fund, amount, party = p.account, p.fund, p.amount_fen, p.party
        # Codes already found valid skip the regex: an import names the same accounts many times.
        if type(account) is not str or account not in _VALID_ACCOUNT_CODES:
            msg = account_code_problem(account)
            if msg:
                problems.append(Problem(where, f"postings[{i}].account", str(account), msg))
            else:
                _remember(_VALID_ACCOUNT_CODES, account)
        if type(fund) is not str or fund not in _VALID_FUND_CODES:
            msg = fund_code_problem(fund)
            if msg:
                problems.append(Problem(where, f"postings[{i}].fund", str(fund), msg))
            else:
                _remember(_VALID_FUND_CODES, fund)
        if type(amount) is not int and (isinstance(amount, bool) or not isinstance(amount, int)):
            # A float (or Decimal yuan, or a bool) here is a caller's bug; the database would store or
            # round it.
            problems.append(Problem(where, f"postings[{i}].amount", repr(amount), "amount must be integer fen"))
            continue
        if amount == 0:
            problems.append(Problem(where, f"postings[{i}].amount", "0.00", "a posting cannot be zero"))
        elif not -MAX_ABS_FEN <= amount <= MAX_ABS_FEN:
            problems.append(Problem(where, f"postings[{i}].amount", format_yuan(amount), "amount out of range"))
        if party is not None and len(party) > MAX_PARTY_LEN:
            problems.append(Problem(where, f"postings[{i}].party", party[:40], f"party longer than {MAX_PARTY_LEN}"))
        by_fund[fund] += amount
    for fund, total in sorted(by_fund.items()):
        if total != 0:
            problems.append(
                Problem(where, "postings", fund, f"postings in fund {fund} sum to {format_yuan(total)}, not 0.00")
            )
    return problems


# The one canonical serialisation both hashes use: compact JSON, UTF-8, non-ASCII kept as is, lists
# in order (tuples serialise as lists): exactly what
# json.dumps(value, ensure_ascii=False, separators=(",", ":")) writes. Built once rather than per
# call; where CPython's C encoder is available it is called directly (what JSONEncoder.encode does
# inside, less the per-call setup and the circular-reference bookkeeping our flat values never
# need), and only after it has been seen to write the same text as the documented encoder.
_CANONICAL = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _c_canonical():
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    try:
        encode = make(None, _CANONICAL.default, json.encoder.encode_basestring, None, ":", ",", False, False, True)
        sample = [7, "k\u2028\"é", "备注\n", None, 1.5, [("Assets:A", "F", -5, None)], True, {"a": []}]
        if "".join(encode(sample, 0)) != _CANONICAL.encode(sample):
            return None
    except Exception:  # any surprise means: use the documented encoder
        return None
    return encode


_C_CANONICAL = _c_canonical()


def _dumps(value: object) -> bytes:
    if _C_CANONICAL is not None:
        return "".join(_C_CANONICAL(value, 0)).encode("utf-8")
    return _CANONICAL.encode(value).encode("utf-8")


def payload_hash(draft: EntryDraft) -> str:
    """What the caller asked for, independent of when and by whom: the idempotency fingerprint."""
    body = [
        draft.effective_date.isoformat(),
        draft.kind,
        draft.memo,
        draft.reverses,
        [(p.account, p.fund, p.amount_fen, p.party) for p in draft.postings],
    ]
    return hashlib.sha256(_dumps(body)).hexdigest()


def entry_hash(
    prev_hash: str,
    seq: int,
    key: str,
    effective_date: dt.date,
    recorded_at: dt.datetime,
    kind: str,
    memo: str,
    reverses: int | None,
    maker_id: int | None,
    checker_id: int | None,
    postings: list[tuple[str, str, int, str | None]],
) -> str:
    """SHA-256 over the previous hash and a canonical serialisation of the entry and its postings.

    Postings are (account code, fund code, amount_fen, party) in posting order. Codes rather than
    ids, so a renumbered account table cannot hide a change.
    """
    body = [
        seq,
        key,
        effective_date.isoformat(),
        recorded_at.replace(microsecond=0).isoformat(),
        kind,
        memo,
        reverses,
        maker_id,
        checker_id,
        [list(p) for p in postings],
    ]
    h = hashlib.sha256(prev_hash.encode("ascii"))
    h.update(_dumps(body))
    return h.hexdigest()


def reversal_of(key: str, effective_date: dt.date, memo: str, original_seq: int,
                postings: list[PostingDraft], maker_id: int | None = None) -> EntryDraft:
    """The entry that undoes another: every posting negated, linked to the original."""
    return EntryDraft(
        key=key,
        effective_date=effective_date,
        kind="reversal",
        memo=memo,
        postings=tuple(PostingDraft(p.account, p.fund, -p.amount_fen, p.party) for p in postings),
        reverses=original_seq,
        maker_id=maker_id,
    )


def month_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"
