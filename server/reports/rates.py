"""Rates as exact fractions, shown in basis points without floats."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    numerator: int
    denominator: int

    @property
    def basis_points(self) -> int | None:
        """numerator/denominator in 1/10000, half-up; None when nothing was due."""
        if self.denominator <= 0:
            return None
        return (self.numerator * 20000 + self.denominator) // (2 * self.denominator)

    def percent(self) -> str:
        """'87.50%', or '—' when the denominator is zero."""
        bp = self.basis_points
        if bp is None:
            return "—"
        sign = "-" if bp < 0 else ""
        bp = abs(bp)
        return f"{sign}{bp // 100}.{bp % 100:02d}%"
