"""payment guards: a published disclosure is frozen, a household batch posts only after one, rows join
only a draft, and a bank's answer on a payment row is final

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 15:40:00

0005's guards froze what a batch declared and what a row pays, and kept statuses moving forward; the
services never changed the rest, but the database let them. A database administrator (or a bug)
could shorten a 公示 after it went up, post a household batch that was never disclosed, add a row to
a roll the village had already seen, or rewrite the bank's note on a returned payment. These
triggers refuse all four on SQLite and PostgreSQL: 0005's two update guards are replaced (same
names), and two insert guards are new; the rest of 0005 stays as it is.
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of 0005's conditions (a migration never imports another: each says what it did).
_BATCH_FROZEN = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in (
    "id", "batch_no", "project_id", "purpose", "declared_count", "declared_total_fen", "is_history", "is_reissue",
    "source_sha256", "prepared_by", "prepared_at"))
_BATCH_MOVE = ("NEW.status IS DISTINCT FROM OLD.status AND NOT ("
               "(OLD.status = 'draft' AND NEW.status IN ('disclosed','posted','rejected')) OR "
               "(OLD.status = 'disclosed' AND NEW.status IN ('posted','rejected')))")
_ROW_FROZEN = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in (
    "id", "batch_id", "ref", "row_no", "household_id", "payee_id_number", "payee_name", "bank_account",
    "amount_fen", "paid_on", "period", "item", "quantity", "unit_price_fen", "reissue_of"))
_ROW_MOVE = ("(NEW.status IS DISTINCT FROM OLD.status AND NOT ("
             "(OLD.status = 'pending' AND NEW.status IN ('posted','rejected')) OR "
             "(OLD.status = 'posted' AND NEW.status IN ('paid','failed')))) OR "
             "(OLD.entry_seq IS NOT NULL AND NEW.entry_seq IS DISTINCT FROM OLD.entry_seq) OR "
             "(OLD.reversal_seq IS NOT NULL AND NEW.reversal_seq IS DISTINCT FROM OLD.reversal_seq)")

# New in 0006.
# A published 公示 is what the village saw: its dates, length and publisher never change afterwards.
_DISCLOSURE_FROZEN = "(OLD.disclosed_on IS NOT NULL AND (" + " OR ".join(
    f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in ("disclosed_on", "disclosure_until", "disclosure_days",
                                                  "disclosed_by")) + "))"
# A batch paying households (subsidy, wage, in kind) is disclosed before it is disclosed-status or
# posted; history (paid before huimin) and re-issues (of a row already disclosed) are the exceptions,
# as in payments.approve_batch.
_HOUSEHOLD_UNDISCLOSED = (
    "(NEW.status IN ('disclosed','posted') AND NEW.purpose IN ('subsidy','wage','in_kind') "
    "AND NOT NEW.is_history AND NOT NEW.is_reissue AND NEW.disclosed_on IS NULL)")
# The bank's answer (paid or returned) and a rejection are final: a re-issue is a new row.
_ROW_FINAL = "OLD.status IN ('paid','failed','rejected')"

_GUARDS = (
    ("payment_batch",
     f"OLD.status IN ('posted','rejected') OR {_BATCH_FROZEN} OR ({_BATCH_MOVE}) OR {_DISCLOSURE_FROZEN} "
     f"OR {_HOUSEHOLD_UNDISCLOSED}",
     "huimin: a decided payment batch is history; a batch keeps what it declared and its published disclosure, "
     "pays households only after one, and moves forward only"),
    ("payment_row", f"{_ROW_FINAL} OR {_ROW_FROZEN} OR {_ROW_MOVE}",
     "huimin: a payment row keeps what it pays and what the bank answered; its status moves forward only"),
)


# A batch written straight into its state (history, a re-issue) meets the same rule on INSERT.
_INSERT_MESSAGE = "huimin: a batch paying households is disclosed (公示) before it is posted"
# Rows join a batch while it is a draft, as pending; a history batch (inserted posted) takes its rows as
# paid. Nothing is added to a roll the village has seen, nor to one already decided.
_ROW_INSERT_OK = ("((NEW.status = 'pending' AND (SELECT b.status FROM payment_batch b WHERE b.id = NEW.batch_id) "
                  "= 'draft') OR (NEW.status = 'paid' AND (SELECT b.is_history FROM payment_batch b "
                  "WHERE b.id = NEW.batch_id)))")
_ROW_INSERT_MESSAGE = "huimin: rows join a draft batch as pending (a history batch as paid), never a disclosed one"


# The messages go into SQL text as literals.
assert not any("'" in m for _, _, m in _GUARDS) and "'" not in _INSERT_MESSAGE + _ROW_INSERT_MESSAGE


def _sqlite(expr: str) -> str:
    return expr.replace("IS DISTINCT FROM", "IS NOT")


def _pg_function(name: str, cond: str, message: str) -> str:
    return f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF {cond} THEN
        RAISE EXCEPTION '{message}';
      END IF;
      RETURN NEW;
    END $$"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # 0005's triggers call these functions by name: replacing the bodies is enough.
        for table, cond, message in _GUARDS:
            op.execute(_pg_function(f"huimin_{table}_update", cond, message))
        op.execute(_pg_function("huimin_payment_batch_insert", _HOUSEHOLD_UNDISCLOSED, _INSERT_MESSAGE))
        op.execute("CREATE TRIGGER payment_batch_insert_guard BEFORE INSERT ON payment_batch FOR EACH ROW "
                   "EXECUTE FUNCTION huimin_payment_batch_insert()")
        op.execute(_pg_function("huimin_payment_row_insert", f"NOT {_ROW_INSERT_OK}", _ROW_INSERT_MESSAGE))
        op.execute("CREATE TRIGGER payment_row_insert_guard BEFORE INSERT ON payment_row FOR EACH ROW "
                   "EXECUTE FUNCTION huimin_payment_row_insert()")
        return
    for table, cond, message in _GUARDS:
        op.execute(f"DROP TRIGGER {table}_update_guard")
        op.execute(f"""CREATE TRIGGER {table}_update_guard BEFORE UPDATE ON {table} WHEN {_sqlite(cond)}
    BEGIN SELECT RAISE(ABORT, '{message}'); END""")
    op.execute(f"""CREATE TRIGGER payment_batch_insert_guard BEFORE INSERT ON payment_batch
    WHEN {_HOUSEHOLD_UNDISCLOSED}
    BEGIN SELECT RAISE(ABORT, '{_INSERT_MESSAGE}'); END""")
    op.execute(f"""CREATE TRIGGER payment_row_insert_guard BEFORE INSERT ON payment_row
    WHEN NOT {_ROW_INSERT_OK}
    BEGIN SELECT RAISE(ABORT, '{_ROW_INSERT_MESSAGE}'); END""")


def downgrade() -> None:
    # Going back would only loosen the guards over what was paid; Huimin Ledger does not offer that.
    raise RuntimeError("the payment guards cannot be downgraded")
