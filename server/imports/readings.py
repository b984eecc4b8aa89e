"""Import meter readings through ``server.billing.meters.record_reading``.

Columns: 楼栋, 单元 (optional), 房号, 收费项目, 账期, 本期读数, 抄表日期, and
optionally 上期读数.  A house with no meter for the item gets one installed
whose start reading is the 上期读数 of its earliest row in the file; where a
meter exists, a given 上期读数 must agree with what the system holds.

Every row is checked before anything is written, with batch lookups (the
community's houses, fee items, standards, active meters and readings: five
queries): current ≥ previous along the chain of periods (the database's
readings on the active meter, then the file's rows in period order), no
second value for a period already read, no reading slotted in before a later
one.  Writing then goes through ``record_reading`` — the one place that
records a reading — and should it still refuse a row, the whole import is
rolled back and that row reported.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from server.audit import Actor
from server.billing import meters
from server.billing.models import FeeItem, FeeStandard, Meter, MeterReading, MeterStatus, Method
from server.errors import DomainError
from server.imports import fields as F
from server.imports.common import (FeeItemIndex, ImportSpec, RowFailed, house_index,
                                   house_label, parse_fee_item, parse_fields, parse_house_key,
                                   run_import)
from server.imports.report import ImportReport, Message, RowResult, RowStatus
from server.property.models import Community, House
from server.timeutil import period_start

SOURCE_IMPORT = "import"


@dataclass
class ReadingRow:
    result: RowResult
    house_id: int
    fee_item_id: int
    period: str
    current: Decimal
    read_on: dt.date
    previous: Decimal | None


@dataclass
class Install:
    row: int
    house_id: int
    fee_item_id: int
    start_reading: Decimal
    installed_on: dt.date


@dataclass
class Plan:
    installs: list[Install]
    readings: list[ReadingRow]


def import_readings(source, community, actor: Actor, *, dry_run: bool = False,
                    filename: str | None = None) -> ImportReport:
    """Validate every row; unless ``dry_run`` or any row fails, install the
    missing meters and record the readings in one transaction."""
    return run_import(SPEC, source, community, actor, dry_run=dry_run, filename=filename)


def _parse(values: dict, houses, items: FeeItemIndex, metered: dict, result) -> ReadingRow | None:
    key = parse_house_key(values, result)
    item = parse_fee_item(values, items, result)
    parsed = parse_fields(result, {
        "period": lambda: F.period(values.get("period")),
        "current": lambda: F.decimal(values.get("current"), "current", places=2, max_digits=14),
        "read_on": lambda: F.date(values.get("read_on"), "read_on"),
        "previous": lambda: (None if F.is_blank(values.get("previous")) else
                             F.decimal(values["previous"], "previous", places=2, max_digits=14)),
    })
    house = houses.get(key) if key else None
    if key is not None and house is None:
        result.error("HOUSE_NOT_FOUND", f"房屋不存在：{house_label(key)}")
    if item is not None and metered.get(item.id) is False:
        result.error("FEE_ITEM_NOT_METERED", f"收费项目“{item.name}”不是按表计费的项目", "fee_item")
    if house is None or item is None or parsed is None or not result.ok:
        return None
    result.key = f"{house_label(key)} {item.name} {parsed['period']}"
    return ReadingRow(result, house["id"], item.id, **parsed)


def _metered_items(community: Community) -> dict[int, bool]:
    """item id → whether any of its standards is metered (absent: no standard yet)."""
    found: dict[int, bool] = {}
    query = (FeeStandard.select(FeeStandard.fee_item, FeeStandard.method)
             .join(FeeItem).where(FeeItem.community == community).tuples())
    for item_id, method in query:
        found[item_id] = found.get(item_id, False) or method == Method.METERED
    return found


def _load_state(community: Community, item_ids: set[int]):
    """(house, item) → its meters by id, and → its readings by period: two queries."""
    meters_by_pair: dict[tuple, dict[int, dict]] = defaultdict(dict)
    readings: dict[tuple, dict[str, dict]] = defaultdict(dict)
    if not item_ids:
        return meters_by_pair, readings
    meter_query = (Meter.select(Meter.id, Meter.house, Meter.fee_item, Meter.start_reading,
                                Meter.status, Meter.replaces)
                   .join(House)
                   .where(House.community == community, Meter.fee_item.in_(sorted(item_ids)))
                   .dicts())
    for meter in meter_query:
        meters_by_pair[(meter["house"], meter["fee_item"])][meter["id"]] = meter
    reading_query = (MeterReading.select(MeterReading.house, MeterReading.fee_item,
                                         MeterReading.meter, MeterReading.period,
                                         MeterReading.previous, MeterReading.current)
                     .join(House)
                     .where(House.community == community,
                            MeterReading.fee_item.in_(sorted(item_ids)))
                     .dicts())
    for reading in reading_query:
        readings[(reading["house"], reading["fee_item"])][reading["period"]] = reading
    return meters_by_pair, readings


def _validate(community: Community, fields: set[str], rows, report: ImportReport) -> Plan:
    houses = house_index(community)
    items = FeeItemIndex(community)
    metered = _metered_items(community)
    groups: dict[tuple, list[ReadingRow]] = defaultdict(list)
    for number, values in rows:
        result = report.add_row(number)
        row = _parse(values, houses, items, metered, result)
        if row is not None:
            groups[(row.house_id, row.fee_item_id)].append(row)

    meters_by_pair, readings = _load_state(community, {pair[1] for pair in groups})
    plan = Plan([], [])
    for pair, group in groups.items():
        group.sort(key=lambda r: (r.period, r.result.row))
        _check_group(pair, group, _MeterHistory(meters_by_pair.get(pair, {})),
                     readings.get(pair, {}), plan)
    return plan


class _MeterHistory:
    """One house × item's meters: the active one and the first one it replaced."""

    def __init__(self, meters: dict[int, dict]):
        active = [m for m in meters.values() if m["status"] == MeterStatus.ACTIVE]
        self.active = max(active, key=lambda m: m["id"]) if active else None
        root = self.active
        while root is not None and root["replaces"] in meters:
            root = meters[root["replaces"]]
        self.root = root


