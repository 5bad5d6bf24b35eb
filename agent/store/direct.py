"""The turn's prebuilt statements run on the driver's connection (SQLite), past SQLAlchemy's execution machinery.

Why: SQLAlchemy Core spends ~35-50 us of Python on each `Connection.execute` (execution context,
parameter construction, result setup) around the ~3 us the sqlite3 driver takes for an indexed
statement, and a turn sends some twenty. The statements are already built once (queries.py); here
each is also compiled once per dialect and parameter shape, and then run straight on the DBAPI
connection underneath the SQLAlchemy `Connection` that holds the transaction.

What stays SQLAlchemy's, so nothing observable changes:
- the connection, the pool and the transaction: a statement runs here only inside the Connection's
  active transaction (BEGIN / BEGIN IMMEDIATE, the commit, the rollback on error stay db.py's);
- the SQL text, parameter order, expanded IN lists and constant binds: `construct_expanded_state`
  of SQLAlchemy's own compilation, with the column keys SQLAlchemy compiles that execution with;
- the value conversions: the column types' bind and result processors for this dialect (SQLite
  DATETIME strings, JSON text), applied as SQLAlchemy's execution context applies them, so the
  stored bytes and the values read back are the same;
- the errors: a driver error is wrapped by the Connection's own handler (IntegrityError, OperationalError...).

SQLAlchemy runs the statement itself (`conn.execute`) whenever this path could differ: on other
databases than SQLite through pysqlite (PostgreSQL keeps SQLAlchemy), outside an active transaction
(SQLAlchemy's autobegin), when anyone listens to the engine's, connection's or dialect's events
(statement hooks and instrumentation see every statement), with echo or execution options, for
statements with RETURNING or Python-side column defaults, and when building the parameters fails
(SQLAlchemy then raises its own error, before anything was sent).

Results are lists of tuples here and of SQLAlchemy `Row`s on its path: callers use positions only.
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter, methodcaller
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import Executable

Params = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Plan:
    """One statement compiled for one dialect and one parameter shape."""

    sql: str
    # Each positional parameter: (name, index, processor, constant). `name` None: a constant bind,
    # already processed; else params[name] (its index-th item for an expanded IN list), processed.
    binds: tuple[tuple[str | None, int | None, Any, Any], ...]
    results: tuple[tuple[int, Any], ...]  # (column, processor) of the result columns that convert

    def args(self, params: Params) -> tuple[Any, ...]:
        out = []
        for name, index, proc, const in self.binds:
            if name is None:
                out.append(const)
                continue
            value = params[name] if index is None else params[name][index]
            out.append(value if proc is None else proc(value))
        return tuple(out)

    def convert(self, rows: list[tuple]) -> list[tuple]:
        if not self.results:
            return rows
        out = []
        for row in rows:
            values = list(row)
            for i, proc in self.results:
                values[i] = proc(values[i])
            out.append(tuple(values))
        return out


def compile_plan(dialect: Dialect, stmt: Executable, params: Params, many: bool) -> Plan | None:
    """The plan of `stmt` executed with parameters shaped like `params` (keys, IN list lengths), as
    SQLAlchemy compiles that execution; None when this path cannot run it exactly as SQLAlchemy would."""
    compiled = stmt.compile(dialect=dialect, column_keys=sorted(params), for_executemany=many)
    if (not compiled.positional or compiled.escaped_bind_names or compiled.insert_prefetch
            or compiled.update_prefetch or compiled.effective_returning or compiled.schema_translate_map
            or any(p.key in params for p in compiled.literal_execute_params)
            or (many and (compiled.literal_execute_params or compiled.post_compile_params))):
        return None
    state = compiled.construct_expanded_state(params)
    processors = {**compiled._bind_processors, **state.processors}  # as SQLAlchemy's execution context merges them
    expanded = {name: (orig, i) for orig, names in state.parameter_expansion.items() for i, name in enumerate(names)}
    binds = []
    for name in state.positiontup:
        proc = processors.get(name)
        orig, index = expanded.get(name, (name, None))
        if orig in params:
            bind = compiled.binds.get(orig)
            if proc is not None and bind is not None and _default_sqlite_datetime(bind.type, dialect):
                proc = _naive_datetime_text(proc)
            binds.append((orig, index, proc, None))
            continue
        bind = compiled.binds.get(orig)
        if bind is not None and bind.callable is not None:  # a value computed per execution
            return None
        value = state.parameters[name]
        binds.append((None, None, None, value if proc is None else proc(value)))
    results = []
    for i, col in enumerate(getattr(compiled, "_result_columns", None) or ()):
        proc = col.type._cached_result_processor(dialect, None)  # sqlite3 describes no column types
        if proc is not None:
            results.append((i, proc))
    return Plan(state.statement, tuple(binds), tuple(results))


_SQLITE_DATETIME_FORMAT = SQLITE_DATETIME._storage_format  # "YYYY-MM-DD HH:MM:SS.ffffff", what isoformat(" ") writes


def _default_sqlite_datetime(type_: Any, dialect: Dialect) -> bool:
    impl = type_.dialect_impl(dialect)
    return isinstance(impl, SQLITE_DATETIME) and impl._storage_format == _SQLITE_DATETIME_FORMAT


def _naive_datetime_text(process: Any) -> Any:
    """SQLite DATETIME's bind processor with its common case, a naive datetime, written by `isoformat`: the
    same text as its `%`-format of the fields, at a fifth of the cost (a turn binds some twenty)."""
    def fast(value: Any) -> Any:
        if value.__class__ is dt.datetime and value.tzinfo is None:
            return value.isoformat(" ", "microseconds")
        return process(value)
    return fast


@dataclass
class _Statement:
    """A statement's plans on one dialect, by parameter shape; the statement is kept so its id stays its own."""

    stmt: Executable
    expanding: tuple[str, ...]  # its IN list parameters: their lengths are part of the shape
    plans: dict[tuple, Plan | None] = field(default_factory=dict)  # None: a shape SQLAlchemy runs


