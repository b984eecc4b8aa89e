"""Exports of bills and of arrears to CSV or XLSX, with Chinese headers.

Amounts are stored as integer fen and written as yuan strings with two
decimals (``format_yuan``), so a column's total in the file is exactly the
sum of the fen in the database.  Rows are streamed from the database
(``.iterator()``) into a streaming writer.

Arrears are the open bills (unpaid or partially paid) with a balance above
zero, grouped per house: one line per bill with its days overdue and ageing
bucket as of a date, then a 小计 line per house and one 合计 line at the end.
"""
from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from server.billing.models import Bill, BillStatus, FeeItem
from server.errors import ValidationError
from server.imports.common import resolve_community
from server.imports.writers import format_for, safe_text, table_writer
from server.money import format_yuan
from server.property.models import Building, Community, House
from server.timeutil import PeriodError, local_today, parse_period

STATUS_LABELS = BillStatus.NAMES
SOURCE_LABELS = {"run": "计费", "import": "导入"}
BILL_HEADERS = ["楼栋", "单元", "房号", "业主", "收费项目", "账期", "数量", "单位", "单价(元)",
                "应收金额(元)", "调整金额(元)", "滞纳金(元)", "已缴金额(元)", "欠费金额(元)",
                "到期日", "状态", "来源"]
ARREARS_HEADERS = ["楼栋", "单元", "房号", "业主", "电话", "收费项目", "账期", "到期日",
                   "逾期天数", "账龄", "欠费金额(元)"]
SUBTOTAL, GRAND_TOTAL = "小计", "合计"
# (upper bound in days overdue, label); the last bucket has no bound.
AGEING_BUCKETS = ((0, "未到期"), (30, "1-30天"), (90, "31-90天"), (180, "91-180天"),
                  (365, "181-365天"), (None, "365天以上"))


@dataclass
class ExportSummary:
    path: str
    format: str
    rows: int = 0
    totals: dict[str, int] = field(default_factory=dict)


def ageing_bucket(days_overdue: int) -> str:
    for bound, label in AGEING_BUCKETS:
        if bound is None or days_overdue <= bound:
            return label
    raise AssertionError("unreachable")


def _balance():
    return Bill.amount_fen + Bill.adjusted_fen + Bill.late_fee_fen - Bill.paid_fen


def _bill_query(community: Community):
    return _bill_select().where(Bill.community == community)


def _bill_select():
    return (Bill
            .select(Bill.id, Bill.period, Bill.quantity, Bill.unit, Bill.unit_price,
                    Bill.amount_fen, Bill.adjusted_fen, Bill.late_fee_fen, Bill.paid_fen,
                    Bill.due_date, Bill.status, Bill.source, Bill.house,
                    House.unit.alias("house_unit"), House.room_no, House.owner_name,
                    House.owner_phone, Building.name.alias("building"),
                    FeeItem.name.alias("fee_item"))
            .join(House, on=(Bill.house == House.id))
            .join(Building, on=(House.building == Building.id))
            .switch(Bill)
            .join(FeeItem, on=(Bill.fee_item == FeeItem.id)))


def _check_filters(period_from, period_to, statuses) -> list[str] | None:
    for value in (period_from, period_to):
        if value:
            try:
                parse_period(value)
            except PeriodError:
                raise ValidationError(f"账期“{value}”格式不对，应为 YYYY-MM（如 2026-11）",
                                      code="BAD_PERIOD") from None
    if not statuses:
        return None
    wanted = []
    for status in statuses:
        if status == "open":
            wanted.extend(BillStatus.OPEN)
        elif status in STATUS_LABELS:
            wanted.append(status)
        else:
            raise ValidationError(f"账单状态“{status}”无效，应为 open（未缴清）或 "
                                  f"{'、'.join(STATUS_LABELS)} 之一", code="BAD_STATUS",
                                  details={"allowed": [*STATUS_LABELS, "open"]})
    return wanted


