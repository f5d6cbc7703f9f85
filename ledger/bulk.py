"""Many rows through SQLAlchemy's connection at the speed of the DBAPI cursor.

An import writes hundreds of thousands of rows. SQLAlchemy's executemany builds and type-processes
a parameter dict for every row, and re-renders an expanding IN list on every lookup; for the
journal's hot statements that costs more than the database's own work. Here each statement is
compiled once per dialect by SQLAlchemy from the Core tables (no SQL is written by hand, every
value is a bound parameter) and run with `exec_driver_sql` on plain tuples. Values SQLAlchemy would
convert for the driver (SQLite keeps dates as ISO text) go through the dialect's own processors,
once per distinct value.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Column, Connection, Table, bindparam
from sqlalchemy.sql.expression import Executable

# Keeps every IN (...) list well under SQLite's and PostgreSQL's bound-parameter limits.
LOOKUP_CHUNK = 500

Build = Callable[[], tuple[Executable, dict]]  # -> (statement, compile keywords)

_MISSING = object()
_COMPILED: dict[tuple, tuple[str, bool]] = {}


def chunks(items: Sequence, size: int = LOOKUP_CHUNK) -> Iterator[Sequence]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _compiled(conn: Connection, key: str, build: Build, names: tuple[str, ...],
              converted: frozenset[str]) -> tuple[str, bool]:
    """(SQL text, positional?) of a statement compiled for this connection's dialect, cached by key."""
    dialect = conn.dialect
    cache_key = (dialect.name, dialect.paramstyle, key)
    hit = _COMPILED.get(cache_key)
    if hit is None:
        stmt, compile_kw = build()
        compiled = stmt.compile(dialect=dialect, **compile_kw)
        order = tuple(compiled.positiontup) if compiled.positiontup is not None else None
        # Rows come as tuples in `names` order with the `converted` values already in driver form:
        # hold the compiled statement to exactly that, so a schema change cannot slip a value
        # through in the wrong place or the wrong form.
        if order is not None:
            assert order == names, (key, order, names)
        else:
            assert sorted(compiled.binds) == sorted(names), (key, sorted(compiled.binds), names)
        for name, bind in compiled.binds.items():
            assert name in converted or bind.type.dialect_impl(dialect).bind_processor(dialect) is None, (key, name)
        hit = _COMPILED[cache_key] = (compiled.string, order is not None)
    return hit


def executemany(conn: Connection, key: str, build: Build, names: tuple[str, ...], rows: list[tuple],
                converted: frozenset[str] = frozenset()) -> None:
    """Run one statement for every row. Rows are tuples in `names` order; values of the bind names
    in `converted` are already in driver form (see `to_driver`), and no other bind may need one."""
    if not rows:
        return
    sql, positional = _compiled(conn, key, build, names, converted)
    if positional:
        conn.exec_driver_sql(sql, rows)
    else:
        conn.exec_driver_sql(sql, [dict(zip(names, row, strict=True)) for row in rows])


def insert_rows(conn: Connection, table: Table, columns: tuple[str, ...], rows: list[tuple],
                converted: frozenset[str] = frozenset()) -> None:
    """INSERT rows: tuples in `columns` order, which must be the table's column order (the order
    the INSERT compiles to; checked). See `executemany` for `converted`."""
    executemany(conn, f"{table.name}.insert:{','.join(columns)}",
                lambda: (table.insert(), {"column_keys": list(columns)}), columns, rows, converted)


def insert_dicts(conn: Connection, table: Table, rows: list[dict]) -> None:
    """INSERT rows given as dicts with the same keys, converting values that need it (by column)."""
    if not rows:
        return
    columns = tuple(c.key for c in table.columns if c.key in rows[0])  # the order the INSERT compiles to
    assert len(columns) == len(rows[0]), (table.name, sorted(rows[0]))
    values = [[row[name] for row in rows] for name in columns]  # column by column
    needs = set()
    for i, name in enumerate(columns):
        convert = to_driver(conn, table.c[name])
        if convert is not _same:
            values[i] = list(map(convert, values[i]))
            needs.add(name)
    insert_rows(conn, table, columns, list(zip(*values, strict=True)), frozenset(needs))


def _same(value: object) -> object:
    return value


def _memoised(proc: Callable[[object], object]) -> Callable[[object], object]:
    memo: dict = {}

    def convert(value: object) -> object:
        out = memo.get(value, _MISSING)
        if out is _MISSING:
            out = memo[value] = proc(value)
        return out

    return convert


def to_driver(conn: Connection, column: Column) -> Callable[[object], object]:
    """The dialect's conversion of this column's values for the driver, memoised per distinct value
    (use it for columns with few distinct values: dates, flags)."""
    proc = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return _same if proc is None else _memoised(proc)


def from_driver(conn: Connection, column: Column) -> Callable[[object], object]:
    """The dialect's conversion of this column's values from the driver, memoised per distinct value."""
    proc = column.type.dialect_impl(conn.dialect).result_processor(conn.dialect, None)
    return _same if proc is None else _memoised(proc)


# Lookups by many values: SELECT … WHERE column IN (exactly LOOKUP_CHUNK parameters). A fixed size
# compiles once per dialect; a short last chunk repeats its last value, which IN ignores.
_IN_NAMES = tuple(f"v{i}" for i in range(LOOKUP_CHUNK))


def in_params(column: Column) -> list:
    """The bound parameters for `column.in_(...)` in a statement given to `rows_in`."""
    return [bindparam(name, type_=column.type) for name in _IN_NAMES]


def rows_in(conn: Connection, key: str, build: Build, values: Sequence) -> Iterable[tuple]:
    """Raw driver rows of a SELECT whose WHERE has `column.in_(in_params(column))`, for any number of
    values. Values are passed as they are (no bind processing: use it on ids, codes and keys)."""
    sql, positional = _compiled(conn, key, build, _IN_NAMES, frozenset())
    for chunk in chunks(values):
        params = tuple(chunk) + (chunk[-1],) * (LOOKUP_CHUNK - len(chunk))
        yield from conn.exec_driver_sql(sql, params if positional else dict(zip(_IN_NAMES, params, strict=True)))


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for one bulk import, then restore it.

    An import builds a few hundred thousand objects that all live until it ends (drafts, rows) and
    makes no reference cycles of its own; the collector would walk them again and again for nothing
    (about a tenth of an import's time). Reference counting still frees everything as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