_dialects: weakref.WeakKeyDictionary[Dialect, dict[int, _Statement] | None] = weakref.WeakKeyDictionary()
_recent: tuple[Any, Any] = (None, None)  # the last (dialect, statements) looked up: a process has one store dialect
_lock = threading.Lock()
_UNSEEN: Any = object()
# Statements are meant to be built once (queries.py) and are kept with their plans for the process's
# life; past this many (statements built per call), the others go to SQLAlchemy, whose cache is bounded.
MAX_STATEMENTS = 500


def _statements(dialect: Dialect) -> dict[int, _Statement] | None:
    """The statements compiled for `dialect` by id; None when this path does not serve the dialect."""
    global _recent
    recent_dialect, statements = _recent
    if recent_dialect is dialect:
        return statements
    statements = _dialects.get(dialect, _UNSEEN)
    if statements is _UNSEEN:
        served = dialect.name == "sqlite" and dialect.driver == "pysqlite"
        with _lock:
            statements = _dialects.setdefault(dialect, {} if served else None)
    _recent = (dialect, statements)
    return statements


def _plan(statements: dict[int, _Statement], dialect: Dialect, stmt: Executable, params: Params,
          many: bool) -> Plan | None:
    entry = statements.get(id(stmt))
    if entry is None:
        if len(statements) >= MAX_STATEMENTS:
            return None
        compiled = stmt.compile(dialect=dialect)
        entry = statements[id(stmt)] = _Statement(stmt, tuple(b.key for b in compiled.binds.values() if b.expanding))
    shape = (many, *params) if not entry.expanding else \
        (many, *params, *[len(params[n]) if n in params else -1 for n in entry.expanding])
    try:
        return entry.plans[shape]
    except KeyError:
        plan = entry.plans[shape] = compile_plan(dialect, stmt, params, many)
        return plan


def _driver(conn: Connection) -> Any:
    """The sqlite3 connection under `conn` when a statement may run on it, else None (SQLAlchemy runs it)."""
    if conn._has_events or conn.engine._has_events or conn.dialect._has_events or conn._echo \
            or conn._execution_options:
        return None
    fairy = conn._dbapi_connection
    trans = conn._transaction
    if fairy is None or trans is None or not trans.is_active or conn._nested_transaction is not None:
        return None  # closed or invalidated; SQLAlchemy's autobegin; or its error for a transaction that cannot go on
    return fairy.dbapi_connection