def bill_rows(community, *, period_from: str | None = None, period_to: str | None = None,
              statuses: list[str] | None = None) -> Iterator[dict]:
    """The community's bills, filtered, in house and period order, as dicts."""
    community = resolve_community(community)
    wanted = _check_filters(period_from, period_to, statuses)
    query = _bill_query(community)
    if period_from:
        query = query.where(Bill.period >= period_from)
    if period_to:
        query = query.where(Bill.period <= period_to)
    if wanted is not None:
        query = query.where(Bill.status.in_(wanted))
    query = query.order_by(Building.name, House.unit, House.room_no, Bill.period, FeeItem.name,
                           Bill.id)
    return query.dicts().iterator()


def export_bills(path: str | Path, community, *, fmt: str | None = None,
                 period_from: str | None = None, period_to: str | None = None,
                 statuses: list[str] | None = None) -> ExportSummary:
    fmt = format_for(path, fmt)
    rows = bill_rows(community, period_from=period_from, period_to=period_to, statuses=statuses)
    summary = ExportSummary(str(path), fmt)
    keys = ("amount_fen", "adjusted_fen", "late_fee_fen", "paid_fen", "balance_fen")
    totals = dict.fromkeys(keys, 0)
    with table_writer(path, fmt, BILL_HEADERS, sheet_title="账单") as out:
        for b in rows:
            balance = b["amount_fen"] + b["adjusted_fen"] + b["late_fee_fen"] - b["paid_fen"]
            out.write([
                safe_text(b["building"]), safe_text(b["house_unit"]), safe_text(b["room_no"]),
                safe_text(b["owner_name"]), safe_text(b["fee_item"]), b["period"],
                f"{b['quantity']:f}", b["unit"], f"{b['unit_price']:f}",
                format_yuan(b["amount_fen"]), format_yuan(b["adjusted_fen"]),
                format_yuan(b["late_fee_fen"]), format_yuan(b["paid_fen"]), format_yuan(balance),
                b["due_date"], STATUS_LABELS.get(b["status"], b["status"]),
                SOURCE_LABELS.get(b["source"], b["source"]),
            ])
            summary.rows += 1
            for key, value in zip(keys, (b["amount_fen"], b["adjusted_fen"], b["late_fee_fen"],
                                         b["paid_fen"], balance)):
                totals[key] += value
    summary.totals = totals
    return summary


@dataclass
class ArrearsLine:
    bill_id: int
    fee_item: str
    period: str
    due_date: dt.date
    balance_fen: int
    days_overdue: int

    @property
    def bucket(self) -> str:
        return ageing_bucket(self.days_overdue)


@dataclass
class HouseArrears:
    house_id: int
    building: str
    unit: str
    room_no: str
    owner_name: str
    owner_phone: str
    lines: list[ArrearsLine]

    @property
    def total_fen(self) -> int:
        return sum(line.balance_fen for line in self.lines)

    @property
    def max_days_overdue(self) -> int:
        return max(line.days_overdue for line in self.lines)


def _open_with_balance(community_ids: list[int]):
    return (Bill.community.in_(community_ids), Bill.status.in_(BillStatus.OPEN), _balance() > 0)


def _arrears_groups(community_ids: list[int], as_of: dt.date) -> Iterator[tuple[int, HouseArrears]]:
    """(community id, house arrears) for every house of these communities that owes,
    in community code order then house order: one streamed query whatever the count."""
    query = (_bill_select()
             .select_extend(Bill.community)
             .join(Community, on=(Bill.community == Community.id))
             .where(*_open_with_balance(community_ids))
             .order_by(Community.code, Building.name, House.unit, House.room_no, Bill.house,
                       Bill.period, FeeItem.name, Bill.id)
             .dicts().iterator())
    for (community_id, house_id), bills in itertools.groupby(
            query, key=lambda b: (b["community"], b["house"])):
        bills = list(bills)
        first = bills[0]
        yield community_id, HouseArrears(
            house_id, first["building"], first["house_unit"], first["room_no"],
            first["owner_name"], first["owner_phone"],
            [ArrearsLine(b["id"], b["fee_item"], b["period"], b["due_date"],
                         b["amount_fen"] + b["adjusted_fen"] + b["late_fee_fen"] - b["paid_fen"],
                         max(0, (as_of - b["due_date"]).days))
             for b in bills])


