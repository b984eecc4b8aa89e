"""Parsing one cell: each parser returns a clean value or raises ``FieldError``
with a stable code and a Chinese message that names the column.

Numbers are read as ``Decimal`` from text; amounts in yuan become integer fen
exactly (``yuan_to_fen``), so "12.345" is an error, never a rounding.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from server.money import MoneyError, to_decimal, yuan_to_fen
from server.property.models import HouseStatus
from server.timeutil import PeriodError, parse_period, period_of

LABELS = {
    "building": "楼栋", "unit": "单元", "room": "房号", "area": "面积", "owner_name": "业主",
    "phone": "电话", "status": "状态", "fee_item": "收费项目", "period": "账期",
    "previous": "上期读数", "current": "本期读数", "read_on": "抄表日期", "amount": "金额",
    "due_date": "到期日",
}

STATUS_WORDS = {
    HouseStatus.OCCUPIED: (HouseStatus.OCCUPIED, "已入住", "入住", "在住", "自住", "出租"),
    HouseStatus.VACANT: (HouseStatus.VACANT, "空置", "空房", "未入住"),
}
_STATUS_LOOKUP = {word: status for status, words in STATUS_WORDS.items() for word in words}

_DATE_RE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_PERIOD_RE = re.compile(r"^(\d{4})\s*[-/.年]?\s*(\d{1,2})\s*月?$")
_EXCEL_SERIAL_MAX = 2_958_465  # 9999-12-31


class FieldError(ValueError):
    def __init__(self, field: str, code: str, message: str):
        super().__init__(message)
        self.field = field
        self.code = code
        self.message = message


def _label(field: str) -> str:
    return LABELS.get(field, field)


def is_blank(value) -> bool:
    return value == "" or value is None


def text(value, field: str, *, max_length: int, required: bool = False) -> str:
    result = "" if value is None else str(value).strip()
    if required and not result:
        raise FieldError(field, "REQUIRED", f"{_label(field)}不能为空")
    if len(result) > max_length:
        raise FieldError(field, "TOO_LONG", f"{_label(field)}超过{max_length}个字符")
    return result


def required(value, field: str):
    if is_blank(value):
        raise FieldError(field, "REQUIRED", f"{_label(field)}不能为空")
    return value


def decimal(value, field: str, *, places: int, max_digits: int, positive: bool = False) -> Decimal:
    """A non-negative Decimal with at most ``places`` decimals (``positive``: > 0)."""
    required(value, field)
    try:
        number = to_decimal(value if isinstance(value, int) else str(value))
    except MoneyError:
        raise FieldError(field, "NOT_A_NUMBER", f"{_label(field)}不是有效数字：{value}") from None
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        raise FieldError(field, "TOO_MANY_DECIMALS", f"{_label(field)}最多{places}位小数：{value}")
    if number < 0:
        raise FieldError(field, "NEGATIVE", f"{_label(field)}不能为负数：{value}")
    if positive and number == 0:
        raise FieldError(field, "NOT_POSITIVE", f"{_label(field)}必须大于0")
    if number >= Decimal(10) ** (max_digits - places):
        raise FieldError(field, "TOO_LARGE", f"{_label(field)}数值过大：{value}")
    return number


def amount_fen(value, field: str = "amount") -> int:
    """Yuan, exact to the fen, greater than zero → integer fen."""
    required(value, field)
    try:
        fen = yuan_to_fen(value if isinstance(value, int) else str(value))
    except MoneyError:
        raise FieldError(field, "BAD_AMOUNT",
                         f"{_label(field)}应为以元计、最多两位小数的数字：{value}") from None
    if fen < 0:
        raise FieldError(field, "NEGATIVE", f"{_label(field)}不能为负数：{value}")
    if fen == 0:
        raise FieldError(field, "NOT_POSITIVE", f"{_label(field)}必须大于0")
    return fen


def phone(value, field: str = "phone") -> str:
    """Digits only; spaces and hyphens are dropped, a +86 prefix removed."""
    raw = "" if value is None else str(value).strip()
    digits = re.sub(r"[\s\-]", "", raw)
    if digits.startswith("+86"):
        digits = digits[3:]
    if not digits:
        return ""
    if not digits.isdigit() or not 5 <= len(digits) <= 20:
        raise FieldError(field, "BAD_PHONE", f"{_label(field)}只能包含数字：{raw}")
    return digits


def date(value, field: str) -> dt.date:
    """A date cell, an Excel serial number, or text YYYY-MM-DD (also 2026/1/5)."""
    required(value, field)
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int):
        if 1 <= value <= _EXCEL_SERIAL_MAX:
            from openpyxl.utils.datetime import from_excel

            return from_excel(value).date()
    else:
        match = _DATE_RE.match(str(value))
        if match:
            try:
                return dt.date(*(int(g) for g in match.groups()))
            except ValueError:
                pass
    raise FieldError(field, "BAD_DATE", f"{_label(field)}应为 YYYY-MM-DD 格式的日期：{value}")


def period(value, field: str = "period") -> str:
    """'YYYY-MM' (also 2026/1, 2026年1月, 202601, or a date cell on the 1st)."""
    required(value, field)
    if isinstance(value, dt.date):
        day = value.date() if isinstance(value, dt.datetime) else value
        if day.day == 1:
            return period_of(day)
    else:
        match = _PERIOD_RE.match(str(value))
        if match:
            candidate = f"{match.group(1)}-{int(match.group(2)):02d}"
            try:
                parse_period(candidate)
                return candidate
            except PeriodError:
                pass
    raise FieldError(field, "BAD_PERIOD", f"{_label(field)}应为 YYYY-MM 格式：{value}")


def house_status(value, field: str = "status") -> str:
    word = str(value).strip().lower()
    status = _STATUS_LOOKUP.get(word)
    if status is None:
        raise FieldError(field, "BAD_STATUS", f"{_label(field)}应为 已入住 或 空置：{value}")
    return status
