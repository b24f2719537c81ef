from __future__ import annotations

from pathlib import Path

import pytest

from thermocline.contracts import ContractError, load_contracts, parse_contracts


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
            "two routes",
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
    with pytest.raises(ContractError, match="bad.yaml: not valid YAML"):
        load_contracts(bad)
