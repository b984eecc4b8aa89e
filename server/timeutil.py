"""Time: stored in UTC, reasoned about on the Asia/Shanghai calendar.

Billing periods are calendar months written ``YYYY-MM``; due dates, late-fee
days, quiet hours and report dates are Shanghai dates, whatever the server's
own timezone.
"""
from __future__ import annotations

import calendar
import datetime as dt
import re
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc
SHANGHAI = ZoneInfo("Asia/Shanghai")
_PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def utcnow() -> dt.datetime:
    return dt.datetime.now(UTC)


def local_now(now: dt.datetime | None = None) -> dt.datetime:
    return (now or utcnow()).astimezone(SHANGHAI)


def local_today(now: dt.datetime | None = None) -> dt.date:
    return local_now(now).date()


def local_midnight_utc(day: dt.date) -> dt.datetime:
    """The UTC instant at which ``day`` starts in Shanghai."""
    return dt.datetime.combine(day, dt.time(), tzinfo=SHANGHAI).astimezone(UTC)


class PeriodError(ValueError):
    pass


def parse_period(period: str) -> tuple[int, int]:
    match = _PERIOD_RE.match(period or "")
    if not match:
        raise PeriodError(f"账期格式应为 YYYY-MM（如 2026-11），而不是 {period!r}")
    return int(match.group(1)), int(match.group(2))


def period_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def current_period(now: dt.datetime | None = None) -> str:
    return period_of(local_today(now))


def add_months(period: str, months: int) -> str:
    year, month = parse_period(period)
    index = year * 12 + (month - 1) + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def period_start(period: str) -> dt.date:
    year, month = parse_period(period)
    return dt.date(year, month, 1)


def period_end(period: str, months: int = 1) -> dt.date:
    """Last day of the span of ``months`` months starting at ``period``."""
    year, month = parse_period(add_months(period, months - 1))
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def day_in_month(period: str, day: int) -> dt.date:
    """Day ``day`` of the period's month, clamped to the month's length."""
    year, month = parse_period(period)
    return dt.date(year, month, min(day, calendar.monthrange(year, month)[1]))


def periods_between(first: str, last: str) -> list[str]:
    """Inclusive list of months from ``first`` to ``last``."""
    result = []
    current = first
    parse_period(last)
    while current <= last:
        result.append(current)
        current = add_months(current, 1)
    return result
