"""A number that knows what it is: name, unit and range travel with the value, so charts label themselves."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Stat:
    """A number (or a per-block / per-bin array) with what a chart needs to label it."""

    name: str
    value: Any                          # float, int or np.ndarray
    unit: str
    range: tuple[float, float]
    description: str = ""

    def __float__(self) -> float:
        return float(self.value)
