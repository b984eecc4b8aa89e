"""Import opening arrears: what each house still owed on the day of go-live.

Columns: 楼栋, 单元 (optional), 房号, 收费项目, 账期, 金额 (yuan, exact to the
fen), 到期日.  Each row becomes one unpaid ``Bill`` with ``source='import'``,
no fee standard, and a basis that reads as what it is: quantity 1, unit '期',
unit price = the amount in yuan.  A bill for the same house, item and period
that already exists is "unchanged" when it is this same imported bill (same
amount and due date) and an error otherwise — the unique (house, fee item,
period) key never lets an import bill a house twice.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from server.audit import Actor
from server.billing.models import Bill, BillStatus, Method
from server.imports import fields as F
from server.imports.common import (FeeItemIndex, ImportSpec, house_index, house_label,
                                   parse_fee_item, parse_fields, parse_house_key, run_import)
from server.imports.report import ImportReport, RowStatus
from server.money import fen_to_yuan, format_yuan
from server.property.models import Community
from server.timeutil import period_end, period_start, utcnow

SOURCE_IMPORT = "import"
IMPORT_UNIT = "期"
INSERT_CHUNK = 500


@dataclass
class ArrearsRow:
    row: int
    house_id: int
    fee_item_id: int
    period: str
    amount_fen: int
    due_date: dt.date


def import_arrears(source, community, actor: Actor, *, dry_run: bool = False,
                   filename: str | None = None) -> ImportReport:
    """Validate every row; unless ``dry_run`` or any row fails, create the
    opening-arrears bills in one transaction."""
    return run_import(SPEC, source, community, actor, dry_run=dry_run, filename=filename)


def _existing_bills(community: Community, periods: set[str]) -> dict[tuple, dict]:
    if not periods:
        return {}
    query = (Bill
             .select(Bill.id, Bill.house, Bill.fee_item, Bill.period, Bill.amount_fen,
                     Bill.due_date, Bill.source)
             .where(Bill.community == community, Bill.period.in_(sorted(periods)))
             .dicts())
    return {(b["house"], b["fee_item"], b["period"]): b for b in query}


def _validate(community: Community, fields: set[str], rows, report: ImportReport) -> list[ArrearsRow]:
    houses = house_index(community)
    items = FeeItemIndex(community)
    parsed_rows = []
    for number, values in rows:
        result = report.add_row(number)
        key = parse_house_key(values, result)
        item = parse_fee_item(values, items, result)
        parsed = parse_fields(result, {
            "period": lambda: F.period(values.get("period")),
            "amount": lambda: F.amount_fen(values.get("amount")),
            "due_date": lambda: F.date(values.get("due_date"), "due_date"),
        })
        house = houses.get(key) if key else None
        if key is not None and house is None:
            result.error("HOUSE_NOT_FOUND", f"房屋不存在：{house_label(key)}")
        if house is None or item is None or parsed is None:
            continue
        result.key = f"{house_label(key)} {item.name} {parsed['period']}"
        parsed_rows.append((result, ArrearsRow(number, house["id"], item.id, parsed["period"],
                                               parsed["amount"], parsed["due_date"])))

    existing = _existing_bills(community, {row.period for _, row in parsed_rows})
    first_seen: dict[tuple, int] = {}
    plan = []
    for result, row in parsed_rows:
        bill_key = (row.house_id, row.fee_item_id, row.period)
        if bill_key in first_seen:
            result.error("DUPLICATE_IN_FILE", f"与第 {first_seen[bill_key]} 行是同一房屋、项目和账期")
            continue
        first_seen[bill_key] = row.row
        bill = existing.get(bill_key)
        if bill is None:
            plan.append(row)
        elif (bill["source"] == SOURCE_IMPORT and bill["amount_fen"] == row.amount_fen
              and bill["due_date"] == row.due_date):
            result.status = RowStatus.UNCHANGED
        else:
            result.error("BILL_EXISTS",
                         f"该房屋此项目此账期已有账单（来源 {bill['source']}，金额 "
                         f"{format_yuan(bill['amount_fen'])} 元，到期日 {bill['due_date']}）")
    return plan


def _write(community: Community, plan: list[ArrearsRow], actor: Actor) -> dict[str, int]:
    now = utcnow()
    records = [{
        Bill.house: row.house_id,
        Bill.community: community.id,
        Bill.fee_item: row.fee_item_id,
        Bill.standard: None,
        Bill.standard_version: None,
        Bill.period: row.period,
        Bill.period_start: period_start(row.period),
        Bill.period_end: period_end(row.period),
        Bill.months: 1,
        # 1 期 × the amount: the fixed-quantity basis, stated honestly.
        Bill.method: Method.FIXED,
        Bill.quantity: Decimal(1),
        Bill.unit: IMPORT_UNIT,
        Bill.unit_price: fen_to_yuan(row.amount_fen),
        Bill.amount_fen: row.amount_fen,
        Bill.adjusted_fen: 0,
        Bill.late_fee_fen: 0,
        Bill.paid_fen: 0,
        Bill.due_date: row.due_date,
        Bill.status: BillStatus.UNPAID,
        Bill.source: SOURCE_IMPORT,
        Bill.issued_at: now,
        Bill.on_hold: False,
    } for row in plan]
    for start in range(0, len(records), INSERT_CHUNK):
        Bill.insert_many(records[start:start + INSERT_CHUNK]).as_rowcount().execute()
    return {"bills": len(records), "amount_fen": sum(row.amount_fen for row in plan)}


SPEC = ImportSpec(
    kind="arrears",
    required=("building", "room", "fee_item", "period", "amount", "due_date"),
    optional=("unit",),
    validate=_validate,
    write=_write,
)
