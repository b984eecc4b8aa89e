"""Money helpers: integer fen, Decimal in, half-up once, exact splits, no floats."""
from __future__ import annotations

import ast
import pathlib
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.money import (MoneyError, format_yuan, round_half_up, split_fen, to_decimal,
                          yuan_to_fen)

ROOT = pathlib.Path(__file__).resolve().parent.parent
MONEY_PACKAGES = ["server", "payments", "miniprogram_api", "jobs", "templates_msg"]


def test_half_up_rounds_halves_away_from_zero():
    assert round_half_up(Decimal("816.5")) == 817
    assert round_half_up(Decimal("8.165") * 100) == 817  # the classic float trap: 816.4999…
    assert round_half_up(Decimal("-0.5")) == -1
    assert round_half_up(Decimal("2.4999")) == 2


def test_yuan_strings_become_exact_fen_and_fractions_of_a_fen_are_refused():
    assert yuan_to_fen("12.34") == 1234
    assert yuan_to_fen("0.01") == 1
    assert yuan_to_fen("1,234.50") == 123450
    with pytest.raises(MoneyError):
        yuan_to_fen("0.001")
    with pytest.raises(MoneyError):
        yuan_to_fen("abc")


def test_floats_are_refused_everywhere_money_enters():
    with pytest.raises(MoneyError):
        to_decimal(0.1)
    with pytest.raises(MoneyError):
        yuan_to_fen(12.34)


def test_format_yuan_is_exact_for_negative_and_small_amounts():
    assert format_yuan(5) == "0.05"
    assert format_yuan(-5) == "-0.05"
    assert format_yuan(123456789) == "1234567.89"


@given(st.integers(min_value=-10**12, max_value=10**12),
       st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=30)
       .filter(lambda w: sum(w) > 0))
def test_split_shares_always_sum_to_the_total(total, weights):
    shares = split_fen(total, weights)
    assert sum(shares) == total
    assert all(isinstance(s, int) for s in shares)


@given(st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=4))
def test_round_half_up_is_within_half_a_fen(value):
    assert abs(Decimal(round_half_up(value)) - value) <= Decimal("0.5")


def _float_uses(path: pathlib.Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "float":
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} float(")
        if isinstance(node, ast.Attribute) and node.attr == "FloatField":
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} FloatField")
        if isinstance(node, ast.Name) and node.id == "FloatField":
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} FloatField")
    return found


def test_no_float_or_floatfield_in_money_code():
    offenders = []
    for package in MONEY_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            offenders += _float_uses(path)
    assert offenders == [], offenders
