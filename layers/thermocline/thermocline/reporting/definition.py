"""Report definitions: one YAML file per report in ``thermocline/reports/``, checked when loaded.

``docs/reports.md`` is the format's full reference. A definition names its SQL (Redshift dialect, values
as ``:name`` placeholders), its parameters with types and defaults, every result column with its type,
unit and format, and its charts. Every mistake a definition can hold (an unknown key, a chart of a column
that is not in the result, a placeholder without a parameter) is found here, when it is loaded, not when
its schedule fires.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Any

import yaml

from thermocline.reporting.values import ColumnType, ValueTypeError, coerce

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
RUN_DATE = "run_date"
PARAMETER_KINDS = ("integer", "decimal", "date", "text", "boolean")
CHART_TYPES = ("line", "bar", "hbar")
_SCHEDULE = re.compile(r"^(cron\([^()]+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\))$")
_TOP_KEYS = {
    "title",
    "description",
    "schedule",
    "parameters",
    "columns",
    "charts",
    "table_rows",
    "optional_tables",
    "sql",
    "fallback_sql",
}
# Quoted text and comments cannot hold a placeholder; ``x::int`` is a cast, not one.
_NOT_CODE = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.S)
_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class ReportError(Exception):
    """Base of what a report run reports to its caller as one line."""


class ReportDefinitionError(ReportError):
    """A shipped definition is malformed (a bug in the package, found by its tests)."""


class ReportInputError(ReportError):
    """The request is wrong: an unknown report, a missing or malformed parameter."""


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str
    default: Any = None
    required: bool = False
    minimum: Any = None
    maximum: Any = None
    choices: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    label: str
    unit: str = ""
    format: str | None = None

    @property
    def heading(self) -> str:
        return f"{self.label} ({self.unit})" if self.unit else self.label


@dataclass(frozen=True)
class Chart:
    type: str
    x: str
    y: str
    series: str | None = None
    title: str | None = None
    x_title: str | None = None
    y_title: str | None = None


@dataclass(frozen=True)
class ReportDefinition:
    name: str
    title: str
    description: str
    schedule: str
    sql: str
    columns: tuple[Column, ...]
    parameters: tuple[Parameter, ...] = ()
    charts: tuple[Chart, ...] = ()
    table_rows: int = 500
    optional_tables: tuple[str, ...] = ()
    fallback_sql: str | None = None

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def placeholders(sql: str) -> list[str]:
    """The ``:name`` placeholders of ``sql`` in first-use order (no SQL parser needed inside Lambda)."""
    names: list[str] = []
    for name in _PLACEHOLDER.findall(_NOT_CODE.sub(" ", sql)):
        if name not in names:
            names.append(name)
    return names


def _folder() -> Any:
    return resources.files("thermocline") / "reports"


def available_reports() -> list[str]:
    return sorted(p.name[: -len(".yaml")] for p in _folder().iterdir() if p.name.endswith(".yaml"))


def load_report(name: str) -> ReportDefinition:
    """A shipped report by name; the name is checked before it touches a path."""
    if not isinstance(name, str) or not NAME.match(name):
        raise ReportInputError(f"invalid report name {name!r}: lower-case letters, digits and _")
    path = _folder() / f"{name}.yaml"
    if not path.is_file():
        raise ReportInputError(f"no report named {name!r} (reports: {', '.join(available_reports())})")
    return parse_report(name, path.read_text(encoding="utf-8"))


def parse_report(name: str, text: str) -> ReportDefinition:
    def fail(problem: str) -> ReportDefinitionError:
        return ReportDefinitionError(f"report {name}: {problem}")

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise fail(f"not YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise fail("a definition is a YAML mapping")
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise fail(f"unknown keys {unknown} (known: {sorted(_TOP_KEYS)})")
    for key in ("title", "description", "schedule", "sql", "columns"):
        if not doc.get(key):
            raise fail(f"{key} is required")
    if not _SCHEDULE.match(str(doc["schedule"]).strip()):
        raise fail(f"schedule {doc['schedule']!r} is not an EventBridge cron(...) or rate(...) expression")
    columns = tuple(_column(fail, n, spec) for n, spec in _mapping(fail, doc, "columns").items())
    parameters = tuple(_parameter(fail, n, spec) for n, spec in _mapping(fail, doc, "parameters").items())
    by_name = {c.name: c for c in columns}
    charts = tuple(_chart(fail, i, spec, by_name) for i, spec in enumerate(doc.get("charts") or []))
    optional = tuple(str(t) for t in doc.get("optional_tables") or ())
    fallback = doc.get("fallback_sql")
    if bool(optional) != bool(fallback):
        raise fail("optional_tables and fallback_sql go together")
    table_rows = doc.get("table_rows", 500)
    if not isinstance(table_rows, int) or isinstance(table_rows, bool) or not 1 <= table_rows <= 10000:
        raise fail("table_rows is a whole number from 1 to 10000")
    known = {p.name for p in parameters} | {RUN_DATE}
    for sql in filter(None, (doc["sql"], fallback)):
        used = placeholders(sql)
        undeclared = [n for n in used if n not in known]
        if undeclared:
            raise fail(f"the SQL uses :{undeclared[0]}, which is not a parameter")
    unused = [p.name for p in parameters if p.name not in placeholders(doc["sql"])]
    if unused:
        raise fail(f"parameter {unused[0]} is not used by the SQL")
    return ReportDefinition(
        name=name,
        title=str(doc["title"]).strip(),
        description=" ".join(str(doc["description"]).split()),
        schedule=str(doc["schedule"]).strip(),
        sql=str(doc["sql"]).strip().rstrip(";"),
        columns=columns,
        parameters=parameters,
        charts=charts,
        table_rows=table_rows,
        optional_tables=optional,
        fallback_sql=str(fallback).strip().rstrip(";") if fallback else None,
    )


def _mapping(fail: Any, doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key) or {}
    if not isinstance(value, dict):
        raise fail(f"{key} is a mapping of names to their settings")
    for name, spec in value.items():
        if not isinstance(name, str) or not NAME.match(name):
            raise fail(f"{key}: {name!r} is not a lower-case name")
        if not isinstance(spec, dict):
            raise fail(f"{key}.{name} is a mapping")
    return value


def _only(fail: Any, where: str, spec: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise fail(f"{where}: unknown keys {unknown} (known: {sorted(allowed)})")


def _column(fail: Any, name: str, spec: dict[str, Any]) -> Column:
    _only(fail, f"columns.{name}", spec, {"type", "label", "unit", "format"})
    try:
        ctype = ColumnType.parse(spec.get("type", ""))
    except ValueError as exc:
        raise fail(f"columns.{name}: {exc}") from None
    column = Column(
        name=name,
        type=ctype,
        label=str(spec.get("label") or name.replace("_", " ").capitalize()),
        unit=str(spec.get("unit") or ""),
        format=str(spec["format"]) if spec.get("format") else None,
    )
    if column.format:
        sample = {"integer": 1234, "decimal": Decimal("1234.5"), "float": 1234.5}.get(ctype.kind)
        try:
            if ctype.kind in ("date", "timestamp"):
                dt.datetime(2026, 1, 2).strftime(column.format)
            elif sample is not None:
                format(sample, column.format)
            else:
                raise ValueError("only numbers, dates and timestamps take a format")
        except ValueError as exc:
            raise fail(f"columns.{name}: format {column.format!r}: {exc}") from None
    return column


def _parameter(fail: Any, name: str, spec: dict[str, Any]) -> Parameter:
    where = f"parameters.{name}"
    _only(fail, where, spec, {"type", "default", "min", "max", "choices", "description"})
    if name == RUN_DATE:
        raise fail(f"{where}: {RUN_DATE} is given to every report; do not declare it")
    kind = spec.get("type")
    if kind not in PARAMETER_KINDS:
        raise fail(f"{where}: type is one of {', '.join(PARAMETER_KINDS)}")
    probe = Parameter(name, kind)
    try:
        minimum = _value(probe, spec["min"]) if "min" in spec else None
        maximum = _value(probe, spec["max"]) if "max" in spec else None
        choices = tuple(str(c) for c in spec.get("choices") or ())
        parameter = Parameter(
            name,
            kind,
            required="default" not in spec,
            minimum=minimum,
            maximum=maximum,
            choices=choices,
            description=str(spec.get("description") or ""),
        )
        if "default" in spec:
            parameter = Parameter(
                **{**parameter.__dict__, "default": check_value(parameter, spec["default"])}
            )
    except ReportInputError as exc:
        raise fail(f"{where}: {exc}") from None
    return parameter


def _chart(fail: Any, index: int, spec: Any, columns: dict[str, Column]) -> Chart:
    where = f"charts[{index}]"
    if not isinstance(spec, dict):
        raise fail(f"{where} is a mapping")
    _only(fail, where, spec, {"type", "x", "y", "series", "title", "x_title", "y_title"})
    if spec.get("type") not in CHART_TYPES:
        raise fail(f"{where}: type is one of {', '.join(CHART_TYPES)}")
    for role in ("x", "y", "series"):
        if (role != "series" or spec.get(role)) and spec.get(role) not in columns:
            raise fail(f"{where}: {role} {spec.get(role)!r} is not a column of the result")
    if not columns[spec["y"]].type.numeric:
        raise fail(f"{where}: y {spec['y']!r} is not a number column")
    return Chart(
        type=spec["type"],
        x=spec["x"],
        y=spec["y"],
        series=spec.get("series"),
        title=spec.get("title"),
        x_title=spec.get("x_title"),
        y_title=spec.get("y_title"),
    )


# --- binding a request's parameters ---------------------------------------------------------------------

_PARAMETER_TYPES = {"integer": "integer", "decimal": "decimal(38,10)", "date": "date", "boolean": "boolean"}


def _value(parameter: Parameter, raw: Any) -> Any:
    """``raw`` (JSON value or command-line text) as the parameter's type, or :class:`ReportInputError`."""
    if parameter.kind == "text":
        if not isinstance(raw, str) or not raw:
            # The Data API cannot bind an empty or NULL value.
            raise ReportInputError(f"parameter {parameter.name}: expected non-empty text, got {raw!r}")
        return raw
    if parameter.kind == "date" and isinstance(raw, str) and not re.match(r"^\d{4}-\d{2}-\d{2}$", raw):
        raise ReportInputError(f"parameter {parameter.name}: expected a date YYYY-MM-DD, got {raw!r}")
    if (
        parameter.kind == "decimal"
        and isinstance(raw, str)
        and not re.match(r"^[+-]?\d+(\.\d+)?$", raw.strip())
    ):
        raise ReportInputError(f"parameter {parameter.name}: expected a number, got {raw!r}")
    if parameter.kind == "boolean" and not isinstance(raw, bool | str):
        raise ReportInputError(f"parameter {parameter.name}: expected true or false, got {raw!r}")
    try:
        value = coerce(raw, ColumnType.parse(_PARAMETER_TYPES[parameter.kind]))
    except ValueTypeError:
        raise ReportInputError(
            f"parameter {parameter.name}: expected {parameter.kind}, got {raw!r}"
        ) from None
    if parameter.kind == "decimal":
        value = value.normalize()
    return value


