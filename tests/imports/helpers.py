"""Files written the way staff produce them, and the little data the import tests need."""
from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook

from server.audit import Actor
from server.billing.models import FeeItem
from server.models import ALL_MODELS
from server.property.models import Building, Community, House
from tests import factories

ACTOR = Actor.system("test-import")


def write_csv(path: Path, rows: list[list], encoding: str = "utf-8-sig") -> Path:
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, rows: list[list]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def write_table(path: Path, rows: list[list]) -> Path:
    return write_xlsx(path, rows) if path.suffix == ".xlsx" else write_csv(path, rows)


def table_counts() -> dict[str, int]:
    """Rows per table: "writes nothing" means this does not change."""
    return {m._meta.table_name: m.select().count() for m in ALL_MODELS}


def community(code: str = "HY", name: str = "和园") -> Community:
    return factories.community(name=name, code=code)


def fee_item(comm: Community, code: str, name: str, method: str | None = None) -> FeeItem:
    item = factories.fee_item(comm, code, name)
    if method:
        factories.standard(item, method, "3.5")
    return item


def house(comm: Community, building: str = "1栋", unit: str = "1单元", room: str = "101",
          area: str = "89.50", owner_name: str = "张三", phone: str = "13800138000") -> House:
    """A house at a named building and unit with its registered owner."""
    b, _ = Building.get_or_create(community=comm, name=building)
    return House.create(community=comm, building=b, unit=unit, room_no=room,
                        floor_area=Decimal(area), owner_name=owner_name, owner_phone=phone)


def bill(h: House, item: FeeItem, period: str, amount_fen: int, *, due_date=None, **values):
    if due_date is not None:
        values["due_date"] = due_date
    return factories.bill(h, item, period=period, amount_fen=amount_fen, **values)
