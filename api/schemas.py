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
from ledger.models import (
    ALLOCATION_STATUSES,
    BATCH_STATUSES,
    PAYMENT_PURPOSES,
    PAYMENT_ROW_STATUSES,
    PROJECT_INDUSTRIES,
    PROJECT_STATUSES,
)
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


class ReceiptOut(Out):
    seq: int
    received_on: dt.date
    amount: str
    memo: str
    kind: str


class FundSourceOut(Out):
    code: str
    name: str
    kind: str
    document_no: str | None
    received: str
    allocated: str
    in_pool: str
    receipts: list[ReceiptOut]


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


# --- finance dashboard (ledger.dashboard) ----------------------------------------------------------


class SankeyNodeOut(Out):
    key: str = Field(description="Unique: fund:<code>, project:<account>, projects:other, industry:<key>, unspent")
    kind: Literal["fund", "project", "other_projects", "industry", "unspent"]
    code: str = Field(description="Fund code, project code or industry key ('' for an account not in the library)")
    name: str = Field(description="Fund or project name; '' for industries and the two sinks")
    projects: int = Field(description="other_projects: how many projects the node stands for")


class SankeyLinkOut(Out):
    source: str
    target: str
    amount: str = Field(description="Yuan, always above 0")


class SankeyOut(Out):
    nodes: list[SankeyNodeOut]
    links: list[SankeyLinkOut]


class TownshipProgressOut(Out):
    township: str | None = Field(description="null: county-wide projects (or, with in_library false, accounts "
                                             "not in the project library)")
    in_library: bool
    projects: int
    allocated: str
    spent: str
    balance: str
    progress_pct: str | None = Field(description="Spent / allocated in percent, one decimal; null when nothing "
                                                 "is allocated")


class IdleBalanceOut(Out):
    code: str
    name: str
    account: str
    industry: str | None = Field(description="null: not in the project library")
    township: str | None
    balance: str
    by_fund: list[FundBalanceOut]
    first_allocation_on: dt.date | None
    last_payment_on: dt.date | None
    idle_days: int | None
    level: Literal["warn", "flag", "severe"] | None = Field(description="90, 180 and 365 days idle (DESIGN §7, R08)")


class IdleListOut(Out):
    total: int = Field(description="Projects holding money (items holds the first of them, longest idle first)")
    total_balance: str
    items: list[IdleBalanceOut]


class DashboardOut(Out):
    as_of: dt.date | None = Field(description="null: every posted entry")
    day: dt.date = Field(description="Idle days are counted to this day")
    scope: str | None = Field(description="The caller's township; null: the whole county")
    projects: int
    truncated: bool = Field(description="More project accounts exist than one dashboard reads")
    allocated: str
    spent: str
    balance: str
    progress_pct: str | None
    sankey: SankeyOut
    townships: list[TownshipProgressOut]
    idle: IdleListOut


# --- projects and allocation requests (ledger.projects) ------------------------------------------

Industry = Literal["rose", "grape", "vegetable", "marigold", "fungus", "sheep", "goose", "pigeon", "rabbit",
                   "hotan_sheep", "welfare_post", "interest_subsidy", "infrastructure", "other"]
ProjectStatusName = Literal["planned", "approved", "implementing", "completed", "accepted", "closed"]
RequestStatus = Literal["pending", "approved", "rejected"]
assert set(Industry.__args__) == set(PROJECT_INDUSTRIES)  # type: ignore[attr-defined]
assert set(ProjectStatusName.__args__) == set(PROJECT_STATUSES)  # type: ignore[attr-defined]
assert set(RequestStatus.__args__) == set(ALLOCATION_STATUSES)  # type: ignore[attr-defined]


def _amount_ok(value: str) -> str:
    try:
        parse_yuan_strict(value)
    except MoneyError as exc:
        raise ValueError(str(exc)) from None
    return value


