import datetime as dt
from decimal import Decimal

import pytest

from server.imports import fields as F


@pytest.mark.parametrize("raw, expected", [
    ("89.5", Decimal("89.5")), ("89.50", Decimal("89.50")), (120, Decimal(120)),
    ("1,200.25", Decimal("1200.25")),
])
def test_area_is_an_exact_decimal(raw, expected):
    assert F.decimal(raw, "area", places=2, max_digits=10, positive=True) == expected


@pytest.mark.parametrize("raw, code", [
    ("", "REQUIRED"), ("abc", "NOT_A_NUMBER"), ("89.555", "TOO_MANY_DECIMALS"), ("-1", "NEGATIVE"),
    ("0", "NOT_POSITIVE"), ("123456789", "TOO_LARGE"), ("0.30000000000000004", "TOO_MANY_DECIMALS"),
])
def test_bad_areas_are_refused_with_a_code(raw, code):
    with pytest.raises(F.FieldError) as info:
        F.decimal(raw, "area", places=2, max_digits=10, positive=True)
    assert info.value.code == code
    assert "面积" in info.value.message


def test_amounts_become_exact_fen():
    assert F.amount_fen("12.34") == 1234
    assert F.amount_fen(100) == 10000
    cases = [("12.345", "BAD_AMOUNT"), ("-1", "NEGATIVE"), ("0", "NOT_POSITIVE"), ("x", "BAD_AMOUNT")]
    for raw, code in cases:
        with pytest.raises(F.FieldError) as info:
            F.amount_fen(raw)
        assert info.value.code == code


def test_phone_keeps_digits_only():
    assert F.phone("138 0013-8000") == "13800138000"
    assert F.phone("+8613800138000") == "13800138000"
    assert F.phone(13800138000) == "13800138000"
    with pytest.raises(F.FieldError) as info:
        F.phone("138abc")
    assert info.value.code == "BAD_PHONE"


@pytest.mark.parametrize("raw", ["2026-01-05", "2026/1/5", "2026.01.05", "2026年1月5日",
                                 dt.date(2026, 1, 5), dt.datetime(2026, 1, 5, 10, 0), 46027])
def test_dates_in_the_forms_excel_produces(raw):
    assert F.date(raw, "due_date") == dt.date(2026, 1, 5)


@pytest.mark.parametrize("raw", ["2026-13-01", "2026-02-30", "05/01/2026", "soon"])
def test_bad_dates_are_refused(raw):
    with pytest.raises(F.FieldError) as info:
        F.date(raw, "due_date")
    assert info.value.code == "BAD_DATE"


@pytest.mark.parametrize("raw", ["2026-03", "2026/3", "2026年3月", "202603", 202603, dt.date(2026, 3, 1)])
def test_periods(raw):
    assert F.period(raw) == "2026-03"


@pytest.mark.parametrize("raw", ["2026-13", "26-03", dt.date(2026, 3, 15), "March"])
def test_bad_periods(raw):
    with pytest.raises(F.FieldError) as info:
        F.period(raw)
    assert info.value.code == "BAD_PERIOD"


def test_house_status_words():
    assert F.house_status("空置") == "vacant"
    assert F.house_status("Occupied") == "occupied"
    with pytest.raises(F.FieldError):
        F.house_status("拆除")
