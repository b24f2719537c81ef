"""Table contracts: how one DynamoDB table (often a single-table design) becomes warehouse tables.

A contract file is YAML (see ``docs/ingest.md``)::

    version: 1
    sources:
      - table: "*-store"              # glob on the DynamoDB table name (from eventSourceARN)
        unmatched: store_other        # optional: target for items no route matches
        routes:                       # first match wins
          - target: orders
            match: {sk: "ORDER#*"}    # globs on *key* attributes, so REMOVE under KEYS_ONLY routes too
            primary_key: [pk, sk]
            sort_key: [created_at]
            dist_key: user_id
            columns: {created_at: TIMESTAMP, total: DECIMAL(12,2)}

Routes match only on key attributes (``Keys`` of the stream record): every record has them, whatever the
stream view type, so a delete always reaches the table its insert went to. Tables without a contract use
default routing (docs/ingest.md). Pure: reads files, never AWS; routing a record is ``contracts.routing``.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from thermocline.lake.types import STREAM_KINDS, ColumnType, SchemaError
from thermocline.names import SYSTEM_TABLE_PREFIXES, table_identifier

__all__ = [
    "ContractError",
    "Contracts",
    "Route",
    "SourceContract",
    "check_targets",
    "load_contracts",
    "parse_contracts",
]

# The contract files shipped in the package: this folder.
PACKAGED_CONTRACTS = Path(__file__).resolve().parent


class ContractError(ValueError):
    """A contract file is malformed; the message names the file and the offending entry."""


@dataclass(frozen=True)
class Route:
    target: str
    match: tuple[tuple[str, re.Pattern[str]], ...]
    primary_key: tuple[str, ...] = ()
    sort_key: tuple[str, ...] = ()
    dist_key: str | None = None
    columns: Mapping[str, ColumnType] = field(default_factory=dict)
    # Per ``match`` entry: its glob when it is one without ``[...]`` sets (``*`` and ``?`` only), which the C
    # fast path matches itself; None for a regex or a glob with sets (matched by the compiled pattern).
    globs: tuple[str | None, ...] = ()

    def matches(self, keys: Mapping[str, Any]) -> bool:
        for attribute, pattern in self.match:
            value = _key_text(keys.get(attribute))
            if value is None or not pattern.fullmatch(value):
                return False
        return True

    @functools.cached_property
    def matchers(self) -> tuple[tuple[str, Any], ...]:
        """``(attribute, glob text or the pattern's fullmatch)`` per match entry, for the C fast path."""
        globs = self.globs if len(self.globs) == len(self.match) else (None,) * len(self.match)
        return tuple(
            (attribute, glob if glob is not None else pattern.fullmatch)
            for (attribute, pattern), glob in zip(self.match, globs, strict=True)
        )


@dataclass(frozen=True)
class SourceContract:
    table_glob: str
    routes: tuple[Route, ...]
    unmatched: str | None = None
    origin: str = ""

    def route(self, keys: Mapping[str, Any]) -> Route | None:
        for route in self.routes:
            if route.matches(keys):
                return route
        return None

    def never_matching(self, key_names: Collection[str]) -> list[tuple[str, Route, str]]:
        """``(where, route, attribute)`` for each ``match`` attribute not among ``key_names`` (a table's key
        attributes: the names in each of its records' ``Keys``). Such a route never matches that table."""
        return [
            (f"{self.origin}.routes[{j}]", r, attribute)
            for j, r in enumerate(self.routes)
            for attribute, _ in r.match
            if attribute not in key_names
        ]


@dataclass(frozen=True)
class Contracts:
    sources: tuple[SourceContract, ...] = ()

    @property
    def targets(self) -> frozenset[str]:
        """Every warehouse table a contract names (routes and ``unmatched``)."""
        return frozenset(
            name
            for source in self.sources
            for name in (*(r.target for r in source.routes), source.unmatched)
            if name is not None
        )

    def for_table(self, table_name: str) -> SourceContract | None:
        """The first source contract whose glob matches the DynamoDB table name, if any."""
        for source in self.sources:
            if fnmatch.fnmatchcase(table_name, source.table_glob):
                return source
        return None


def _key_text(av: Any) -> str | None:
    """The text a key pattern is matched against: the S/N/B value as it appears in the record."""
    if not isinstance(av, dict) or len(av) != 1:
        return None
    ((_tag, value),) = av.items()
    return value if isinstance(value, str) else None


def _pattern(spec: Any, where: str) -> re.Pattern[str]:
    if isinstance(spec, str):
        return re.compile(fnmatch.translate(spec), re.DOTALL)
    if isinstance(spec, dict) and set(spec) == {"regex"} and isinstance(spec["regex"], str):
        try:
            return re.compile(spec["regex"], re.DOTALL)
        except re.error as exc:
            raise ContractError(f"{where}: bad regex: {exc}") from None
    raise ContractError(f"{where}: a key pattern is a glob string or {{regex: ...}}, got {spec!r}")


def _names(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ContractError(f"{where}: expected an attribute name or a list of them, got {value!r}")


def _target(name: Any, where: str) -> str:
    if not isinstance(name, str) or table_identifier(name) != name:
        raise ContractError(
            f"{where}: target must be a lower-case identifier [a-z0-9_] not named like a system table "
            f"({', '.join(SYSTEM_TABLE_PREFIXES)}...), got {name!r}"
        )
    return name


def _route(spec: Any, where: str) -> Route:
    if not isinstance(spec, dict):
        raise ContractError(f"{where}: a route is a mapping")
    unknown = set(spec) - {"target", "match", "primary_key", "sort_key", "dist_key", "columns"}
    if unknown:
        raise ContractError(f"{where}: unknown keys {sorted(unknown)}")
    target = _target(spec.get("target"), where)
    where = f"{where} (target {target})"
    match = spec.get("match") or {}
    if not isinstance(match, dict):
        raise ContractError(f"{where}: match maps key attributes to patterns")
    declared = spec.get("columns") or {}
    if not isinstance(declared, dict):
        raise ContractError(f"{where}: columns maps attribute names to types")
    columns: dict[str, ColumnType] = {}
    for attribute, type_text in declared.items():
        try:
            columns[str(attribute)] = ColumnType.parse(str(type_text))
        except SchemaError as exc:
            hint = ""
            if isinstance(type_text, str) and type_text.count("(") > type_text.count(")"):
                # YAML's flow mapping {total: DECIMAL(12,2)} splits at the comma: "DECIMAL(12" and a key "2)".
                hint = (
                    f" (in a flow mapping {{...}} a comma ends the value: quote the type, '{type_text},...)')"
                )
            raise ContractError(f"{where}: column {attribute!r}: {exc}{hint}") from None
        if columns[str(attribute)].kind not in STREAM_KINDS:
            raise ContractError(
                f"{where}: column {attribute!r}: {type_text} is not a type DynamoDB values are decoded to "
                f"({', '.join(sorted(STREAM_KINDS))})"
            )
    dist = spec.get("dist_key")
    if dist is not None and not isinstance(dist, str):
        raise ContractError(f"{where}: dist_key is one attribute name")
    primary_key = _names(spec.get("primary_key"), f"{where}.primary_key")
    if "primary_key" in spec and not primary_key:
        raise ContractError(f"{where}: primary_key is empty (leave it out to use the record's Keys)")
    if len(set(primary_key)) != len(primary_key):
        raise ContractError(f"{where}: primary_key names an attribute twice: {list(primary_key)}")
    sort_key = _names(spec.get("sort_key"), f"{where}.sort_key")
    # Redshift keys no SUPER column (https://docs.aws.amazon.com/redshift/latest/dg/limitations-super.html).
    for role, attributes in (("primary_key", primary_key), ("sort_key", sort_key), ("dist_key", (dist,))):
        for attribute in attributes:
            if attribute in columns and columns[attribute].kind == "SUPER":
                raise ContractError(f"{where}: {role} attribute {attribute!r} is declared SUPER")
    return Route(
        target=target,
        match=tuple((str(k), _pattern(v, f"{where}.match.{k}")) for k, v in match.items()),
        globs=tuple(v if isinstance(v, str) and "[" not in v else None for v in match.values()),
        primary_key=primary_key,
        sort_key=sort_key,
        dist_key=dist,
        columns=columns,
    )


def parse_contracts(document: Any, origin: str = "<contracts>") -> Contracts:
    """Validate one parsed YAML document into :class:`Contracts`."""
    contracts = _parse(document, origin)
    check_targets(contracts)
    return contracts


def _parse(document: Any, origin: str) -> Contracts:
    if document is None:
        return Contracts()
    if not isinstance(document, dict) or document.get("version") != 1:
        raise ContractError(f"{origin}: expected a mapping with 'version: 1'")
    unknown = set(document) - {"version", "sources"}
    if unknown:
        raise ContractError(f"{origin}: unknown keys {sorted(unknown)}")
    listed = document.get("sources") or []
    if not isinstance(listed, list):
        raise ContractError(f"{origin}: sources is a list")
    sources = []
    for i, src in enumerate(listed):
        where = f"{origin}: sources[{i}]"
        if not isinstance(src, dict) or not isinstance(src.get("table"), str):
            raise ContractError(f"{where}: needs 'table' (a glob on the DynamoDB table name)")
        where = f"{where} (table {src['table']!r})"
        unknown = set(src) - {"table", "routes", "unmatched"}
        if unknown:
            raise ContractError(f"{where}: unknown keys {sorted(unknown)}")
        routes_spec = src.get("routes") or []
        if not isinstance(routes_spec, list):
            raise ContractError(f"{where}: routes is a list")
        routes = tuple(_route(r, f"{where}.routes[{j}]") for j, r in enumerate(routes_spec))
        unmatched = src.get("unmatched")
        sources.append(
            SourceContract(
                table_glob=src["table"],
                routes=routes,
                unmatched=_target(unmatched, f"{where}.unmatched") if unmatched is not None else None,
                origin=where,
            )
        )
    return Contracts(tuple(sources))


def _shape(route: Route | None) -> tuple[Any, ...]:
    if route is None:  # an `unmatched` target: default keys, nothing declared
        return ((), (), None)
    return (route.primary_key, route.sort_key, route.dist_key)


def check_targets(contracts: Contracts) -> None:
    """Routes that meet in one warehouse table must describe it alike, or rows would be lost.

    A table reached by more than one route (in one source or several, in one file or several) must be
    given the same ``primary_key`` by each, explicitly: with default keys, two sources' records could hold
    different key attributes and merge on NULL keys. Their sort and distribution keys must agree, and an
    attribute declared by two of them must be declared with the same type.
    """
    seen: dict[str, tuple[str, Route | None]] = {}
    for source in contracts.sources:
        entries: list[tuple[str, Route | None]] = [
            (f"{source.origin}.routes[{j}]", r) for j, r in enumerate(source.routes)
        ]
        if source.unmatched is not None:
            entries.append((f"{source.origin}.unmatched", None))
        for where, route in entries:
            target = route.target if route is not None else source.unmatched
            assert target is not None
            first = seen.get(target)
            if first is None:
                seen[target] = (where, route)
                continue
            first_where, first_route = first
            both = f"target {target!r} is reached by two routes ({first_where} and {where})"
            if route is None or first_route is None or not route.primary_key or not first_route.primary_key:
                raise ContractError(f"{where}: {both}; each must declare the same primary_key")
            if _shape(route) != _shape(first_route):
                raise ContractError(
                    f"{where}: {both} with different primary_key, sort_key or dist_key: "
                    f"{list(first_route.primary_key)} vs {list(route.primary_key)}"
                )
            for attribute, type_ in route.columns.items():
                other = first_route.columns.get(attribute)
                if other is not None and other != type_:
                    raise ContractError(
                        f"{where}: {both} declaring column {attribute!r} as {other.sql} and {type_.sql}"
                    )


def load_contracts(path: str | Path | None = None) -> Contracts:
    """Load contracts from a YAML file or a directory of them (``*.yaml``/``*.yml``, in name order).

    ``None`` loads the contracts shipped in the package (``thermocline/contracts/``).
    """
    root = PACKAGED_CONTRACTS if path is None else Path(path)
    if root.is_dir():
        files = sorted([*root.glob("*.yaml"), *root.glob("*.yml")])
    elif root.is_file():
        files = [root]
    else:
        raise ContractError(f"{root}: no such contracts file or directory")
    sources: list[SourceContract] = []
    for file in files:
        try:
            document = yaml.safe_load(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ContractError(f"{file}: cannot read: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ContractError(f"{file}: not UTF-8 text") from None
        except yaml.YAMLError as exc:
            raise ContractError(_yaml_error(file, exc)) from None
        sources.extend(_parse(document, str(file)).sources)
    contracts = Contracts(tuple(sources))
    check_targets(contracts)
    return contracts


def _yaml_error(file: Path, exc: yaml.YAMLError) -> str:
    """One line: ``file:line:column: not valid YAML: problem``."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(file)
    problem = getattr(exc, "problem", None) or str(exc)
    return f"{where}: not valid YAML: {' '.join(str(problem).split())}"
