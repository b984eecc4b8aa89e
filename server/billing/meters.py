"""Meters, meter readings and usage anomalies.

A reading closes one period for one house and metered item.  Its usage is
``current − previous`` where previous is the last reading's current (or the
meter's start reading).  A reading below the previous one is refused unless
the meter was replaced after that reading: then usage is what the old meter
ran up to its final reading plus what the new one ran from its start.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

import peewee

from server import audit
from server.billing.models import FeeItem, Meter, MeterReading, MeterStatus
from server.db import database, for_update, is_postgres, transaction
from server.errors import Conflict, NotFound, ValidationError
from server.money import MoneyError, to_decimal
from server.property.models import House, HouseStatus
from server.timeutil import PeriodError, add_months, parse_period

HISTORY_READINGS = 3
HISTORY_WINDOW_MONTHS = 12  # "recent": the last 3 readings within a year


_READING_LABELS = {"current": "本期读数", "start_reading": "起始读数",
                   "old_final_reading": "旧表最终读数", "new_start_reading": "新表起始读数"}


def _reading_value(name: str, value) -> Decimal:
    label = _READING_LABELS.get(name, name)
    try:
        number = to_decimal(value)
    except MoneyError:
        raise ValidationError(f"{label}“{value}”不是数字，请填写如 123.45 的读数",
                              details={name: "不是数字"}) from None
    if number < 0 or number.as_tuple().exponent < -2 or number >= Decimal("1e12"):
        raise ValidationError(f"{label} {number} 不符合要求：读数应不小于 0、最多两位小数",
                              details={name: str(number)})
    return number


def _lock_house(house_id: int, fee_item_id: int) -> House:
    """Serialise meter changes and readings of one house.  On PostgreSQL a
    NO KEY UPDATE row lock: it does not block bills being inserted for the
    house meanwhile (their foreign key check takes KEY SHARE)."""
    query = House.select().where(House.id == house_id)
    query = query.for_update("FOR NO KEY UPDATE") if is_postgres() else for_update(query)
    house = query.first()
    if house is None:
        raise NotFound(f"房屋 {house_id} 不存在")
    item = FeeItem.get_or_none(FeeItem.id == fee_item_id)
    if item is None or item.community_id != house.community_id:
        raise NotFound(f"该房屋所在小区没有收费项目 {fee_item_id}")
    return house


def active_meter(house_id: int, fee_item_id: int) -> Meter | None:
    return (Meter.select()
            .where(Meter.house == house_id, Meter.fee_item == fee_item_id,
                   Meter.status == MeterStatus.ACTIVE)
            .order_by(Meter.id.desc()).first())


def meter_state(house_id: int, fee_item_id: int) -> tuple[Meter | None, MeterReading | None]:
    """The active meter of a house for an item and that meter's last reading
    (``(None, None)`` without a meter; the reading is None before the first)."""
    meter = active_meter(house_id, fee_item_id)
    if meter is None:
        return None, None
    last = (MeterReading.select().where(MeterReading.meter == meter)
            .order_by(MeterReading.period.desc()).first())
    return meter, last


def _meter_snapshot(meter: Meter) -> dict:
    return {"id": meter.id, "serial": meter.serial, "start_reading": meter.start_reading,
            "status": meter.status, "final_reading": meter.final_reading,
            "installed_on": meter.installed_on, "replaced_on": meter.replaced_on}


def install_meter(house_id: int, fee_item_id: int, start_reading, installed_on: dt.date,
                  serial: str = "", actor: audit.Actor | None = None) -> Meter:
    """The first meter of a house for an item.  A second one is a replacement."""
    actor = actor or audit.Actor.system()
    start = _reading_value("start_reading", start_reading)
    with transaction():
        house = _lock_house(house_id, fee_item_id)
        if active_meter(house_id, fee_item_id) is not None:
            raise Conflict("该房屋已有此收费项目的表具；如需更换，请登记换表",
                           code="METER_EXISTS")
        meter = Meter.create(house=house_id, fee_item=fee_item_id, serial=serial or "",
                             start_reading=start, installed_on=installed_on)
        audit.record(actor, "meter.install", "meter", meter.id, after=_meter_snapshot(meter),
                     community_id=house.community_id)
    return meter


def replace_meter(house_id: int, fee_item_id: int, old_final_reading, new_start_reading,
                  replaced_on: dt.date, serial: str = "",
                  actor: audit.Actor | None = None) -> Meter:
    """Retire the active meter at its final reading and install a new one."""
    actor = actor or audit.Actor.system()
    final = _reading_value("old_final_reading", old_final_reading)
    start = _reading_value("new_start_reading", new_start_reading)
    with transaction():
        house = _lock_house(house_id, fee_item_id)
        old = active_meter(house_id, fee_item_id)
        if old is None:
            raise NotFound("该房屋没有在用的表具可更换，请先安装表具")
        last = (MeterReading.select().where(MeterReading.meter == old)
                .order_by(MeterReading.period.desc()).first())
        floor = last.current if last else old.start_reading
        if final < floor:
            raise ValidationError(f"旧表最终读数 {final} 低于其最近读数 {floor}，请核对后重填",
                                  details={"old_final_reading": f"应不小于 {floor}"})
        before = _meter_snapshot(old)
        old.status, old.final_reading, old.replaced_on = MeterStatus.REPLACED, final, replaced_on
        old.save()
        new = Meter.create(house=house_id, fee_item=fee_item_id, serial=serial or "",
                           start_reading=start, installed_on=replaced_on, replaces=old)
        audit.record(actor, "meter.replace", "meter", old.id, before=before,
                     after={"old": _meter_snapshot(old), "new": _meter_snapshot(new)},
                     community_id=house.community_id)
    return new


def _usage_since(anchor: MeterReading | None, meter: Meter, current: Decimal) -> tuple[Decimal, Decimal]:
    """(previous, usage) from the anchor reading (or the first meter's start) to
    ``current`` on ``meter``, across any replacements in between."""
    segments = []  # (from, to) on each meter, newest first
    to_value, cursor = current, meter
    while True:
        if anchor is not None and cursor.id == anchor.meter_id:
            segments.append((anchor.current, to_value))
            previous = anchor.current
            break
        segments.append((cursor.start_reading, to_value))
        if cursor.replaces_id is None:
            if anchor is not None:
                raise ValidationError("上次读数所属的表具不在当前表具的更换记录中，请联系管理员核对表具")
            previous = cursor.start_reading
            break
        cursor = Meter.get_by_id(cursor.replaces_id)
        to_value = cursor.final_reading
    for low, high in segments:
        if high < low:
            raise ValidationError(
                f"本期读数 {_plain(current)} 低于上期读数 {_plain(low)}；如已换表，请先登记换表",
                code="READING_DECREASED", details={"current": str(current), "previous": str(low)})
    return previous, sum((high - low for low, high in segments), Decimal(0))


def record_reading(house_id: int, fee_item_id: int, period: str, current, read_on: dt.date,
                   actor: audit.Actor, source: str = "manual") -> MeterReading:
    """Record the reading closing ``period``.  The same value twice returns the
    existing reading; a different value for a period already read is a Conflict."""
    try:
        parse_period(period)
    except PeriodError:
        raise ValidationError(f"账期“{period}”格式不对，应为 YYYY-MM（如 2026-11）",
                              details={"period": period}) from None
    value = _reading_value("current", current)
    try:
        with transaction():
            house = _lock_house(house_id, fee_item_id)
            existing = _existing(house_id, fee_item_id, period, value)
            if existing is not None:
                return existing
            meter = active_meter(house_id, fee_item_id)
            if meter is None:
                raise ValidationError("该房屋没有此收费项目的表具，请先安装表具",
                                      code="NO_METER")
            last = (MeterReading.select()
                    .where(MeterReading.house == house_id, MeterReading.fee_item == fee_item_id)
                    .order_by(MeterReading.period.desc()).first())
            if last is not None and last.period > period:
                raise ValidationError(f"已有更晚账期 {last.period} 的读数，不能补录更早的账期 {period}",
                                      code="READING_OUT_OF_ORDER", details={"period": period})
            previous, usage = _usage_since(last, meter, value)
            reading = MeterReading.create(
                house=house_id, fee_item=fee_item_id, meter=meter, period=period,
                previous=previous, current=value, usage=usage, read_on=read_on, source=source,
                created_by=actor.staff_id)
            audit.record(actor, "meter_reading.record", "meter_reading", reading.id,
                         after={"period": period, "previous": previous, "current": value,
                                "usage": usage, "meter": meter.id, "source": source},
                         community_id=house.community_id)
            return reading
    except peewee.IntegrityError:
        # A concurrent call recorded the same period first: same rules as above.
        existing = _existing(house_id, fee_item_id, period, value)
        if existing is None:
            raise
        return existing


def _existing(house_id, fee_item_id, period, value) -> MeterReading | None:
    existing = MeterReading.get_or_none(MeterReading.house == house_id,
                                        MeterReading.fee_item == fee_item_id,
                                        MeterReading.period == period)
    if existing is not None and Decimal(existing.current) != value:
        raise Conflict(f"账期 {period} 已录入读数 {existing.current}，不能改为 {value}",
                       code="READING_EXISTS", details={"current": str(existing.current)})
    return existing


# --- anomalies -----------------------------------------------------------------

@dataclass(frozen=True)
class Anomaly:
    kind: str               # usage_high | usage_zero
    house_id: int
    fee_item_id: int
    period: str
    usage: Decimal
    average: Decimal | None = None


def recent_usage(house_ids, fee_item_ids, period: str,
                 n: int = HISTORY_READINGS) -> dict[tuple[int, int], list[Decimal]]:
    """(house, item) → usages of up to ``n`` readings before ``period`` (newest
    first, within a year).  One query for a whole chunk of houses."""
    history: dict[tuple[int, int], list[Decimal]] = defaultdict(list)
    if not house_ids or not fee_item_ids:
        return history
    query = (MeterReading
             .select(MeterReading.house, MeterReading.fee_item, MeterReading.usage)
             .where(MeterReading.house.in_(list(house_ids)),
                    MeterReading.fee_item.in_(list(fee_item_ids)),
                    MeterReading.period < period,
                    MeterReading.period >= add_months(period, -HISTORY_WINDOW_MONTHS))
             .order_by(MeterReading.house, MeterReading.fee_item, MeterReading.period.desc()))
    for house_id, item_id, usage in database.execute(query).fetchall():
        usages = history[(house_id, item_id)]
        if len(usages) < n:
            usages.append(usage if isinstance(usage, Decimal) else Decimal(str(usage)))
    return history


def anomaly_kind(usage: Decimal, history: list[Decimal], occupied: bool, factor: Decimal) -> str | None:
    """``usage_high`` above factor × the average of ``history``; ``usage_zero``
    for nothing used in an occupied house."""
    if usage == 0:
        return "usage_zero" if occupied else None
    if history:
        average = sum(history, Decimal(0)) / len(history)
        if average > 0 and usage > factor * average:
            return "usage_high"
    return None


def usage_anomalies(house_id: int, fee_item_id: int, period: str,
                    factor: Decimal | None = None) -> list[Anomaly]:
    """Anomalies of one house's reading for ``period`` (none when not read yet)."""
    from server.config import Config

    factor = Config.METER_ANOMALY_FACTOR if factor is None else to_decimal(factor)
    reading = MeterReading.get_or_none(MeterReading.house == house_id,
                                       MeterReading.fee_item == fee_item_id,
                                       MeterReading.period == period)
    if reading is None:
        return []
    house = House.get_by_id(house_id)
    history = recent_usage([house_id], [fee_item_id], period)[(house_id, fee_item_id)]
    usage = Decimal(reading.usage)
    kind = anomaly_kind(usage, history, house.status == HouseStatus.OCCUPIED, factor)
    if kind is None:
        return []
    average = sum(history, Decimal(0)) / len(history) if history else None
    return [Anomaly(kind, house_id, fee_item_id, period, usage, average)]


# --- a whole entry grid at once ----------------------------------------------------

class _GridRefused(Exception):
    """Raised inside the grid's transaction to roll every row back."""


def record_readings(fee_item_id: int, period: str, entries, read_on: dt.date, actor: audit.Actor,
                    source: str = "manual") -> list[MeterReading]:
    """Record the readings of many houses for one item and period, all or nothing.

    ``entries`` is a list of ``(house_id, current)``.  Every row is checked by
    ``record_reading`` (each in its own savepoint, so one refusal does not stop
    the others being checked); if any row is refused nothing is kept and a
    ValidationError (code ``READINGS_REJECTED``) lists each refused row under
    ``details["rows"][house_id] = {"code", "message", "details"}``.
    """
    from server.errors import DomainError

    entries = list(entries)
    if not entries:
        raise ValidationError("没有填写任何读数", code="NO_READINGS")
    errors: dict[str, dict] = {}
    recorded: list[MeterReading] = []
    try:
        with transaction():
            for house_id, current in entries:
                try:
                    with transaction():
                        recorded.append(record_reading(house_id, fee_item_id, period, current,
                                                       read_on, actor, source))
                except DomainError as exc:
                    errors[str(house_id)] = {"code": exc.code, "message": exc.message,
                                             "details": exc.details}
            if errors:
                raise _GridRefused
    except _GridRefused:
        raise ValidationError(f"{len(entries)} 条读数中有 {len(errors)} 条有问题，全部未保存；请修改后重新提交",
                              code="READINGS_REJECTED", details={"rows": errors}) from None
    return recorded


def _plain(value: Decimal) -> str:
    """A reading as staff typed it: "50.00" and "50" both read "50" (PostgreSQL keeps
    the column's scale, SQLite does not)."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
