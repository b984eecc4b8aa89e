"""The pure billing maths: amounts rounded once per bill, cycles, late fees."""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.billing.models import Cycle, Method
from server.billing.rules import (UNIT_FIXED, UNIT_PER_AREA, LateFeeRule, Pricer, build_basis,
                                  compute_amount, cycle_months, first_late_day,
                                  late_fee_cap_fen, late_fee_for_day, late_fee_schedule,
                                  outstanding_principal_fen, principal_fen)

prices = st.decimals(min_value=Decimal("0"), max_value=Decimal("9999.9999"), places=4)
quantities = st.decimals(min_value=Decimal("0"), max_value=Decimal("99999.99"), places=2)
months_st = st.sampled_from([1, 3, 12])


def test_amount_is_rounded_once_half_up_for_the_8_165_case():
    # 8.165 yuan is 816.5 fen: half-up gives 817, never 816 (the float answer).
    assert compute_amount(Method.FIXED, Decimal("8.165"), Decimal(1), 1) == 817
    assert compute_amount(Method.PER_AREA, Decimal("1.6330"), Decimal("5.00"), 1) == 817


def test_amount_for_a_quarter_is_rounded_after_multiplying_the_months():
    # 89.57 m² × 2.3333 × 3 = 626.98 yuan … rounding the month first would give 626.97.
    monthly = compute_amount(Method.PER_AREA, Decimal("2.3333"), Decimal("89.57"), 1)
    quarterly = compute_amount(Method.PER_AREA, Decimal("2.3333"), Decimal("89.57"), 3)
    assert (monthly, quarterly) == (20899, 62698)
    assert quarterly != monthly * 3


def test_amount_refuses_floats_and_bad_months():
    with pytest.raises(ValueError):
        compute_amount(Method.FIXED, 1.5, Decimal(1), 1)
    with pytest.raises(ValueError):
        compute_amount(Method.FIXED, Decimal("1.5"), Decimal(1), 0)
    with pytest.raises(ValueError):
        compute_amount("per_flat", Decimal("1.5"), Decimal(1), 1)


def test_basis_names_quantity_and_unit_for_each_method():
    fixed = build_basis(Method.FIXED, Decimal("150"), 1)
    assert (fixed.quantity, fixed.unit, fixed.amount_fen) == (Decimal(1), UNIT_FIXED, 15000)
    area = build_basis(Method.PER_AREA, Decimal("2.5"), 3, floor_area=Decimal("89.50"))
    assert (area.quantity, area.unit, area.amount_fen) == (Decimal("89.50"), UNIT_PER_AREA, 67125)
    water = build_basis(Method.METERED, Decimal("4.1"), 1, usage=Decimal("12.5"), metered_unit="m³")
    assert (water.quantity, water.unit, water.amount_fen) == (Decimal("12.5"), "m³", 5125)


def test_metered_usage_is_not_multiplied_by_the_months():
    basis = build_basis(Method.METERED, Decimal("4"), 3, usage=Decimal(10), metered_unit="m³")
    assert basis.amount_fen == 4000


def test_quarterly_bills_only_in_the_first_month_of_a_quarter_and_yearly_only_in_january():
    assert [cycle_months(Cycle.QUARTERLY, f"2026-{m:02d}") for m in range(1, 13)] == \
        [3, 0, 0, 3, 0, 0, 3, 0, 0, 3, 0, 0]
    assert [cycle_months(Cycle.YEARLY, f"2026-{m:02d}") for m in range(1, 13)] == [12] + [0] * 11
    assert cycle_months(Cycle.MONTHLY, "2026-07") == 1


@given(method=st.sampled_from(Method.ALL), price=prices, qty=quantities, months=months_st)
def test_amounts_are_integers_equal_to_one_half_up_rounding_of_the_exact_product(method, price, qty, months):
    amount = compute_amount(method, price, qty, months)
    assert type(amount) is int
    exact = qty * price * months * 100
    assert amount == int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert abs(Decimal(amount) - exact) <= Decimal("0.5")


def test_amounts_stay_exact_beyond_28_significant_digits():
    # 12-digit price × 14-digit quantity × 12 months: 31 digits, past Decimal's default precision.
    price, qty = Decimal("99999999.9999"), Decimal("9999999999.9999")
    exact_hundredths_of_a_fen = 999999999999 * 99999999999999 * 12 * 100
    fen, rest = divmod(exact_hundredths_of_a_fen, 10**8)
    assert compute_amount(Method.PER_AREA, price, qty, 12) == fen + (2 * rest >= 10**8)


