"""Routing: which warehouse table a source record goes to, under which route, and who owns that table.

A contract routes by the record's key attributes, first matching route wins, else its ``unmatched`` target;
a route matching on another attribute never matches, which the router notes (``dead_routes``) when a source
table's first record shows the table's key attributes. Default routing (no contract, or no route and no
``unmatched``): one warehouse table per source table, ``table_identifier(name)``. Distinct source tables
never share a warehouse table unless a contract routes them there: a default name already owned by another
source (``my-table``, ``my.table`` and ``My_Table`` all make ``my_table``), or named by a contract, takes
``_2``, ``_3``... Who owns a table is recorded in its schema (``TableSchema.source``), so every function and
every replay that reads the schemas decides the same. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from thermocline.contracts.model import Contracts, Route, SourceContract
from thermocline.lake.table_schema import TableSchema
from thermocline.names import Taken, table_identifier, unique_identifier

__all__ = ["CONTRACT_OWNER", "DeadRoute", "Router"]

# The owner recorded for a table a contract routes to.
CONTRACT_OWNER = "contract"

Routed = tuple[str, Route | None, str]  # (target table, route, owner)


class DeadRoute(NamedTuple):
    """A contract route that can never match a source table: it matches on an attribute that is not one
    of the table's key attributes (only those are matched), so the table's items go to a later route."""

    source_table: str
    contract: str  # where the route is: its file, source entry and route index
    table_glob: str
    target: str
    attribute: str
    key_attributes: tuple[str, ...]


class Router:
    """Routes records of any number of source tables, given the recorded schemas (their owners).

    One cache: per source table, either its fixed routing (default routing: one target for every record)
    or the contract that decides per record.
    """

    def __init__(
        self, contracts: Contracts | None = None, schemas: Mapping[str, TableSchema] | None = None
    ) -> None:
        self._contracts = contracts or Contracts()
        self._by_source: dict[str, Routed | SourceContract] = {}
        self._reserved = self._contracts.targets
        # Who owns each warehouse table: recorded ones, then those this router hands out.
        self.owners: dict[str, str] = {
            table: schema.source for table, schema in (schemas or {}).items() if schema.source
        }
        self._defaults: dict[str, str] = {}
        # Found when a source table's first record is routed: its Keys name the table's key attributes.
        self.dead_routes: list[DeadRoute] = []

    def route(self, source_table: str, keys: Mapping[str, Any]) -> Routed:
        """``(target table, route, owner)`` of a record of ``source_table`` with key attributes ``keys``."""
        entry = self._by_source.get(source_table)
        if entry is None:
            contract = self._contracts.for_table(source_table)
            entry = self._fallback(source_table) if contract is None else contract
            self._by_source[source_table] = entry
            if contract is not None:
                names = tuple(sorted(keys))
                self.dead_routes += [
                    DeadRoute(source_table, where, contract.table_glob, r.target, attribute, names)
                    for where, r, attribute in contract.never_matching(keys)
                ]
        if type(entry) is tuple:
            return entry
        contract = entry  # type: ignore[assignment]
        route = contract.route(keys)  # type: ignore[union-attr]
        if route is not None:
            return route.target, route, CONTRACT_OWNER
        if contract.unmatched:  # type: ignore[union-attr]
            return contract.unmatched, None, CONTRACT_OWNER  # type: ignore[union-attr]
        return self._fallback(source_table)

    def fast_entry(self, source_table: str) -> tuple[str | None, Any, str | None] | None:
        """How ``source_table``'s records route, for the C fast path: ``(target, None, None)`` under fixed
        routing, or ``(None, ((target, route matchers), ...), fallback)`` under a contract, the fallback
        (``unmatched`` or the default table) None until a record needed it. None before its first record
        was routed here (nothing is decided ahead of :meth:`route`, which names tables)."""
        entry = self._by_source.get(source_table)
        if entry is None:
            return None
        if type(entry) is tuple:
            return entry[0], None, None
        contract: SourceContract = entry  # type: ignore[assignment]
        routes = tuple((route.target, route.matchers) for route in contract.routes)
        return None, routes, contract.unmatched or self._defaults.get(source_table)

    def _fallback(self, source_table: str) -> Routed:
        """Default routing of ``source_table``: its own table, named once and remembered as owned."""
        owner = "dynamodb:" + source_table
        name = self._defaults.get(source_table)
        if name is None:
            name = unique_identifier(
                table_identifier(source_table),
                Taken(lambda t: t in self._reserved or self.owners.get(t, owner) != owner),
            )
            self.owners[name] = owner
            self._defaults[source_table] = name
        return name, None, owner