def arrears_by_house(community, as_of: dt.date | None = None) -> Iterator[HouseArrears]:
    """Open bills with a balance, grouped per house, aged as of ``as_of``
    (default: today in Shanghai)."""
    community = resolve_community(community)
    for _, house in _arrears_groups([community.id], as_of or local_today()):
        yield house


def _house_rows(houses: Iterator[HouseArrears], summary: ExportSummary) -> Iterator[list]:
    summary.totals = {"houses": 0, "bills": 0, "balance_fen": 0}
    for house in houses:
        who = [safe_text(house.building), safe_text(house.unit), safe_text(house.room_no),
               safe_text(house.owner_name), house.owner_phone]
        for line in house.lines:
            yield who + [safe_text(line.fee_item), line.period, line.due_date,
                         line.days_overdue, line.bucket, format_yuan(line.balance_fen)]
        yield who + [SUBTOTAL, "", "", house.max_days_overdue,
                     ageing_bucket(house.max_days_overdue), format_yuan(house.total_fen)]
        summary.rows += len(house.lines) + 1
        summary.totals["houses"] += 1
        summary.totals["bills"] += len(house.lines)
        summary.totals["balance_fen"] += house.total_fen
    yield ["", "", "", "", "", GRAND_TOTAL, "", "", "", f"{summary.totals['houses']} 户",
           format_yuan(summary.totals["balance_fen"])]
    summary.rows += 1


def arrears_lines(community, as_of: dt.date | None = None,
                  summary: ExportSummary | None = None) -> Iterator[list]:
    """The rows of the arrears export (``ARREARS_HEADERS``): each open bill, a 小计
    per house, one 合计 at the end; ``summary`` (if given) counts rows and totals."""
    community = resolve_community(community)
    summary = summary or ExportSummary("", "")
    yield from _house_rows(arrears_by_house(community, as_of), summary)


def arrears_lines_by_community(communities: list[Community],
                               as_of: dt.date | None = None) -> Iterator[tuple[Community, list]]:
    """``arrears_lines`` of several communities (in the given order, which must be by
    code) from one streamed query: (community, row) pairs, a 合计 per community."""
    groups = _arrears_groups([c.id for c in communities], as_of or local_today())
    pending = next(groups, None)
    for community in communities:
        def houses():
            nonlocal pending
            while pending is not None and pending[0] == community.id:
                yield pending[1]
                pending = next(groups, None)

        for row in _house_rows(houses(), ExportSummary("", "")):
            yield community, row


def arrears_line_count(community) -> int:
    """How many rows ``arrears_lines`` yields for ``community`` (bills + houses + 合计)."""
    community = resolve_community(community)
    return arrears_line_count_many([community.id])


def arrears_line_count_many(community_ids: list[int]) -> int:
    """Rows of the arrears export of these communities (bills + houses + one 合计 each):
    two COUNT queries, for a progress bar or the choice to export in a task."""
    open_bills = Bill.select().where(*_open_with_balance(community_ids))
    bills = open_bills.count()
    houses = open_bills.select(Bill.house).distinct().count() if bills else 0
    return bills + houses + len(community_ids)


def export_arrears(path: str | Path, community, *, as_of: dt.date | None = None,
                   fmt: str | None = None) -> ExportSummary:
    fmt = format_for(path, fmt)
    community = resolve_community(community)
    summary = ExportSummary(str(path), fmt)
    with table_writer(path, fmt, ARREARS_HEADERS, sheet_title="欠费") as out:
        for row in arrears_lines(community, as_of, summary):
            out.write(row)
    return summary