# Zero or more: a project may enter the library before its budget is settled.
BUDGET_PATTERN = r"^(0|[1-9][0-9]{0,12})(\.[0-9]{1,2})?$"
Budget = Annotated[str, StringConstraints(pattern=BUDGET_PATTERN, max_length=16), AfterValidator(_amount_ok),
                   Field(description="Yuan as a decimal string with at most two places, 0 or more",
                         examples=["500000.00"])]


class NewProjectIn(In):
    """A project for the library (项目库); it starts planned and is approved by another user."""

    code: ProjectCode
    name: Line(200, 1)  # type: ignore[valid-type]
    industry: Industry
    township: Line(64) | None = Field(default=None, description="null: county-wide")  # type: ignore[valid-type]
    implementer: Line(200) | None = None  # type: ignore[valid-type]
    budget: Budget
    standard: Amount | None = Field(default=None, description="Per household, yuan")
    start_on: ApiDate
    end_on: ApiDate | None = None
    performance_target: Text(4000) = ""  # type: ignore[valid-type]


class ProjectOut(Out):
    code: str
    name: str
    industry: str
    township: str | None = Field(description="null: county-wide")
    implementer: str | None
    budget: str
    standard: str | None = Field(description="Per household")
    start_on: dt.date
    end_on: dt.date | None
    status: str
    performance_target: str
    account: str
    created_by: str | None
    created_at: dt.datetime
    balance: str = Field(description="All funds, from the stored balances")


class ProjectPageOut(Out):
    items: list[ProjectOut]
    total: int
    page: int
    page_size: int
    pages: int


class FundFiguresOut(Out):
    fund: str
    allocated: str
    spent: str
    balance: str


class StatusChangeOut(Out):
    from_status: str | None
    to_status: str
    changed_by: str | None
    changed_at: dt.datetime
    reason: str


class AllocationRequestIn(In):
    """资金安排申请: pool -> project; with `from_project`, a reallocation (资金调整) project -> project."""

    key: Key
    project_code: ProjectCode
    from_project: ProjectCode | None = Field(default=None, description="Set for a reallocation: the giving project")
    fund: FundCode
    amount: Amount
    date: ApiDate
    memo: Memo = ""  # type: ignore[valid-type]


class RejectIn(In):
    reason: Line(500, 1)  # type: ignore[valid-type]


class AllocationRequestOut(Out):
    id: int
    key: str
    kind: str
    project: str = Field(description="The receiving project")
    from_project: str | None
    fund: str
    amount: str
    date: dt.date
    memo: str
    status: str
    prepared_by: str | None
    prepared_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    reason: str | None
    entry_seq: int | None = Field(description="The entry an approval posted")
    created: bool = Field(description="False when the key had been used before with the same details")


class AllocationRequestPageOut(Out):
    items: list[AllocationRequestOut]
    total: int
    page: int
    page_size: int
    pages: int


class ProjectDetailOut(Out):
    project: ProjectOut
    as_of: dt.date
    allocated: str
    spent: str
    balance: str
    progress_pct: str | None = Field(description="Spent / allocated, percent to 0.1; null when nothing allocated")
    first_allocation_on: dt.date | None
    last_payment_on: dt.date | None
    idle_days: int | None
    by_fund: list[FundFiguresOut]
    history: list[StatusChangeOut]
    requests: list[AllocationRequestOut] = Field(description="The latest, newest first")


# --- payment batches (ledger.payments) -------------------------------------------------------------

# A notice that went up on the village board on paper may be recorded as published up to this many days
# later (the web page's and the API's bound; ledger.payments takes any date).
MAX_DISCLOSURE_BACKDATE_DAYS = 30
# Rows of a roll entered as JSON; a larger roll is uploaded as a spreadsheet (the import page, `huimin import`).
MAX_ROLL_ROWS = 5_000
# Codes as an officer's sheet holds them (ledger.imports: no spaces inside, at most 64 characters).
PAYMENT_CODE_PATTERN = r"^[^\s\x00-\x1f\x7f]{1,64}$"
PaymentCode = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=PAYMENT_CODE_PATTERN),
                        AfterValidator(_one_line)]
IdNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]{17}[0-9X]$", max_length=18),
                     Field(description="18-digit resident ID, check character X in upper case")]
BankAccount = Annotated[str, StringConstraints(pattern=r"^[0-9]{8,30}$", max_length=30)]
PayPeriod = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", max_length=7),
                      Field(description="The month a payment is for, YYYY-MM")]
Purpose = Literal["subsidy", "wage", "in_kind", "advance"]
BatchStatus = Literal["draft", "disclosed", "posted", "rejected"]
PaymentRowStatus = Literal["pending", "posted", "paid", "failed", "rejected"]
assert set(Purpose.__args__) == set(PAYMENT_PURPOSES)  # type: ignore[attr-defined]
assert set(BatchStatus.__args__) == set(BATCH_STATUSES)  # type: ignore[attr-defined]
assert set(PaymentRowStatus.__args__) == set(PAYMENT_ROW_STATUSES)  # type: ignore[attr-defined]


class PaymentRowIn(In):
    """One row of the payments template (DESIGN.md §8)."""

    ref: PaymentCode = Field(description="业务流水号: unique; a repeat with the same details is skipped")
    batch_no: PaymentCode
    project_code: ProjectCode
    household_no: PaymentCode
    payee_id_number: IdNumber
    payee_name: Line(200, 1)  # type: ignore[valid-type]
    bank_account: BankAccount | None = Field(None, description="The household's 一卡通 account; none only in kind")
    amount: Amount
    paid_on: ApiDate
    purpose: Literal["subsidy", "wage", "in_kind"]
    period: PayPeriod
    item: Line(200) | None = None  # type: ignore[valid-type]
    quantity: int | None = Field(None, ge=1, le=1_000_000)
    unit_price: Amount | None = None


class PaymentRollIn(In):
    """A roll (清册) entered as JSON: its rows and the control totals of its cover sheet."""

    declared_count: int = Field(ge=1, le=MAX_ROLL_ROWS, description="笔数: how many rows the roll declares")
    declared_total: Amount = Field(description="金额合计: what the rows declare to sum to, yuan")
    rows: list[PaymentRowIn] = Field(min_length=1, max_length=MAX_ROLL_ROWS)
    memo: Memo = ""  # type: ignore[valid-type]


class RollOut(Out):
    batches: list[str] = Field(description="The batch numbers the roll names")
    batches_created: int
    rows_created: int
    rows_already_recorded: int
    total: str = Field(description="Sum of the rows created, yuan")


class BatchOut(Out):
    batch_no: str
    project_code: str
    project_name: str
    township: str | None = Field(description="null: a county-wide project")
    purpose: Purpose
    status: BatchStatus
    declared_count: int
    declared_total: str
    row_count: int
    total: str
    paid_count: int
    failed_count: int
    is_history: bool
    is_reissue: bool
    prepared_by: str | None
    prepared_at: dt.datetime
    disclosure_days: int
    disclosed_on: dt.date | None
    disclosure_until: dt.date | None = Field(description="The first day on which the batch may be approved")
    decided_by: str | None
    decided_at: dt.datetime | None
    reason: str | None
    memo: str


class BatchPageOut(Out):
    items: list[BatchOut]
    total: int
    page: int
    page_size: int
    pages: int


class PaymentRowOut(Out):
    ref: str
    row_no: int | None
    household_no: str | None
    village: str | None
    payee_id_number: str | None = Field(description="Masked (公示 form) unless the caller's role sees it whole")
    payee_name: str
    bank_account: str | None = Field(description="Masked (公示 form) unless the caller's role sees it whole")
    amount: str
    paid_on: dt.date
    period: str | None
    item: str | None
    quantity: int | None
    unit_price: str | None
    status: PaymentRowStatus
    entry_seq: int | None
    reversal_seq: int | None
    bank_note: str | None
    reissue_of: str | None


class BatchDetailOut(BatchOut):
    rows: list[PaymentRowOut] = Field(description="One page of the batch's rows")
    page: int
    page_size: int
    pages: int


