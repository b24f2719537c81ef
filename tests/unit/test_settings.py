"""Settings are read once at cold start; a missing or malformed variable is named in the error."""

from __future__ import annotations

import pytest

from thermocline.settings import BackfillSettings, SettingsError, WarehouseLoadSettings


def test_settings_come_from_upper_case_variables_with_their_types() -> None:
    settings = WarehouseLoadSettings.from_env(
        {
            "LAKE_BUCKET": "lake",
            "WAREHOUSE_URL": "duckdb:///w",
            "MAX_FILES_PER_LOAD": "50",
            "COPY_IAM_ROLE": "",
        }
    )
    assert (settings.lake_bucket, settings.max_files_per_load, settings.copy_iam_role) == ("lake", 50, None)
    assert (settings.delete_mode, settings.load_attempts) == ("hard", 3)


def test_every_missing_or_malformed_variable_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as err:
        WarehouseLoadSettings.from_env({"LAKE_BUCKET": "lake", "LOAD_ATTEMPTS": "three"})
    assert str(err.value) == (
        "WarehouseLoadSettings: WAREHOUSE_URL: missing; LOAD_ATTEMPTS: not an integer: 'three'"
    )
    with pytest.raises(SettingsError) as err:
        WarehouseLoadSettings.from_env(
            {"LAKE_BUCKET": "l", "WAREHOUSE_URL": "w", "DELETE_MODE": "Hard", "MAX_FILES_PER_LOAD": "1001"}
        )
    assert str(err.value) == (
        "WarehouseLoadSettings: DELETE_MODE: 'Hard' is not one of 'hard', 'soft';"
        " MAX_FILES_PER_LOAD: 1001 is above 1000"
    )


def test_models_made_in_code_are_checked_the_same_way_and_frozen() -> None:
    with pytest.raises(SettingsError, match="CHUNK_ITEMS: 0 is below 1"):
        BackfillSettings(lake_bucket="lake", chunk_items=0)
    settings = BackfillSettings(lake_bucket="lake", chunk_items=5)
    with pytest.raises(AttributeError):
        settings.chunk_items = 6  # type: ignore[misc]
