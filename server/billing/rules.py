"""Pure billing maths: a bill's amount and the late-fee rule.  No database.

Amounts are integer fen.  Unit prices (yuan, 4 places), quantities and rates
are ``Decimal``; a bill's amount is quantized to fen exactly once, half-up,
after the whole product is formed (R1).  Rounding a monthly amount and then
multiplying by the months, or rounding the unit price first, gives a different
answer and is the mistake this module exists to prevent.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, Inexact

from server.billing.models import Cycle, Method
from server.money import FEN_PER_YUAN, round_half_up, to_decimal

UNIT_FIXED = "户·月"
UNIT_PER_AREA = "m²·月"
QUARTER_STARTS = (1, 4, 7, 10)
_ONE = Decimal(1)
# Products of prices (12 digits) and quantities (14 digits) need up to ~31
# significant digits: more than Decimal's default 28.  This context is wide
# enough to keep them exact and raises rather than rounding silently; the one
# deliberate rounding (to whole fen) uses WIDE, which does not trap it.
EXACT = Context(prec=60, traps=[Inexact])
WIDE = Context(prec=60)


def compute_amount(method: str, unit_price: Decimal, quantity: Decimal, months: int) -> int:
    """Fen owed for one bill: round_half_up(quantity × unit_price × months × 100).

    The only rounding in a bill.  A metered quantity is the period's usage and
    already covers its span, so callers pass ``months=1`` for metered items.
    """
    if method not in Method.ALL:
        raise ValueError(f"unknown method {method!r}")
    return Pricer(unit_price, months).amount(to_decimal(quantity))


class Pricer:
    """``compute_amount`` for many quantities at one price: the exact product
    quantity × (unit_price × months × 100), rounded once, half-up.  Exact
    multiplication is associative, so grouping the constant factor changes
    nothing but the speed."""

    __slots__ = ("factor",)

    def __init__(self, unit_price: Decimal, months: int):
        if isinstance(months, bool) or not isinstance(months, int) or months < 1:
            raise ValueError(f"months must be a positive int, not {months!r}")
        self.factor = EXACT.multiply(to_decimal(unit_price), Decimal(months * FEN_PER_YUAN))

    def amount(self, quantity: Decimal) -> int:
        fen = EXACT.multiply(quantity, self.factor)
        return int(fen.quantize(_ONE, rounding=ROUND_HALF_UP, context=WIDE))


def cycle_months(cycle: str, period: str) -> int:
    """How many months a bill for ``period`` covers, or 0 when the cycle does not
    bill in that month (quarterly: Jan/Apr/Jul/Oct; yearly: January)."""
    month = int(period[5:7])
    if cycle == Cycle.MONTHLY:
        return 1
    if cycle == Cycle.QUARTERLY:
        return 3 if month in QUARTER_STARTS else 0
    if cycle == Cycle.YEARLY:
        return 12 if month == 1 else 0
    raise ValueError(f"unknown cycle {cycle!r}")


@dataclass(frozen=True)
class Basis:
    """What a bill is computed from, stored on the bill for the owner to see."""

    method: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    months: int
    amount_fen: int


def build_basis(method: str, unit_price: Decimal, months: int, *, floor_area: Decimal | None = None,
                usage: Decimal | None = None, metered_unit: str = "") -> Basis:
    """Quantity and unit for each method, then the amount (rounded once)."""
    quantity = basis_quantity(method, floor_area=floor_area, usage=usage)
    amount = compute_amount(method, unit_price, quantity, billed_months(method, months))
    return Basis(method, quantity, basis_unit(method, metered_unit), to_decimal(unit_price),
                 months, amount)


def basis_quantity(method: str, *, floor_area: Decimal | None = None,
                   usage: Decimal | None = None) -> Decimal:
    if method == Method.FIXED:
        return _ONE
    if method == Method.PER_AREA:
        if floor_area is None:
            raise ValueError("per_area needs the floor area")
        return to_decimal(floor_area)
    if method == Method.METERED:
        if usage is None:
            raise ValueError("metered needs the usage")
        return to_decimal(usage)
    raise ValueError(f"unknown method {method!r}")


def basis_unit(method: str, metered_unit: str = "") -> str:
    return {Method.FIXED: UNIT_FIXED, Method.PER_AREA: UNIT_PER_AREA}.get(method, metered_unit)


def billed_months(method: str, months: int) -> int:
    """The months factor in the amount: 1 for metered usage, which already
    covers its span; the cycle's months otherwise."""
    return 1 if method == Method.METERED else months