class DisclosureIn(In):
    days: int | None = Field(None, ge=1, le=365, description="Days the notice hangs; default the county's minimum")
    start_on: ApiDate | None = Field(None, description="The day it went up: today (default) or up to "
                                                      f"{MAX_DISCLOSURE_BACKDATE_DAYS} days ago")


class BatchRejectIn(In):
    reason: Line(500, 1)  # type: ignore[valid-type]


class AdvanceIn(In):
    """预付款 to a project's implementer, to deliver goods to households later (no disclosure)."""

    batch_no: PaymentCode
    ref: PaymentCode
    project_code: ProjectCode
    amount: Amount
    date: ApiDate
    memo: Memo = ""  # type: ignore[valid-type]


class FundShareOut(Out):
    fund: str
    name: str
    amount: str


class HouseholdPaymentOut(Out):
    paid_on: dt.date
    ref: str
    batch_no: str
    project_code: str
    project_name: str
    purpose: Purpose
    period: str | None
    item: str | None
    status: PaymentRowStatus
    amount: str = Field(description="What reached the household: 0.00 once a failed payment is reversed")
    funds: list[FundShareOut] = Field(description="The fund sources that paid it, summing to amount")
    is_history: bool


class HouseholdStatementOut(Out):
    household_no: str
    lines: list[HouseholdPaymentOut]
    total: str
    by_fund: list[FundShareOut]


class PublicRowOut(Out):
    village: str | None
    payee_name: str
    id_number: str = Field(description="Masked: 653226********0012")
    bank_account: str = Field(description="Masked: 6217***********1234")
    amount: str
    period: str | None
    item: str | None
    quantity: int | None


class PublicNoticeOut(Out):
    batch_no: str
    project_name: str
    township: str | None
    purpose: Purpose
    disclosed_on: dt.date
    last_day: dt.date = Field(description="The last day the notice hangs")
    row_count: int
    total: str
    rows: list[PublicRowOut]


# --- public-welfare posts (ledger.welfare) and in-kind advance aging (ledger.inkind) ---------------

PostType = Literal["general", "forest", "grassland", "road", "pv"]


class WelfarePostOut(Out):
    post_no: str
    post_type: PostType
    project_code: str
    project_name: str
    household_no: str
    township: str
    village: str
    holder_id_number: str = Field(description="Masked (653226********0012) for roles that do not see full IDs")
    holder_name: str
    monthly_wage: str
    start_on: dt.date
    end_on: dt.date | None
    end_reason: str | None
    active: bool = Field(description="Held on the day asked (as_of, default today)")


class WelfarePostPageOut(Out):
    items: list[WelfarePostOut]
    total: int
    page: int
    page_size: int
    pages: int


AgingBucket = Literal["0-30", "31-90", "91-180", "180+"]


class AgingBucketOut(Out):
    bucket: AgingBucket
    amount: str


class FundAgingOut(Out):
    fund: str
    advanced: str
    delivered: str
    other: str
    undelivered: str = Field(description="The advance account's balance in this fund")
    oldest_on: dt.date | None = Field(description="The oldest advance not yet covered by deliveries (FIFO)")
    days: int | None
    bucket: AgingBucket | None
    buckets: list[AgingBucketOut]


class AdvanceAgingRowOut(Out):
    project_code: str | None = Field(description="null: an advance account of no project in the library")
    project_name: str
    implementer: str | None
    township: str | None
    account: str
    advanced: str
    delivered: str
    other: str = Field(description="Anything else that moved the account (opening balance, re-designation)")
    undelivered: str
    oldest_on: dt.date | None
    days: int | None
    bucket: AgingBucket | None
    buckets: list[AgingBucketOut] = Field(description="The undelivered amount by the age of each open advance")
    by_fund: list[FundAgingOut]


class AdvanceAgingOut(Out):
    as_of: dt.date
    advanced: str
    delivered: str
    other: str
    undelivered: str
    buckets: list[AgingBucketOut]
    rows: list[AdvanceAgingRowOut]
