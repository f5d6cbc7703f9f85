"""Request (…In) and response (…Out) models of the JSON API.

Amounts are decimal strings in yuan with two decimals ("1234.50"), never JSON numbers; dates are
ISO 8601 (YYYY-MM-DD); times are UTC with a trailing Z. Every input string is bounded in length
and refused if it holds control characters (other than tab and newline in memos) or unpaired
surrogates, so nothing that fits the schema can reach the database in a shape it would reject.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from ledger.entries import FUND_KINDS, MAX_KEY_LEN, MAX_MEMO_LEN
from ledger.money import MoneyError, format_yuan, parse_yuan_strict
from ledger.permissions import ROLES

MIN_DATE = dt.date(1900, 1, 1)
MAX_DATE = dt.date(2999, 12, 31)
MAX_SEQ = 2**31 - 1
MAX_PAGE = 1_000_000
MAX_PAGE_SIZE = 200


def _plain_text(value: str) -> str:
    """No control characters (tab and newline allowed) and no unpaired surrogates."""
    for ch in value:
        o = ord(ch)
        if (o < 0x20 and ch not in "\t\n\r") or o == 0x7F:
            raise ValueError("control characters are not allowed")
        if 0xD800 <= o <= 0xDFFF:
            raise ValueError("unpaired surrogates are not allowed")
    return value


def _one_line(value: str) -> str:
    _plain_text(value)
    if any(ch in value for ch in "\t\n\r"):
        raise ValueError("must be on one line")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _positive_amount(value: str) -> str:
    try:
        fen = parse_yuan_strict(value)
    except MoneyError as exc:
        raise ValueError(str(exc)) from None
    if fen <= 0:
        raise ValueError("amount must be greater than 0.00")
    return value


_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


def iso_date_only(value: object) -> object:
    """Dates are written YYYY-MM-DD; pydantic would also take a number of seconds since 1970."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        return value
    raise ValueError("date must be written YYYY-MM-DD")


# Patterns say in the schema what the validators check, so generated clients (and schemathesis)
# know them; the validators also refuse unpaired surrogates, which a pattern cannot express.
LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
KEY_PATTERN = r"^[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$"


def Line(max_length: int, min_length: int = 0):  # noqa: N802 - reads as a type
    """A one-line text of bounded length."""
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length, pattern=LINE_PATTERN),
                     AfterValidator(_one_line)]


def Text(max_length: int):  # noqa: N802
    """Free text (a memo): bounded, tabs and newlines allowed, no other control characters."""
    return Annotated[str, StringConstraints(max_length=max_length, pattern=TEXT_PATTERN), AfterValidator(_plain_text)]


ApiDate = Annotated[dt.date, BeforeValidator(iso_date_only),
                    Field(ge=MIN_DATE, le=MAX_DATE, description="YYYY-MM-DD")]
Key = Annotated[str, StringConstraints(min_length=1, max_length=MAX_KEY_LEN, pattern=KEY_PATTERN),
                AfterValidator(_one_line), AfterValidator(_not_blank),
                Field(description="Business key: a repeat with the same key and the same payload returns the "
                                  "original entry")]
FUND_CODE_PATTERN = r"^[A-Z0-9][A-Z0-9_-]{0,63}$"
FundCode = Annotated[str, StringConstraints(pattern=FUND_CODE_PATTERN, max_length=64)]
ProjectCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$", max_length=64)]
# Positive, at most two decimals, no grouping, at most 13 integer digits (MAX_ABS_FEN).
AMOUNT_PATTERN = r"^([1-9][0-9]{0,12}(\.[0-9]{1,2})?|0\.([1-9][0-9]?|0[1-9]))$"
Amount = Annotated[str, StringConstraints(pattern=AMOUNT_PATTERN, max_length=16), AfterValidator(_positive_amount),
                   Field(description="Yuan as a decimal string with at most two places, greater than 0",
                         examples=["1234.50"])]
Memo = Text(MAX_MEMO_LEN)
Role = Literal["finance_officer", "approver", "loan_officer", "inspector", "admin"]
FundKind = Literal["central", "region", "prefecture", "county", "partner_aid", "social", "bank_credit", "unclassified"]
assert set(Role.__args__) == set(ROLES) - {"system"}  # type: ignore[attr-defined]
assert set(FundKind.__args__) == set(FUND_KINDS)  # type: ignore[attr-defined]


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """Stored times are naive UTC; the API says so explicitly."""
    return None if value is None else value.replace(tzinfo=dt.UTC)


def yuan(fen: int | None) -> str | None:
    return None if fen is None else format_yuan(int(fen))


class In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Out(BaseModel):
    pass


# --- errors -------------------------------------------------------------------------------------


class ProblemOut(Out):
    row: int | None = None
    column: str
    value: str | None = None
    message: str
    where: str | None = None


