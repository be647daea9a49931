"""A hot read by one unique value whose SQL Django compiles once per process, not on every request.

Building the SQL of a wide select_related() read costs more Python time than the database spends running
it: the OAuth callback's attempt read over five tables takes ~0.5 ms to compile and ~0.15 ms to run as a
prepared statement. Django compiles the queryset the first time, with a placeholder where the value goes;
every later read runs that SQL with the value in the placeholder's place and builds the objects with
Django's own converters and select_related populators, as `QuerySet.get()` would.

These are Django internals (the compiler's select list and klass_info, `get_related_populators`): the
project pins Django to one minor version, and tests/core/test_compiled_reads.py compares every read with
the plain ORM read on both databases.
"""

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connections, models
from django.db.models.query import get_related_populators
from django.db.transaction import TransactionManagementError

# Compiled in the value's place, then swapped for the value; never sent to the database.
PLACEHOLDER = "compiled-read-placeholder-7f3c2a"


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    slot: int  # where the value goes in params
    select: list[Any]
    klass_info: dict[str, Any]
    converters: dict[int, tuple[list[Any], Any]]
    fetch_mode: Any
    locks: bool


class CompiledRead[M: models.Model]:
    """`read.get(value)` is `queryset(value).get()`, where `queryset` filters on one unique column.

    The queryset must have no annotations, and its value must reach the SQL as one parameter. A locking
    read (select_for_update) is refused outside a transaction on every read, as Django refuses it.
    """

    def __init__(self, model: type[M], queryset: Callable[[str], models.QuerySet[M]]):
        self.model = model
        self._queryset = queryset
        self._template: models.QuerySet[M] | None = None  # the queryset around the placeholder
        self._compiled: dict[tuple[str, str], _Compiled] = {}

    def get(self, value: str) -> M:
        if self._template is None:
            self._template = self._queryset(PLACEHOLDER).order_by()
        alias = self._template.db  # the router's choice, for writing when the read locks
        connection = connections[alias]
        key = (alias, connection.vendor)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = self._compile(self._template, alias)
        if compiled.locks and connection.get_autocommit() and connection.features.supports_transactions:
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        params = list(compiled.params)
        params[compiled.slot] = value
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        # Every concrete model has its own DoesNotExist/MultipleObjectsReturned; the stubs give them only
        # to named model classes, not to a type variable bound to Model.
        if not rows:
            message = f"{self.model._meta.object_name} matching query does not exist."
            raise self.model.DoesNotExist(message)  # type: ignore[attr-defined]
        if len(rows) > 1:
            message = f"get() returned more than one {self.model._meta.object_name}."
            raise self.model.MultipleObjectsReturned(message)  # type: ignore[attr-defined]
        return self._instance(alias, compiled, self._converted(connection, compiled, rows[0]))

    @staticmethod
    def _compile(queryset: models.QuerySet[M], alias: str) -> _Compiled:
        locks = queryset.query.select_for_update and connections[alias].features.has_select_for_update
        if not locks:
            queryset = queryset[:2]
        query = queryset.query
        if query.annotations:
            raise ValueError("CompiledRead takes a plain read, without annotations.")
        compiler = query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        slots = [index for index, param in enumerate(params) if param == PLACEHOLDER]
        if len(slots) != 1:
            raise ValueError(f"The value must be one parameter of the compiled SQL, not {len(slots)}.")
        select = compiler.select
        return _Compiled(
            sql=sql,
            params=tuple(params),
            slot=slots[0],
            select=select,
            klass_info=compiler.klass_info,
            converters=compiler.get_converters([column[0] for column in select[: compiler.col_count]]),
            fetch_mode=queryset._fetch_mode,  # type: ignore[attr-defined]  # private in Django, not in the stubs
            locks=locks,
        )

    @staticmethod
    def _converted(connection: Any, compiled: _Compiled, row: tuple[Any, ...]) -> list[Any]:
        values = list(row)
        for position, (converters, expression) in compiled.converters.items():
            value = values[position]
            for converter in converters:
                value = converter(value, expression, connection)
            values[position] = value
        return values

    def _instance(self, alias: str, compiled: _Compiled, row: list[Any]) -> M:
        klass_info, select = compiled.klass_info, compiled.select
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        names = [column[0].target.attname for column in select[start:end]]
        instance = klass_info["model"].from_db(alias, names, row[start:end], fetch_mode=compiled.fetch_mode)
        if compiled.fetch_mode.track_peers:
            instance._state.peers = [weakref.ref(instance)]
        for populator in get_related_populators(klass_info, select, alias, compiled.fetch_mode):
            populator.populate(row, instance)
        return instance
