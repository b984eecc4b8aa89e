"""Import houses with their registered owner (name and phone).

Columns: 楼栋, 单元 (optional), 房号, 面积, and optionally 业主, 电话, 状态.
Buildings are created as needed in the given community.  A house that already
exists is "unchanged" when the file agrees with it and an error when it does
not; an empty optional cell means "not given" (a new house gets the default,
an existing one is not compared on it).  Lookups are batched: one query for
the community's houses, one for its buildings, inserts in chunks.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from server.audit import Actor
from server.imports import fields as F
from server.imports.common import (HouseKey, ImportSpec, house_index, parse_fields,
                                   parse_house_key, run_import)
from server.imports.report import ImportReport, RowStatus
from server.property.models import Building, Community, House, HouseStatus
from server.timeutil import utcnow

INSERT_CHUNK = 500
_STATUS_NAMES = {HouseStatus.OCCUPIED: "已入住", HouseStatus.VACANT: "空置"}


@dataclass
class HouseRow:
    row: int
    key: HouseKey
    area: Decimal
    owner_name: str | None  # None: not given in the file
    phone: str | None
    status: str | None


def import_houses(source, community, actor: Actor, *, dry_run: bool = False,
                  filename: str | None = None) -> ImportReport:
    """Validate every row of ``source``; unless ``dry_run`` or any row fails,
    create the new houses (and buildings) in one transaction."""
    return run_import(SPEC, source, community, actor, dry_run=dry_run, filename=filename)


def _parse(values: dict, result) -> HouseRow | None:
    key = parse_house_key(values, result)

    def optional(field, parser):
        return lambda: None if F.is_blank(values.get(field)) else parser(values[field])

    parsed = parse_fields(result, {
        "area": lambda: F.decimal(values.get("area"), "area", places=2, max_digits=10,
                                  positive=True),
        "owner_name": optional("owner_name",
                               lambda v: F.text(v, "owner_name", max_length=50)),
        "phone": optional("phone", F.phone),
        "status": optional("status", F.house_status),
    })
    if key is None or parsed is None:
        return None
    return HouseRow(result.row, key, **parsed)


def _differences(existing: dict, row: HouseRow) -> list[str]:
    diffs = []
    if Decimal(existing["floor_area"]) != row.area:
        diffs.append(f"面积 {existing['floor_area']} ≠ {row.area}")
    if row.status is not None and existing["status"] != row.status:
        diffs.append(f"状态 {_STATUS_NAMES[existing['status']]} ≠ {_STATUS_NAMES[row.status]}")
    if row.owner_name is not None and existing["owner_name"] != row.owner_name:
        diffs.append(f"业主 {existing['owner_name'] or '(空)'} ≠ {row.owner_name}")
    if row.phone is not None and existing["owner_phone"] != row.phone:
        diffs.append(f"电话 {existing['owner_phone'] or '(空)'} ≠ {row.phone}")
    return diffs


def _validate(community: Community, fields: set[str], rows, report: ImportReport) -> list[HouseRow]:
    existing = house_index(community)
    first_seen: dict[HouseKey, int] = {}
    plan = []
    for number, values in rows:
        result = report.add_row(number)
        row = _parse(values, result)
        if row is None:
            continue
        if row.key in first_seen:
            result.error("DUPLICATE_IN_FILE", f"与第 {first_seen[row.key]} 行是同一房屋")
            continue
        first_seen[row.key] = number
        current = existing.get(row.key)
        if current is None:
            plan.append(row)
            continue
        diffs = _differences(current, row)
        if diffs:
            result.error("HOUSE_EXISTS_DIFFERENT", "房屋已存在且信息不同：" + "；".join(diffs))
        else:
            result.status = RowStatus.UNCHANGED
    return plan


def _write(community: Community, plan: list[HouseRow], actor: Actor) -> dict[str, int]:
    buildings = {b.name: b.id for b in Building.select(Building.id, Building.name)
                 .where(Building.community == community)}
    new_buildings = sorted({row.key[0] for row in plan} - set(buildings))
    for name in new_buildings:
        buildings[name] = Building.create(community=community, name=name).id
    now = utcnow()
    records = [{
        House.community: community.id,
        House.building: buildings[row.key[0]],
        House.unit: row.key[1],
        House.room_no: row.key[2],
        House.floor_area: row.area,
        House.status: row.status or HouseStatus.OCCUPIED,
        House.owner_name: row.owner_name or "",
        House.owner_phone: row.phone or "",
        House.created_at: now,
    } for row in plan]
    for start in range(0, len(records), INSERT_CHUNK):
        House.insert_many(records[start:start + INSERT_CHUNK]).as_rowcount().execute()
    return {"buildings": len(new_buildings), "houses": len(records)}


SPEC = ImportSpec(
    kind="houses",
    required=("building", "room", "area"),
    optional=("unit", "owner_name", "phone", "status"),
    validate=_validate,
    write=_write,
)
