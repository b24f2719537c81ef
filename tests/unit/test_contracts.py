from __future__ import annotations

from pathlib import Path

import pytest

from thermocline.contracts import ContractError, DeadRoute, Router, load_contracts, parse_contracts


def keys(pk: str, sk: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def test_the_shipped_demo_contract_routes_every_item_kind_of_the_store() -> None:
    source = load_contracts(None).for_table("thermocline-store")
    assert source is not None
    routes = {
        sk: (r.target if (r := source.route(keys("USER#u1", sk))) else None)
        for sk in ["USER", "PROFILE", "ORDER#o1", "ORDER#o1#LINE#001", "SESSION#1"]
    }
    assert routes == {
        "USER": "users",
        "PROFILE": "user_profiles",
        "ORDER#o1": "orders",
        "ORDER#o1#LINE#001": "order_lines",
        "SESSION#1": None,
    }
    orders = source.route(keys("USER#u1", "ORDER#o1"))
    assert orders is not None
    assert orders.columns["total"].sql == "DECIMAL(12,2)"
    assert orders.columns["created_at"].sql == "TIMESTAMP"
    assert orders.primary_key == ("pk", "sk")
    lines = source.route(keys("USER#u1", "ORDER#o1#LINE#001"))
    assert lines is not None and lines.columns["unit_price"].sql == "DECIMAL(12,2)"


def test_a_route_on_an_attribute_outside_a_tables_keys_is_noted_at_its_first_record() -> None:
    contracts = parse_contracts(
        {
            "version": 1,
            "sources": [
                {
                    "table": "*-store",
                    "routes": [
                        {"target": "lines", "match": {"sk": "*#LINE#*"}},
                        {"target": "paid", "match": {"pk": "ORDER#*", "status": "PAID"}},
                    ],
                }
            ],
        }
    )
    router = Router(contracts)
    assert router.route("a-store", keys("ORDER#1", "X"))[0] == "a_store"  # pk and sk: `paid` is dead
    router.route("a-store", keys("ORDER#2", "Y"))
    assert router.route("b-store", {"pk": {"S": "ORDER#1"}})[0] == "b_store"  # pk only: both are dead
    assert Router(contracts).route("Orders", {"status": {"S": "PAID"}})[0] == "orders"  # no contract
    where = "<contracts>: sources[0] (table '*-store').routes"
    assert router.dead_routes == [
        DeadRoute("a-store", f"{where}[1]", "*-store", "paid", "status", ("pk", "sk")),
        DeadRoute("b-store", f"{where}[0]", "*-store", "lines", "sk", ("pk",)),
        DeadRoute("b-store", f"{where}[1]", "*-store", "paid", "status", ("pk",)),
    ]
    shipped = Router(load_contracts(None))
    shipped.route("thermocline-store", keys("USER#u1", "USER"))
    assert shipped.dead_routes == []


def test_tables_match_by_glob_on_the_dynamodb_table_name() -> None:
    contracts = load_contracts(None)
    assert contracts.for_table("prod-store") is not None
    assert contracts.for_table("Orders") is None
    assert contracts.for_table("store-prod") is None


def test_regex_patterns_and_first_match_wins(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "version: 1\n"
        "sources:\n"
        "  - table: Events\n"
        "    routes:\n"
        "      - target: clicks\n"
        "        match: {pk: {regex: 'CLICK#[0-9]+'}}\n"
        "      - target: everything\n"
        "        match: {}\n"
    )
    source = load_contracts(path).for_table("Events")
    assert source is not None
    assert source.route({"pk": {"S": "CLICK#12"}}).target == "clicks"  # type: ignore[union-attr]
    assert source.route({"pk": {"S": "CLICK#x"}}).target == "everything"  # type: ignore[union-attr]


def test_a_directory_of_contracts_loads_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("version: 1\nsources: [{table: 'T*', routes: [{target: second}]}]\n")
    (tmp_path / "a.yml").write_text("version: 1\nsources: [{table: 'T*', routes: [{target: first}]}]\n")
    source = load_contracts(tmp_path).for_table("Tab")
    assert source is not None and source.routes[0].target == "first"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert load_contracts(empty).sources == ()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"sources": []}, "version: 1"),
        ({"version": 1, "sources": [{"routes": []}]}, "needs 'table'"),
        (
            {"version": 1, "sources": [{"table": "t", "routes": [{"target": "Bad-Name"}]}]},
            "lower-case identifier",
        ),
        (
            {"version": 1, "sources": [{"table": "t", "routes": [{"target": "a", "colums": {}}]}]},
            "unknown keys",
        ),
        (
            {
                "version": 1,
                "sources": [{"table": "t", "routes": [{"target": "a", "columns": {"x": "MONEY"}}]}],
            },
            "column 'x'",
        ),
        (
            {
                "version": 1,
                "sources": [{"table": "t", "routes": [{"target": "a", "match": {"pk": {"regex": "("}}}]}],
            },
            "bad regex",
        ),
        (
            {"version": 1, "sources": [{"table": "t", "routes": [{"target": "a"}, {"target": "a"}]}]},
            "reached by two routes",
        ),
    ],
)
def test_malformed_contracts_fail_with_a_message_naming_the_entry(document: dict, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        parse_contracts(document, "contracts.yaml")


def test_a_missing_or_invalid_file_is_reported_by_name(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="no such"):
        load_contracts(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: [1\n")
    with pytest.raises(ContractError, match=r"bad.yaml:\d+:\d+: not valid YAML"):
        load_contracts(bad)


def _two_sources(first: dict, second: dict) -> dict:
    return {"version": 1, "sources": [{"table": "A", **first}, {"table": "B", **second}]}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            _two_sources({"routes": [{"target": "t"}]}, {"routes": [{"target": "t"}]}),
            r"target 't' is reached by two routes .*each must declare the same primary_key",
        ),
        (
            _two_sources(
                {"routes": [{"target": "t", "primary_key": ["pk"]}]},
                {"routes": [{"target": "t", "primary_key": ["id"]}]},
            ),
            r"table 'B'.*different primary_key.*\['pk'\] vs \['id'\]",
        ),
        (
            _two_sources({"routes": [{"target": "t", "primary_key": ["pk"]}]}, {"unmatched": "t"}),
            r"sources\[1\] \(table 'B'\)\.unmatched: target 't'",
        ),
        (
            _two_sources(
                {"routes": [{"target": "t", "primary_key": ["pk"], "columns": {"n": "BIGINT"}}]},
                {"routes": [{"target": "t", "primary_key": ["pk"], "columns": {"n": "VARCHAR(5)"}}]},
            ),
            "declaring column 'n' as BIGINT and VARCHAR",
        ),
        (
            {"version": 1, "sources": [{"table": "T", "routes": [{"target": "t", "primary_key": []}]}]},
            "primary_key is empty",
        ),
        (
            {
                "version": 1,
                "sources": [{"table": "T", "routes": [{"target": "t", "primary_key": ["a", "a"]}]}],
            },
            "names an attribute twice",
        ),
        (
            {
                "version": 1,
                "sources": [
                    {
                        "table": "T",
                        "routes": [{"target": "t", "primary_key": ["m"], "columns": {"m": "SUPER"}}],
                    }
                ],
            },
            "primary_key attribute 'm' is declared SUPER",
        ),
        (
            {
                "version": 1,
                "sources": [
                    {
                        "table": "T",
                        "routes": [{"target": "t", "sort_key": ["a", "m"], "columns": {"m": "SUPER"}}],
                    }
                ],
            },
            "sort_key attribute 'm' is declared SUPER",
        ),
        (
            {
                "version": 1,
                "sources": [
                    {"table": "T", "routes": [{"target": "t", "dist_key": "m", "columns": {"m": "SUPER"}}]}
                ],
            },
            "dist_key attribute 'm' is declared SUPER",
        ),
        (
            {
                "version": 1,
                "sources": [{"table": "T", "routes": [{"target": "t", "columns": {"x": "INTEGR"}}]}],
            },
            r"sources\[0\] \(table 'T'\)\.routes\[0\] \(target t\): column 'x': unsupported column type",
        ),
        ({"version": 1, "sources": [{"table": "T", "rutes": []}]}, "unknown keys"),
    ],
)
def test_contradictory_or_malformed_contracts_name_the_source_and_the_rule(
    document: dict, message: str
) -> None:
    with pytest.raises(ContractError, match=message) as raised:
        parse_contracts(document, "contracts.yaml")
    assert str(raised.value).startswith("contracts.yaml: ")
    assert "\n" not in str(raised.value)


