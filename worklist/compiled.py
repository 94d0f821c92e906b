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

A `Template` is the same for queries asked with different values each time (a step by
its ID, the orders of a performed step): compiled once per database, time zone and
shape of its values with placeholders, then run with each call's values put in the
placeholders' parameters. A `Graph` makes model instances of its rows, linked as
select_related() links them.
"""

from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import Enum
from threading import Lock

from django.core.exceptions import EmptyResultSet
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

    def rows(self, using: str, params: tuple | list | None = None) -> list[tuple]:
        """The rows as values_list() gives them, read now (with `params` in place of
        the compiled parameters, for a Template)."""
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, self.params if params is None else params)
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


# --- compiled once, run with other values ---------------------------------------------

_TEXT_SLOT = "\x00ris-slot-{}\x00"
_INT_SLOT = -(2**62)  # far from any key; -(2**62) - n is the n-th placeholder
_SLOT_MARK = "\x00ris-slot-"
_TEMPLATE_SHAPES = 64  # shapes kept per template (a list's length makes a shape)


def _shape(value) -> tuple:
    """What a value's placeholder is made of: its type, and a list's length and
    element type. Only text and int (not bool) pass to a parameter unchanged."""
    if isinstance(value, (list, tuple)):
        kinds = {_shape(v) for v in value}
        if len(kinds) > 1:
            raise Uncacheable("a list of mixed types")
        return (list, len(value), *kinds)
    if isinstance(value, str):  # a str subclass too (pydicom's UID), passed as text
        return (str,)
    if type(value) is not int:
        raise Uncacheable(type(value).__name__)
    return (int,)


def _placeholders(shapes: tuple) -> tuple[list, list]:
    """Values for `build` of these shapes, and the flat list of them in order."""
    flat: list = []

    def one(kind):
        made = _TEXT_SLOT.format(len(flat)) if kind is str else _INT_SLOT - len(flat)
        flat.append(made)
        return made

    values = [
        [one(shape[2]) for _ in range(shape[1])] if shape[0] is list else one(shape[0])
        for shape in shapes
    ]
    return values, flat


def _flat(values) -> list:
    return [
        item
        for value in values
        for item in (value if isinstance(value, (list, tuple)) else [value])
    ]


class Template:
    """A values_list() read compiled once for the values of every call.

    `build(*values)` returns the queryset. It is compiled with placeholders of the
    values' types (a text no value holds, a negative integer no key reaches), and
    each must come out as a parameter of its own, unchanged and of its type: then a
    value of that type passes to that parameter unchanged as well (the columns read
    this way are text and integer keys, whose preparation is the identity). A query
    where a placeholder does not (folded into a pattern, converted, inlined) or a
    value of another type is built and compiled every time, as Django does.
    """

    def __init__(self, build):
        self.build = build
        self._kept: dict[tuple, tuple[Statement, tuple] | None] = {}
        self._lock = Lock()

    def rows(self, *values, using: str = "default") -> list[tuple]:
        try:
            shapes = tuple(_shape(value) for value in values)
        except Uncacheable:
            return list(self.build(*values))
        key = (using, connections[using].vendor, timezone.get_current_timezone_name(), shapes)
        if key not in self._kept:
            kept = self._compile(shapes)
            with self._lock:
                if len(self._kept) >= _TEMPLATE_SHAPES:
                    self._kept.clear()
                self._kept[key] = kept
        kept = self._kept.get(key)
        if kept is None:
            return list(self.build(*values))
        statement, slots = kept
        params = list(statement.params)
        flat = _flat(values)
        for position, index in slots:
            params[position] = flat[index]
        return statement.rows(using, params)

    def _compile(self, shapes: tuple) -> tuple[Statement, tuple] | None:
        """The statement and, per parameter holding a placeholder, which value goes
        there; None when the query cannot be run that way."""
        if any(shape[0] is list and shape[1] == 0 for shape in shapes):
            return None  # an empty list: Django answers without a query
        values, flat = _placeholders(shapes)
        try:
            statement = Statement.compile(self.build(*values))
        except (Uncacheable, EmptyResultSet):
            return None
        where = {(type(made), made): index for index, made in enumerate(flat)}
        slots, found = [], set()
        for position, param in enumerate(statement.params):
            index = where.get((type(param), param))
            if index is not None:
                slots.append((position, index))
                found.add(index)
            elif isinstance(param, str) and _SLOT_MARK in param:
                return None  # a placeholder folded into another parameter
        texts = [made for made in flat if isinstance(made, str)]
        numbers = [str(made) for made in flat if isinstance(made, int)]
        if len(found) != len(flat) or any(made in statement.sql for made in texts + numbers):
            return None
        return statement, tuple(slots)


@dataclass(frozen=True)
class Node:
    path: str  # "" for the model read, "a__b" for one reached by foreign keys
    model: type
    attnames: tuple[str, ...]  # the primary key first
    field: object | None  # the foreign key leading here from the parent


class Graph:
    """Model instances from the columns of a read, as select_related() and only()
    make them: `spec` gives, per relation path from `model` ("" for the model
    itself), the attnames read, the primary key first."""

    def __init__(self, model, spec: dict[str, tuple[str, ...]]):
        nodes = []
        for path, attnames in spec.items():
            current, field = model, None
            for name in path.split("__") if path else ():
                field = current._meta.get_field(name)
                current = field.related_model
            if attnames[0] != current._meta.pk.attname:
                raise ValueError(f"{path or model.__name__}: the primary key comes first")
            nodes.append(Node(path, current, tuple(attnames), field))
        self.nodes = tuple(nodes)

    def columns(self) -> tuple[str, ...]:
        """The values_list() lookups of the read, in the order instances() takes."""
        return tuple(
            f"{node.path}__{name}" if node.path else name
            for node in self.nodes
            for name in node.attnames
        )

    def instances(self, row: tuple, using: str = "default"):
        """The model instance of one row, its related instances set on it."""
        made: dict[str, object] = {}
        start = 0
        for node in self.nodes:
            values = row[start : start + len(node.attnames)]
            start += len(node.attnames)
            instance = (
                None if values[0] is None else node.model.from_db(using, node.attnames, values)
            )
            made[node.path] = instance
            if node.path:
                parent = made[node.path.rpartition("__")[0]]
                if parent is not None:
                    node.field.set_cached_value(parent, instance)
        return made[""]
