"""SQL building blocks that mean the same on SQLite and PostgreSQL: epoch seconds, floor, quantiles.

Everything the DORA queries need beyond portable Core: time arithmetic (SQLite has julianday(),
PostgreSQL EXTRACT(EPOCH ...)) and medians (PostgreSQL has percentile_cont; SQLite gets the same
linear interpolation from ROW_NUMBER/COUNT window functions). Rows never travel to Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Float, Integer, Select, case, cast, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import Subquery


class epoch(FunctionElement[float]):
    """Seconds since 1970-01-01 UTC of a UTCDateTime column, as a float."""

    type = Float()
    name = "epoch"
    inherit_cache = True


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    # julianday() of 1970-01-01 is 2440587.5; the stored text is naive UTC (see UTCDateTime).
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(epoch, "postgresql")
def _epoch_postgresql(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return f"EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})"


class floor_int(FunctionElement[int]):
    """floor(x) as an integer, for x >= 0 (bucket numbers)."""

    type = Integer()
    name = "floor_int"
    inherit_cache = True


@compiles(floor_int, "sqlite")
def _floor_sqlite(element: floor_int, compiler: SQLCompiler, **kw: Any) -> str:
    # CAST truncates toward zero, which is floor for the non-negative values we bucket.
    return f"CAST({compiler.process(element.clauses, **kw)} AS INTEGER)"


@compiles(floor_int, "postgresql")
def _floor_postgresql(element: floor_int, compiler: SQLCompiler, **kw: Any) -> str:
    # PostgreSQL's CAST rounds, so floor first.
    return f"CAST(FLOOR({compiler.process(element.clauses, **kw)}) AS BIGINT)"


class plus_days(FunctionElement[Any]):
    """plus_days(ts, n): the UTCDateTime `ts` plus n whole days of 86400 s, in the column's own storage
    form, so that it can bound an index range on a UTCDateTime column."""

    name = "plus_days"
    inherit_cache = True


@compiles(plus_days, "sqlite")
def _plus_days_sqlite(element: plus_days, compiler: SQLCompiler, **kw: Any) -> str:
    # Stored text is 'YYYY-MM-DD HH:MM:SS.ffffff': shift the whole seconds (SQLite date functions keep
    # only milliseconds) and put the microseconds back as they were.
    ts, n = (compiler.process(c, **kw) for c in element.clauses)
    shifted = f"strftime('%Y-%m-%d %H:%M:%S', substr({ts}, 1, 19), '+' || (({n}) * 86400) || ' seconds')"
    return f"({shifted} || substr({ts}, 20))"


@compiles(plus_days, "postgresql")
def _plus_days_postgresql(element: plus_days, compiler: SQLCompiler, **kw: Any) -> str:
    # Seconds, not '1 day': a day interval follows the session time zone's DST changes.
    ts, n = (compiler.process(c, **kw) for c in element.clauses)
    return f"({ts} + ({n}) * INTERVAL '86400 seconds')"


class unindexed(FunctionElement[Any]):
    """The column's value, but not usable for an index lookup on SQLite (its documented unary `+`), so
    that its planner picks the index that returns the rows in the wanted order instead of sorting."""

    name = "unindexed"
    inherit_cache = True

    def __init__(self, column: ColumnElement[Any]) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return f"+{compiler.process(element.clauses, **kw)}"


@compiles(unindexed, "postgresql")
def _unindexed_postgresql(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


def seconds_between(start: ColumnElement[Any], end: ColumnElement[Any]) -> ColumnElement[float]:
    return epoch(end) - epoch(start)


def grouped_quantiles(
    source: Subquery, group: str, value: str, quantiles: Sequence[float], dialect: str
) -> Select[Any]:
    """SELECT group, n, q0, q1, ... : per group, the row count and each quantile of `value`, with
    percentile_cont's linear interpolation (the median of 1, 2, 3, 10 is 2.5)."""
    g, v = source.c[group], source.c[value]
    if dialect == "postgresql":
        columns = [func.percentile_cont(q).within_group(v).label(f"q{i}") for i, q in enumerate(quantiles)]
        return select(g, func.count().label("n"), *columns).where(v.is_not(None)).group_by(g)
    ranked = (
        select(
            g.label("g"),
            v.label("v"),
            func.row_number().over(partition_by=g, order_by=v).label("rn"),
            # The same window (with a whole-partition frame) as ROW_NUMBER: one sort serves both.
            func.count().over(partition_by=g, order_by=v, rows=(None, None)).label("n"),
        )
        .where(v.is_not(None))
        .subquery("ranked")
    )
    rn, n, val = ranked.c.rn, ranked.c.n, ranked.c.v
    columns = []
    needed = []  # only the rows at the interpolation points reach the GROUP BY (and its sort)
    for i, q in enumerate(quantiles):
        # 1-based position 1 + q*(n-1); interpolate between the rows at floor(pos) and floor(pos)+1.
        pos = 1 + q * (n - 1)
        lo = cast(pos, Integer)
        lo_value = func.max(case((rn == lo, val)))
        hi_value = func.coalesce(func.max(case((rn == lo + 1, val))), lo_value)
        frac = func.max(pos - lo)
        columns.append((lo_value + (hi_value - lo_value) * frac).label(f"q{i}"))
        needed += [rn == lo, rn == lo + 1]
    return (
        select(ranked.c.g.label(group), func.max(n).label("n"), *columns)
        .where(or_(*needed))
        .group_by(ranked.c.g)
    )


def indexed_quantiles(
    conn: Connection,
    value: ColumnElement[Any],
    where: Sequence[ColumnElement[bool]],
    quantiles: Sequence[float],
) -> tuple[int, list[float | None]]:
    """(n, [q0, q1, ...]) of `value` over the rows matching `where`, with percentile_cont's
    interpolation, without sorting: an index that starts with the equality columns of `where` and then
    `value` hands the rows over in order, so each quantile is two rows read at an OFFSET (on SQLite, wrap
    the other filter columns in `unindexed` so that the planner does not pick an index on them)."""

    def matching(*columns: ColumnElement[Any]) -> Select[Any]:
        return select(*columns).select_from(value.table).where(*where)

    n = int(conn.execute(matching(func.count())).scalar_one())
    out: list[float | None] = []
    for q in quantiles:
        if n == 0:
            out.append(None)
            continue
        pos = q * (n - 1)  # 0-based position; interpolate between rows floor(pos) and floor(pos) + 1
        lo = int(pos)
        k = 2 if pos > lo else 1
        # Upper quantiles are read from the top of the index: the OFFSET skips the fewest entries.
        if lo > (n - 1) / 2:
            ordered, offset = value.desc(), n - lo - k
        else:
            ordered, offset = value.asc(), lo
        pair = matching(value.label("v")).order_by(ordered).limit(k).offset(offset).subquery("pair")
        low, high = conn.execute(select(func.min(pair.c.v), func.max(pair.c.v))).one()
        out.append(float(low) + (float(high) - float(low)) * (pos - lo))
    return n, out
