"""Read queries whose SQL is compiled once and run again as it is.

Django builds a queryset's conditions and compiles its SQL on every evaluation: for a
worklist query, more CPU than the database takes to run it. A modality asks the same
query (its station, today) every few minutes, so the statement, its parameters and
the converters of its columns are kept here, keyed by everything they are made of
(`freeze`: the conditions with every value and its type, the stations, the columns,
the current time zone, the database). Only the statement is kept, never data: the rows
are read afresh every time, so a change committed before the query is in its answer.

Conditions that cannot be frozen exactly (a subquery, an expression not listed in
`freeze`) are compiled every time, as Django does.
"""

from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import Enum
from threading import Lock

from django.db import connections
from django.db.models import F, Q, QuerySet
from django.db.models.functions import TruncTime
from django.db.models.lookups import Lookup
from django.utils import timezone

MAX_STATEMENTS = 512  # per process; a station's query is a few hundred bytes of SQL


class Uncacheable(Exception):
    """A part of the query that `freeze` cannot tell apart from every other."""


_PLAIN = (str, int, float, bool, date, time, timedelta, type(None))


def freeze(node) -> tuple:
    """A key equal for two conditions only when they compile to the same SQL with the
    same parameters: each value with its exact type (1 is not True, a date is not a
    datetime, two datetimes of one instant in two zones differ)."""
    if isinstance(node, Q):
        return ("Q", node.connector, node.negated, tuple(freeze(c) for c in node.children))
    if isinstance(node, tuple) and len(node) == 2 and isinstance(node[0], str):
        return ("=", node[0], freeze_value(node[1]))
    if isinstance(node, Lookup) and not isinstance(node.rhs, (Q, QuerySet)):
        return ("L", type(node), freeze(node.lhs), freeze_value(node.rhs))
    if type(node) is TruncTime:
        (source,) = node.get_source_expressions()
        return ("TruncTime", freeze(source), node.tzinfo and str(node.tzinfo))
    if type(node) is F:
        return ("F", node.name)
    raise Uncacheable(type(node).__name__)


def freeze_value(value) -> tuple:
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(freeze_value(v) for v in value))
    if isinstance(value, datetime):
        return (datetime, value.isoformat(), str(value.tzinfo))
    if isinstance(value, Enum):
        return (type(value), value.value)
    if isinstance(value, _PLAIN):
        return (type(value), value)
    if isinstance(value, F):
        return freeze(value)
    raise Uncacheable(type(value).__name__)


@dataclass(frozen=True)
class Statement:
    """A compiled SELECT: its SQL, its parameters, and per column position the
    converters Django applies to what the database returns (with the expression they
    are given)."""

    sql: str
    params: tuple
    converters: tuple

    @classmethod
    def compile(cls, queryset: QuerySet) -> "Statement":
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        columns = [selected[0] for selected in compiler.select[0 : compiler.col_count]]
        if compiler.has_composite_fields(columns):
            raise Uncacheable("composite field")
        converters = tuple(
            (position, tuple(functions), expression)
            for position, (functions, expression) in compiler.get_converters(columns).items()
        )
        return cls(sql, tuple(params), converters)

    def rows(self, using: str) -> list[tuple]:
        """The rows as values_list() gives them, read now."""
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, self.params)
            fetched = cursor.fetchall()
        if not self.converters:
            return [tuple(row) for row in fetched]
        return [self._convert(list(row), connection) for row in fetched]

    def _convert(self, row: list, connection) -> tuple:
        for position, functions, expression in self.converters:
            value = row[position]
            for function in functions:
                value = function(value, expression, connection)
            row[position] = value
        return tuple(row)


class Statements:
    """The statements kept by one process, least recently used dropped first."""

    def __init__(self, size: int = MAX_STATEMENTS):
        self.size = size
        self._kept: OrderedDict[tuple, Statement] = OrderedDict()
        self._lock = Lock()

    def rows(self, key: tuple, build, using: str = "default") -> list[tuple]:
        """The rows of the values_list() queryset `build()` returns, which `key`
        determines wholly (built with `freeze`). `build` is called only to compile."""
        key = (using, connections[using].vendor, timezone.get_current_timezone_name(), key)
        with self._lock:
            statement = self._kept.get(key)
            if statement is not None:
                self._kept.move_to_end(key)
        if statement is None:
            statement = Statement.compile(build())
            with self._lock:
                self._kept[key] = statement
                while len(self._kept) > self.size:
                    self._kept.popitem(last=False)
        return statement.rows(using)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()

    def __len__(self) -> int:
        return len(self._kept)


STATEMENTS = Statements()