class RefusalOut(Out):
    """The §9 error shape: a request that was understood and refused, or failed validation."""

    ok: Literal[False] = False
    errors: list[ProblemOut]


class DetailOut(Out):
    detail: Any


class ForbiddenOut(Out):
    detail: str
    permission: str


# --- who ------------------------------------------------------------------------------------------


class MeOut(Out):
    id: int
    username: str
    role: str
    township: str | None


# --- journal --------------------------------------------------------------------------------------


class EntryRowOut(Out):
    seq: int
    date: dt.date
    recorded_at: dt.datetime
    kind: str
    memo: str
    key: str
    amount: str = Field(description="Sum of the debits, yuan")
    reverses: int | None
    reversed_by: int | None
    maker: str | None


class JournalPageOut(Out):
    items: list[EntryRowOut]
    total: int
    page: int
    page_size: int
    pages: int


class PostingOut(Out):
    account: str
    account_name_zh: str
    account_name_en: str
    fund: str
    amount: str = Field(description="Debit positive, credit negative, yuan")
    party: str | None


class EntryOut(EntryRowOut):
    checker: str | None
    status: str
    payload_hash: str
    prev_hash: str
    hash: str
    postings: list[PostingOut]


class TrialBalanceRowOut(Out):
    account: str
    fund: str
    balance: str = Field(description="Debit positive, yuan")


class TrialBalanceOut(Out):
    as_of: dt.date
    rows: list[TrialBalanceRowOut]


class FundBalanceOut(Out):
    fund: str
    balance: str


class AccountOut(Out):
    code: str
    type: str
    name_zh: str
    name_en: str
    opened_on: dt.date
    closed_on: dt.date | None
    limit_kind: str
    balances: list[FundBalanceOut]


class StatementLineOut(Out):
    date: dt.date
    seq: int
    kind: str
    memo: str
    fund: str
    party: str | None
    amount: str
    balance: str = Field(description="Running balance after this line")


class StatementOut(Out):
    account: AccountOut
    fund: str | None
    date_from: dt.date | None
    date_to: dt.date | None
    opening_balance: str
    closing_balance: str
    lines: list[StatementLineOut]
    total: int
    page: int
    page_size: int
    pages: int


# --- verification ------------------------------------------------------------------------------


class VerifyRunOut(Out):
    at: dt.datetime
    ok: bool
    entries_checked: int | None
    first_bad_seq: int | None
    message: str | None


class ChainStatusOut(Out):
    head_seq: int
    head_hash: str
    digest: str = Field(description="SEQ:HASH of the chain head")
    last_run: VerifyRunOut | None


class VerifyResultOut(Out):
    ok: bool
    entries_checked: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None
    message: str


class DigestOut(Out):
    seq: int
    hash: str


# --- audit ----------------------------------------------------------------------------------------


class AuditRowOut(Out):
    id: int
    at: dt.datetime
    actor: str | None
    action: str
    object_type: str
    object_id: str | None
    before: Any = None
    after: Any = None


class AuditPageOut(Out):
    items: list[AuditRowOut]
    total: int
    page: int
    page_size: int
    pages: int


# --- writes ---------------------------------------------------------------------------------------


class FundIn(In):
    code: FundCode
    name: Line(200, 1)  # type: ignore[valid-type]
    kind: FundKind
    document_no: Line(128) | None = None  # type: ignore[valid-type]


class FundOut(Out):
    code: str
    name: str
    kind: str
    document_no: str | None


class ReceiptIn(In):
    key: Key
    amount: Amount
    date: ApiDate
    memo: Memo = ""  # type: ignore[valid-type]


class AllocationIn(In):
    key: Key
    project_code: ProjectCode
    fund: FundCode
    amount: Amount
    date: ApiDate
    memo: Memo = ""  # type: ignore[valid-type]


class ReversalIn(In):
    key: Key
    date: ApiDate
    memo: Memo = ""  # type: ignore[valid-type]


class PostedOut(Out):
    seq: int
    key: str
    created: bool = Field(description="False when the key was already posted with the same payload")
    hash: str | None = None


class UserIn(In):
    username: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{1,63}$", max_length=64)]
    role: Role
    password: Annotated[str, StringConstraints(min_length=10, max_length=256, pattern=TEXT_PATTERN),
                        AfterValidator(_plain_text)]
    display_name: Line(128) = ""  # type: ignore[valid-type]
    township: Line(64) | None = None  # type: ignore[valid-type]


class UserOut(Out):
    id: int
    username: str
    display_name: str
    role: str
    township: str | None
    is_active: bool


class TokenIn(In):
    name: Line(64, 1) = "api"  # type: ignore[valid-type]


class TokenOut(Out):
    name: str
    token: str | None = Field(description="The bearer token, shown once; null when this response is a replay")
