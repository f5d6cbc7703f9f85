"""township spelling: projects and users keep a registered township by its name

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 16:05:00

Projects and users compare a township as a string. The projects import stored a township by its
registered name, but a project created on a page or through the API, and a user created by an
admin, kept whatever was typed, sometimes the township's code (AQ for 阿羌乡), so a user scoped
by code did not see its township's projects. From this revision the services store and compare the
name; this migration rewrites the codes already stored. Nothing is lost: the code stays in the
township table, next to its name. A value that is also some township's name is left alone (a name
wins over another township's code, as in the registry).
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Fixed statements, no input: the same SQL on SQLite and PostgreSQL.
_BY_NAME = ("UPDATE {table} SET township = (SELECT t.name FROM township t WHERE t.code = {table}.township) "
            "WHERE township IN (SELECT code FROM township) AND township NOT IN (SELECT name FROM township)")


def upgrade() -> None:
    for table in ("project", "app_user"):
        op.execute(_BY_NAME.format(table=table))


def downgrade() -> None:
    # The codes are still in the township table; nothing to undo that the services would want back.
    pass