def _prepared(conn: Connection, stmt: Executable, params: Params | None) -> tuple[Any, Plan, tuple] | None:
    """(driver connection, plan, arguments), or None when SQLAlchemy runs this execution."""
    statements = _statements(conn.dialect)
    if statements is None:
        return None
    driver = _driver(conn)
    if driver is None:
        return None
    params = params or {}
    try:
        plan = _plan(statements, conn.dialect, stmt, params, False)
        return None if plan is None else (driver, plan, plan.args(params))
    except Exception:  # noqa: BLE001 - SQLAlchemy's path raises its own error for these parameters
        return None


def _run(conn: Connection, driver: Any, plan: Plan, args: Any, many: bool) -> Any:
    """The driver's cursor after executing; a driver error wrapped as SQLAlchemy wraps it."""
    try:
        return driver.executemany(plan.sql, args) if many else driver.execute(plan.sql, args)
    except BaseException as e:
        if isinstance(e, Exception) and not isinstance(e, conn.dialect.loaded_dbapi.Error):
            raise  # as on SQLAlchemy's path: an error that is not the driver's passes through unwrapped
        conn._handle_dbapi_exception(e, plan.sql, args, None, None)
        raise  # not reached: the handler raises


def _execute(conn: Connection, stmt: Executable, params: Params | None, on_cursor: Any, on_result: Any) -> Any:
    """`on_cursor(cursor, plan)` on the driver path, `on_result(result)` on SQLAlchemy's."""
    ready = _prepared(conn, stmt, params)
    if ready is None:
        return on_result(conn.execute(stmt, params))
    driver, plan, args = ready
    cursor = _run(conn, driver, plan, args, False)
    try:
        return on_cursor(cursor, plan)
    finally:
        cursor.close()


# What each statement kind takes from the driver's cursor, and from SQLAlchemy's result.
_RESULT_ALL, _RESULT_FIRST, _RESULT_ROWCOUNT = methodcaller("all"), methodcaller("first"), attrgetter("rowcount")


def _all_rows(cursor: Any, plan: Plan) -> list[tuple]:
    return plan.convert(cursor.fetchall())


def _first_row(cursor: Any, plan: Plan) -> tuple | None:
    row = cursor.fetchone()
    return None if row is None else plan.convert([row])[0]


def _rowcount(cursor: Any, plan: Plan) -> int:
    return cursor.rowcount


def rows(conn: Connection, stmt: Executable, params: Params | None = None) -> Sequence[Sequence[Any]]:
    """Every row of a SELECT."""
    return _execute(conn, stmt, params, _all_rows, _RESULT_ALL)


def first(conn: Connection, stmt: Executable, params: Params | None = None) -> Sequence[Any] | None:
    """The first row of a SELECT, or None."""
    return _execute(conn, stmt, params, _first_row, _RESULT_FIRST)


def scalar(conn: Connection, stmt: Executable, params: Params | None = None) -> Any:
    """The first column of the first row of a SELECT, or None."""
    row = first(conn, stmt, params)
    return None if row is None else row[0]


def write(conn: Connection, stmt: Executable, params: Params) -> int:
    """An INSERT, UPDATE or DELETE; returns the rows it matched (the driver's rowcount)."""
    return _execute(conn, stmt, params, _rowcount, _RESULT_ROWCOUNT)


def write_many(conn: Connection, stmt: Executable, params: Sequence[Params]) -> None:
    """One statement for each of several parameter sets with the same keys, as `conn.execute(stmt, list)`."""
    if len(params) == 1:  # SQLAlchemy executes a list of one as a single statement
        write(conn, stmt, params[0])
        return
    statements = _statements(conn.dialect) if params else None
    driver = _driver(conn) if statements is not None else None
    plan = None
    if driver is not None:
        try:
            plan = _plan(statements, conn.dialect, stmt, params[0], True)
            args = [plan.args(p) for p in params] if plan is not None else None
        except Exception:  # noqa: BLE001 - SQLAlchemy's path raises its own error for these parameters
            plan = None
    if plan is None:
        conn.execute(stmt, list(params))
        return
    _run(conn, driver, plan, args, True).close()
