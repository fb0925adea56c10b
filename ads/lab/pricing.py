"""The bundled on-demand price table (``data/prices.json``): instances, and gp3 storage.

Plans are made offline (no Pricing API call on the request path), so the figures are
a snapshot: every price carries the table's date, and a region or type missing from the
table gives no price rather than a guess.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class PriceTable:
    as_of: str
    currency: str
    regions: MappingProxyType[str, MappingProxyType[str, float]]

    @property
    def source(self) -> str:
        return f"bundled on-demand price table of {self.as_of}"

    def hourly_price(self, instance_type: str, region: str) -> float | None:
        prices = self.regions.get(region)
        return prices.get(instance_type) if prices is not None else None


@dataclass(frozen=True)
class StoragePrices:
    """Root volume storage, billed per GB-month whether the instance runs or not."""

    volume_type: str
    as_of: str
    regions: MappingProxyType[str, float]

    @property
    def source(self) -> str:
        return f"bundled {self.volume_type} storage price of {self.as_of}"

    def monthly_cost(self, volume_gib: int, region: str) -> float | None:
        price = self.regions.get(region)
        return round(price * volume_gib, 4) if price is not None else None


@dataclass(frozen=True)
class PriceQuote:
    hourly_cost_usd: float | None
    source: str
    warning: str | None = None


def _table_from(data: dict[str, Any]) -> PriceTable:
    regions = {
        region: MappingProxyType({name: float(price) for name, price in prices.items()})
        for region, prices in data["regions"].items()
    }
    return PriceTable(str(data["as_of"]), str(data["currency"]), MappingProxyType(regions))


@lru_cache(maxsize=1)
def price_table() -> PriceTable:
    return _table_from(_bundled())


@lru_cache(maxsize=1)
def storage_prices() -> StoragePrices:
    storage = _bundled()["storage"]
    return StoragePrices(
        str(storage["volume_type"]),
        str(storage["as_of"]),
        MappingProxyType({region: float(p) for region, p in storage["regions"].items()}),
    )


def _bundled() -> dict[str, Any]:
    text = resources.files("ads.lab").joinpath("data/prices.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def quote(instance_type: str, region: str, table: PriceTable | None = None) -> PriceQuote:
    """The hourly price of ``instance_type`` in ``region``, or None with a warning saying why."""
    table = table or price_table()
    price = table.hourly_price(instance_type, region)
    if price is not None:
        return PriceQuote(price, table.source)
    if region not in table.regions:
        known = ", ".join(sorted(table.regions))
        warning = (
            f"region {region} is not in the {table.source} (it covers {known}); no cost estimate"
        )
    else:
        warning = (
            f"{instance_type} has no price for {region} in the {table.source}; no cost estimate"
        )
    return PriceQuote(None, table.source, warning)