@given(price=prices, qty=quantities, months=months_st)
def test_a_pricer_matches_integer_arithmetic_rounded_half_up(price, qty, months):
    # price in 1/10000 yuan × qty in 1/100 units × months × 100 fen = fen × 10^6, all integers.
    scaled = int(price * 10_000) * int(qty * 100) * months * 100
    fen, rest = divmod(scaled, 10**6)
    assert Pricer(price, months).amount(qty) == fen + (2 * rest >= 10**6)


@given(cents=st.integers(min_value=0, max_value=10**6))
def test_half_fen_prices_always_round_up(cents):
    # x.xx5 yuan for one house is exactly half a fen above x.xx: always up.
    price = Decimal(cents) / 100 + Decimal("0.005")
    assert compute_amount(Method.FIXED, price, Decimal(1), 1) == cents + 1


# --- late fees ---------------------------------------------------------------------

DUE = dt.date(2026, 3, 15)
RULE = LateFeeRule(daily_rate=Decimal("0.0005"), grace_days=10, cap_ratio=Decimal("0.3"))


def fee(day, outstanding=100_000, cap=30_000, accrued=0, rule=RULE, on_hold=False):
    return late_fee_for_day(day, due_date=DUE, rule=rule, outstanding_fen=outstanding,
                            cap_fen=cap, accrued_fen=accrued, on_hold=on_hold)


def test_no_late_fee_during_the_grace_days():
    assert first_late_day(DUE, RULE) == dt.date(2026, 3, 26)
    assert fee(dt.date(2026, 3, 25)) == 0
    assert fee(dt.date(2026, 3, 26)) == 50


def test_daily_fee_is_half_up_on_the_outstanding_principal():
    assert fee(dt.date(2026, 4, 1), outstanding=1_001) == 1  # 0.5005 fen → 1
    assert fee(dt.date(2026, 4, 1), outstanding=999) == 0    # 0.4995 fen → 0


def test_no_late_fee_while_a_dispute_is_open_or_when_rate_or_cap_is_zero():
    day = dt.date(2026, 4, 1)
    assert fee(day, on_hold=True) == 0
    assert fee(day, rule=LateFeeRule(Decimal(0), 0, Decimal("0.3"))) == 0
    assert fee(day, rule=LateFeeRule(Decimal("0.0005"), 0, Decimal(0))) == 0
    assert fee(day, outstanding=0) == 0


def test_the_last_day_is_cut_to_the_cap():
    assert fee(dt.date(2026, 4, 1), cap=30_000, accrued=29_980) == 20
    assert fee(dt.date(2026, 4, 1), cap=30_000, accrued=30_000) == 0


def test_late_fees_are_charged_on_principal_not_on_late_fees():
    # amount 1000, adjusted −100, paid 300: 600 outstanding whatever late fee has accrued.
    assert outstanding_principal_fen(1000, -100, 300) == 600
    assert principal_fen(1000, -100) == 900
    assert late_fee_cap_fen(900, RULE) == 270


@given(principal=st.integers(min_value=0, max_value=10**9),
       rate=st.decimals(min_value=Decimal("0"), max_value=Decimal("0.01"), places=6),
       cap_ratio=st.decimals(min_value=Decimal("0"), max_value=Decimal("1"), places=4),
       grace=st.integers(min_value=0, max_value=60),
       days=st.integers(min_value=0, max_value=2000),
       accrued=st.integers(min_value=0, max_value=10**6))
def test_a_late_fee_never_exceeds_its_cap(principal, rate, cap_ratio, grace, days, accrued):
    rule = LateFeeRule(rate, grace, cap_ratio)
    cap = late_fee_cap_fen(principal, rule)
    accrued = min(accrued, cap)
    schedule = late_fee_schedule(DUE, DUE + dt.timedelta(days=days), due_date=DUE, rule=rule,
                                 outstanding_fen=principal, cap_fen=cap, accrued_fen=accrued)
    total = sum(f for _, f in schedule)
    assert accrued + total <= cap
    assert all(type(f) is int and f > 0 for _, f in schedule)
    assert all(d >= first_late_day(DUE, rule) for d, _ in schedule)
