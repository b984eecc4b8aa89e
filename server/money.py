"""Money is integer fen (分).  Decimal appears only for unit prices,
quantities and rates, and is turned into fen exactly once per line, half-up.

Nothing in this module (or anywhere near money) uses ``float``.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN_PER_YUAN = 100
_ONE = Decimal(1)


class MoneyError(ValueError):
    """A value cannot be read as an exact amount."""


def to_decimal(value) -> Decimal:
    """An exact Decimal from an int, Decimal or decimal string; floats refused."""
    if isinstance(value, bool):
        raise MoneyError(f"not a number: {value!r}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            raise MoneyError(f"not a number: {value!r}") from None
    else:
        raise MoneyError(f"refusing {type(value).__name__} {value!r}: use Decimal or str")
    if not result.is_finite():
        raise MoneyError(f"not a finite number: {value!r}")
    return result


def round_half_up(value: Decimal) -> int:
    """Quantize a Decimal number of fen to whole fen, half away from zero."""
    return int(to_decimal(value).quantize(_ONE, rounding=ROUND_HALF_UP))


def yuan_to_fen(value) -> int:
    """``"12.34"`` → 1234.  More than two decimals is an error, not a rounding."""
    amount = to_decimal(value) * FEN_PER_YUAN
    if amount != amount.to_integral_value():
        raise MoneyError(f"{value!r} has fractions of a fen")
    return int(amount)


def fen_to_yuan(fen: int) -> Decimal:
    return (Decimal(int(fen)) / FEN_PER_YUAN).quantize(Decimal("0.01"))


def format_yuan(fen: int) -> str:
    """1234 → '12.34'; -5 → '-0.05'.  For display only, at the edge."""
    return f"{fen_to_yuan(fen):.2f}"


def split_fen(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` fen in proportion to ``weights``; shares sum exactly.

    Each share but the last is rounded half-up; the remainder goes to the last
    share (the Kill Bill / Lago rule).
    """
    if not weights:
        raise MoneyError("nothing to split into")
    if any(w < 0 for w in weights):
        raise MoneyError("negative weight")
    weight_sum = sum(weights)
    if weight_sum == 0:
        raise MoneyError("weights sum to zero")
    shares = [round_half_up(Decimal(total) * w / weight_sum) for w in weights[:-1]]
    shares.append(total - sum(shares))
    return shares