# --- late fees -------------------------------------------------------------------

@dataclass(frozen=True)
class LateFeeRule:
    daily_rate: Decimal      # share of the outstanding principal per day, e.g. 0.0005
    grace_days: int          # days after the due date without a late fee
    cap_ratio: Decimal       # the total late fee never exceeds principal × cap_ratio

    @classmethod
    def of(cls, standard) -> "LateFeeRule":
        return cls(to_decimal(standard.late_fee_daily_rate), int(standard.late_fee_grace_days),
                   to_decimal(standard.late_fee_cap_ratio))

    @property
    def active(self) -> bool:
        return self.daily_rate > 0 and self.cap_ratio > 0


def principal_fen(amount_fen: int, adjusted_fen: int) -> int:
    """The bill's principal: what was issued plus adjustments, never the late fee."""
    return max(0, amount_fen + adjusted_fen)


def outstanding_principal_fen(amount_fen: int, adjusted_fen: int, paid_fen: int) -> int:
    """Principal still unpaid.  Late fees are charged on this only, so a late fee
    never earns a late fee (no compounding)."""
    return max(0, amount_fen + adjusted_fen - paid_fen)


def late_fee_cap_fen(principal: int, rule: LateFeeRule) -> int:
    return max(0, round_half_up(Decimal(principal) * rule.cap_ratio))


def first_late_day(due_date: dt.date, rule: LateFeeRule) -> dt.date:
    """The first day that may carry a late fee: the day after due + grace."""
    return due_date + dt.timedelta(days=rule.grace_days + 1)


def late_fee_for_day(day: dt.date, *, due_date: dt.date, rule: LateFeeRule, outstanding_fen: int,
                     cap_fen: int, accrued_fen: int, on_hold: bool = False) -> int:
    """Fen of late fee for ``day``: outstanding principal × daily rate, half-up,
    cut so that ``accrued_fen`` plus it never exceeds ``cap_fen``.

    Zero during the grace period, while a dispute holds the bill, when nothing
    is outstanding, and when the rate or the cap is zero.
    """
    if on_hold or not rule.active or outstanding_fen <= 0 or cap_fen <= 0:
        return 0
    if day < first_late_day(due_date, rule):
        return 0
    room = cap_fen - accrued_fen
    if room <= 0:
        return 0
    return min(round_half_up(Decimal(outstanding_fen) * rule.daily_rate), room)


def late_fee_schedule(first_day: dt.date, last_day: dt.date, *, due_date: dt.date,
                      rule: LateFeeRule, outstanding_fen: int, cap_fen: int,
                      accrued_fen: int = 0, on_hold: bool = False) -> list[tuple[dt.date, int]]:
    """Daily amounts from ``first_day`` to ``last_day`` inclusive (non-zero days only),
    assuming the outstanding principal stays as given."""
    result = []
    day = max(first_day, first_late_day(due_date, rule))
    while day <= last_day:
        fee = late_fee_for_day(day, due_date=due_date, rule=rule, outstanding_fen=outstanding_fen,
                               cap_fen=cap_fen, accrued_fen=accrued_fen, on_hold=on_hold)
        if fee <= 0:
            break  # the cap is reached (or nothing accrues): every later day is zero too
        result.append((day, fee))
        accrued_fen += fee
        day += dt.timedelta(days=1)
    return result