def check_value(parameter: Parameter, raw: Any) -> Any:
    value = _value(parameter, raw)
    if parameter.minimum is not None and value < parameter.minimum:
        raise ReportInputError(
            f"parameter {parameter.name}: {value} is below the minimum {parameter.minimum}"
        )
    if parameter.maximum is not None and value > parameter.maximum:
        raise ReportInputError(
            f"parameter {parameter.name}: {value} is above the maximum {parameter.maximum}"
        )
    if parameter.choices and value not in parameter.choices:
        raise ReportInputError(
            f"parameter {parameter.name}: {value!r} is not one of {', '.join(parameter.choices)}"
        )
    return value


def bind_parameters(definition: ReportDefinition, raw: dict[str, Any], today: dt.date) -> dict[str, Any]:
    """The values of every parameter, ``run_date`` first: given, else the default; missing ones fail."""
    every = (Parameter(RUN_DATE, "date", default=today), *definition.parameters)
    known = {p.name for p in every}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ReportInputError(
            f"report {definition.name} has no parameter {unknown[0]!r} (parameters: {', '.join(sorted(known))})"
        )
    values: dict[str, Any] = {}
    for parameter in every:
        if parameter.name in raw:
            values[parameter.name] = check_value(parameter, raw[parameter.name])
        elif parameter.required:
            raise ReportInputError(
                f"report {definition.name} needs parameter {parameter.name} ({parameter.kind})"
            )
        else:
            values[parameter.name] = parameter.default
    return values