def test_routes_in_two_files_that_contradict_each_other_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "version: 1\nsources: [{table: A, routes: [{target: t, primary_key: [pk]}]}]\n"
    )
    (tmp_path / "b.yaml").write_text(
        "version: 1\nsources: [{table: B, routes: [{target: t, primary_key: [id]}]}]\n"
    )
    with pytest.raises(ContractError, match=r"b.yaml: sources\[0\] \(table 'B'\).*a.yaml"):
        load_contracts(tmp_path)


def test_routes_that_agree_on_keys_may_share_a_target() -> None:
    route = {"target": "t", "primary_key": ["pk", "sk"], "columns": {"n": "BIGINT"}}
    contracts = parse_contracts(_two_sources({"routes": [route]}, {"routes": [route]}))
    assert [s.routes[0].target for s in contracts.sources] == ["t", "t"]


def test_a_yaml_error_is_one_line_with_file_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nsources:\n  - table: T\n    routes: [\n")
    with pytest.raises(ContractError) as raised:
        load_contracts(bad)
    message = str(raised.value)
    assert message.startswith(f"{bad}:5:1: not valid YAML: ")
    assert "\n" not in message


def test_a_type_split_by_a_flow_mappings_comma_says_to_quote_it(tmp_path: Path) -> None:
    contract = tmp_path / "c.yaml"
    contract.write_text(
        "version: 1\nsources:\n  - table: Orders\n    routes:\n"
        "      - target: orders\n        columns: {total: DECIMAL(12,2)}\n"
    )
    with pytest.raises(ContractError) as raised:
        load_contracts(contract)
    message = str(raised.value)
    assert "column 'total'" in message
    assert "quote the type" in message
    # Quoted, the same type loads.
    contract.write_text(contract.read_text().replace("DECIMAL(12,2)", "'DECIMAL(12,2)'"))
    (route,) = load_contracts(contract).sources[0].routes
    assert str(route.columns["total"]) == "DECIMAL(12,2)"