def _check_group(pair, group: list[ReadingRow], meters: _MeterHistory, existing_readings: dict,
                 plan: Plan) -> None:
    """Walk one house × item's rows in period order as ``record_reading`` will:
    the chain is the database's readings, then the file's earlier rows."""
    active = meters.active
    # period → (current, meter id; None for a meter this import installs)
    chain = {p: (r["current"], r["meter"]) for p, r in existing_readings.items()}
    seen: dict[str, int] = {}
    installing = False
    for row in group:
        result = row.result
        if row.period in seen:
            result.error("DUPLICATE_IN_FILE", f"与第 {seen[row.period]} 行是同一房屋、项目和账期")
            continue
        seen[row.period] = result.row
        existing = existing_readings.get(row.period)
        if existing is not None:
            if existing["current"] != row.current:
                result.error("READING_EXISTS",
                             f"该账期已有读数 {existing['current']}，与文件中的 {row.current} 不同",
                             "current")
            elif row.previous is not None and existing["previous"] != row.previous:
                result.error("PREVIOUS_MISMATCH",
                             f"上期读数 {row.previous} 与系统记录 {existing['previous']} 不符",
                             "previous")
            else:
                result.status = RowStatus.UNCHANGED
            continue
        later = [p for p in chain if p > row.period]
        if later:
            result.error("READING_OUT_OF_ORDER", f"已有更晚账期 {max(later)} 的读数，不能补录更早的账期")
            continue
        earlier = [p for p in chain if p < row.period]
        if active is None and not installing:
            if row.previous is None:
                result.error("NO_METER", "该房屋尚无此项目的表，首个账期需填写上期读数作为新表起始读数",
                             "previous")
                continue
            plan.installs.append(Install(result.row, pair[0], pair[1], row.previous,
                                         min(row.read_on, period_start(row.period))))
            result.messages.append(Message("METER_INSTALLED", f"将登记新表，起始读数 {row.previous}"))
            installing = True
            expected = floor = row.previous
        elif earlier:
            expected, meter_id = chain[max(earlier)]
            # After a meter swap usage restarts at the new meter's start reading.
            on_active = active is None or meter_id in (None, active["id"])
            floor = expected if on_active else active["start_reading"]
        else:
            expected, floor = meters.root["start_reading"], active["start_reading"]
        if row.previous is not None and row.previous != expected:
            result.error("PREVIOUS_MISMATCH", f"上期读数 {row.previous} 与系统记录 {expected} 不符",
                         "previous")
            continue
        if row.current < floor:
            result.error("READING_DECREASED",
                         f"本期读数 {row.current} 小于上期读数 {floor}（如已换表，请先登记换表）",
                         "current")
            continue
        chain[row.period] = (row.current, None)
        plan.readings.append(row)


def _write(community: Community, plan: Plan, actor: Actor) -> dict[str, int]:
    for install in plan.installs:
        try:
            meters.install_meter(install.house_id, install.fee_item_id, install.start_reading,
                                 install.installed_on, actor=actor)
        except DomainError as exc:
            raise RowFailed(install.row, exc.code, exc.message) from exc
    for row in plan.readings:
        try:
            meters.record_reading(row.house_id, row.fee_item_id, row.period, row.current,
                                  row.read_on, actor, source=SOURCE_IMPORT)
        except DomainError as exc:
            raise RowFailed(row.result.row, exc.code, exc.message) from exc
    return {"meters": len(plan.installs), "readings": len(plan.readings)}


SPEC = ImportSpec(
    kind="readings",
    required=("building", "room", "fee_item", "period", "current", "read_on"),
    optional=("unit", "previous"),
    validate=_validate,
    write=_write,
    is_empty=lambda plan: not plan.installs and not plan.readings,
)
