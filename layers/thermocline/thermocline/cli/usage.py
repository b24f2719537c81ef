"""Bad input from the user, and the argument checks every subcommand shares.

``UsageError`` lives here, apart from the entry point: ``python -m thermocline.cli`` runs
``cli/__main__.py``, which imports the package like any other caller, so there is one ``UsageError``
class and ``main`` catches what every subcommand raises (exit status 2, one line on stderr).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_STATE", "UsageError", "contracts_path", "load_json", "parse_time", "state_dir"]

# Under the working directory, one state directory per subcommand (`--state` elsewhere).
DEFAULT_STATE = Path(".thermocline")


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


def load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not an event file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None


def state_dir(value: str) -> Path:
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--state {value}: exists and is not a directory")
    parent = next((p for p in path.absolute().parents if p.exists()), None)
    if parent is not None and not path.exists() and not parent.is_dir():
        raise UsageError(f"--state {value}: {parent} is not a directory")
    return path


def contracts_path(value: str) -> Path:
    from thermocline.contracts import ContractError, load_contracts

    try:
        load_contracts(value)
    except ContractError as exc:
        raise UsageError(f"--contracts: {exc}") from None
    return Path(value).resolve()


def parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 time (``Z`` allowed), UTC when it names no zone."""
    if text is None:
        return None
    from datetime import UTC

    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"not an ISO 8601 time: {text!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
