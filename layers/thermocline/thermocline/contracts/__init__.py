"""Table contracts (``model``: the YAML files) and routing with them (``routing``)."""

from __future__ import annotations

from thermocline.contracts.model import (
    PACKAGED_CONTRACTS,
    ContractError,
    Contracts,
    Route,
    SourceContract,
    load_contracts,
    parse_contracts,
)
from thermocline.contracts.routing import CONTRACT_OWNER, DeadRoute, Router

__all__ = [
    "CONTRACT_OWNER",
    "PACKAGED_CONTRACTS",
    "ContractError",
    "Contracts",
    "DeadRoute",
    "Route",
    "Router",
    "SourceContract",
    "load_contracts",
    "parse_contracts",
]
