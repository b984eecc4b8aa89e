"""Read-side queries for the staff billing pages: filtered bill lists and their
totals, a bill's whole history, meter-reading grids, runs and adjustments.

Every list is one SELECT with its joins (no query per row); totals are sums of
the stored integer fen done by the database.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import peewee as pw

from server.audit import AuditLog
from server.billing import meters
from server.billing.models import (Adjustment, Bill, BillingRun, BillStatus, FeeItem, FeeStandard,
                                   LateFeeAccrual, Meter, MeterReading, MeterStatus, Method)
from server.property.models import Building, Community, House, HouseStatus
from server.staff.models import StaffUser

OPEN = "open"


# --- bills -------------------------------------------------------------------------

@dataclass
class BillFilters:
    community_ids: list[int]
    building_id: int | None = None
    house_id: int | None = None
    period: str | None = None
    fee_item_id: int | None = None
    status: str | None = None       # a BillStatus or "open"
    overdue_on: dt.date | None = None  # only open bills due before this day


def _filtered(query, f: BillFilters):
    query = query.where(Bill.community.in_(f.community_ids or [0]))
    if f.building_id:
        query = query.where(House.building == f.building_id)
    if f.house_id:
        query = query.where(Bill.house == f.house_id)
    if f.period:
        query = query.where(Bill.period == f.period)
    if f.fee_item_id:
        query = query.where(Bill.fee_item == f.fee_item_id)
    if f.status == OPEN:
        query = query.where(Bill.status.in_(BillStatus.OPEN))
    elif f.status:
        query = query.where(Bill.status == f.status)
    if f.overdue_on:
        query = query.where(Bill.status.in_(BillStatus.OPEN), Bill.due_date < f.overdue_on)
    return query


class _KeysFirst(pw.ModelSelect):
    """A list sorted on joined columns whose page (``paginate``) is found on the sort keys
    and ids alone, then read in full for those ids: the database sorts narrow rows
    instead of every column of five tables (a deep page of a big list)."""

    def paginate(self, page, paginate_by=20):
        ids = pw.ModelSelect.paginate(self.select(self.model.id), page, paginate_by)
        return self.where(self.model.id.in_(ids))


def bills(f: BillFilters):
    """Bills with house, building, fee item and community: one SELECT.

    The joins are LEFT OUTER on NOT NULL foreign keys (the same rows as inner joins),
    so the database drops the unused ones when the list is counted (``paginate``)."""
    left = pw.JOIN.LEFT_OUTER
    # A bill's house is in the bill's community: saying so lets the database read only
    # those communities' houses (index) instead of all of them.
    in_scope = House.community.in_(f.community_ids or [0])
    query = (_KeysFirst(Bill, (Bill, House, Building, FeeItem, Community))
             .join(House, left, on=((Bill.house == House.id) & in_scope))
             .join(Building, left, on=(House.building == Building.id))
             .switch(Bill).join(FeeItem, left, on=(Bill.fee_item == FeeItem.id))
             .switch(Bill).join(Community, left, on=(Bill.community == Community.id)))
    return _filtered(query, f).order_by(Bill.period.desc(), Building.name, House.unit, House.room_no,
                                        FeeItem.code, Bill.id)


def bill_totals(f: BillFilters) -> dict:
    """Count and fen sums of the filtered set (balance = due − paid)."""
    s = pw.fn.SUM
    query = (Bill.select(pw.fn.COUNT(Bill.id), s(Bill.amount_fen), s(Bill.adjusted_fen),
                         s(Bill.late_fee_fen), s(Bill.paid_fen))
             .join(House, pw.JOIN.LEFT_OUTER, on=(Bill.house == House.id)))  # dropped unless filtered
    count, amount, adjusted, late, paid = _filtered(query, f).tuples().get()
    totals = {"count": int(count or 0), "amount_fen": int(amount or 0),
              "adjusted_fen": int(adjusted or 0), "late_fee_fen": int(late or 0),
              "paid_fen": int(paid or 0)}
    totals["balance_fen"] = (totals["amount_fen"] + totals["adjusted_fen"] + totals["late_fee_fen"]
                             - totals["paid_fen"])
    return totals


def bill_with_basis(bill_id: int) -> Bill | None:
    """A bill with its house, building, community, fee item, standard and reading."""
    return (Bill.select(Bill, House, Building, FeeItem, Community, FeeStandard, MeterReading)
            .join(House, on=(Bill.house == House.id))
            .join(Building, on=(House.building == Building.id))
            .switch(Bill).join(FeeItem, on=(Bill.fee_item == FeeItem.id))
            .switch(Bill).join(Community, on=(Bill.community == Community.id))
            .switch(Bill).join(FeeStandard, pw.JOIN.LEFT_OUTER, on=(Bill.standard == FeeStandard.id))
            .switch(Bill).join(MeterReading, pw.JOIN.LEFT_OUTER,
                               on=(Bill.meter_reading == MeterReading.id))
            .where(Bill.id == bill_id).first())


@dataclass
class BillHistory:
    adjustments: list = field(default_factory=list)
    accruals: list = field(default_factory=list)
    accrual_days: int = 0
    accrual_total_fen: int = 0
    allocations: list = field(default_factory=list)
    refunds: list = field(default_factory=list)
    reminders: list = field(default_factory=list)
    disputes: list = field(default_factory=list)
    audit: list = field(default_factory=list)


def bill_history(bill_id: int, accruals_shown: int = 31) -> BillHistory:
    """Everything that happened to a bill after issue: a fixed number of queries."""
    from server.disputes.models import Dispute
    from server.ledger.models import Allocation, Payment, Refund
    from server.property.models import Owner
    from templates_msg.models import ReminderLog

    h = BillHistory()
    requester, decider = StaffUser.alias(), StaffUser.alias()
    h.adjustments = list(
        Adjustment.select(Adjustment, requester, decider)
        .join(requester, pw.JOIN.LEFT_OUTER, on=(Adjustment.requested_by == requester.id))
        .switch(Adjustment).join(decider, pw.JOIN.LEFT_OUTER, on=(Adjustment.decided_by == decider.id))
        .where(Adjustment.bill == bill_id).order_by(Adjustment.created_at, Adjustment.id))
    h.accruals = list(LateFeeAccrual.select().where(LateFeeAccrual.bill == bill_id)
                      .order_by(LateFeeAccrual.accrual_date.desc()).limit(accruals_shown))
    days, total = (LateFeeAccrual.select(pw.fn.COUNT(LateFeeAccrual.id),
                                         pw.fn.SUM(LateFeeAccrual.amount_fen))
                   .where(LateFeeAccrual.bill == bill_id).tuples().get())
    h.accrual_days, h.accrual_total_fen = int(days or 0), int(total or 0)
    h.allocations = list(Allocation.select(Allocation, Payment).join(Payment)
                         .where(Allocation.bill == bill_id)
                         .order_by(Payment.received_at, Allocation.id))
    h.refunds = list(Refund.select().where(Refund.bill == bill_id).order_by(Refund.created_at, Refund.id))
    h.reminders = list(ReminderLog.select(ReminderLog, Owner).join(Owner)
                       .where(ReminderLog.bill == bill_id).order_by(ReminderLog.sent_at, ReminderLog.id))
    h.disputes = list(Dispute.select(Dispute, Owner).join(Owner)
                      .where(Dispute.bill == bill_id).order_by(Dispute.created_at, Dispute.id))
    related = [("bill", [bill_id]), ("adjustment", [a.id for a in h.adjustments]),
               ("refund", [r.id for r in h.refunds]), ("dispute", [d.id for d in h.disputes])]
    condition = None
    for entity, ids in related:
        if ids:
            term = (AuditLog.entity == entity) & AuditLog.entity_id.in_([str(i) for i in ids])
            condition = term if condition is None else condition | term
    h.audit = list(AuditLog.select().where(condition).order_by(AuditLog.at, AuditLog.id))
    return h


# --- meter readings ----------------------------------------------------------------

def metered_items(community_ids: list[int]):
    """Fee items with a metered standard, in the given communities."""
    return (FeeItem.select(FeeItem, Community).join(Community)
            .where(FeeItem.community.in_(community_ids or [0]),
                   FeeItem.id.in_(FeeStandard.select(FeeStandard.fee_item)
                                  .where(FeeStandard.method == Method.METERED)))
            .order_by(Community.code, FeeItem.code))


def grid_meters(community_id: int, fee_item_id: int, building_id: int | None = None):
    """Active meters of one item, with house and building, in room order (paginate it)."""
    query = (Meter.select(Meter, House, Building)
             .join(House, on=(Meter.house == House.id))
             .join(Building, on=(House.building == Building.id))
             .where(House.community == community_id, Meter.fee_item == fee_item_id,
                    Meter.status == MeterStatus.ACTIVE))
    if building_id:
        query = query.where(House.building == building_id)
    return query.order_by(Building.name, House.unit, House.room_no, Meter.id)


@dataclass
class GridRow:
    meter: Meter
    house: House
    previous: Decimal
    previous_on: dt.date | None
    previous_period: str | None
    reading: MeterReading | None = None   # this period's, if recorded
    anomaly: str | None = None
    swapped: bool = False                 # the meter was replaced after the last reading


def reading_grid(meters_page: list[Meter], fee_item_id: int, period: str,
                 factor: Decimal) -> list[GridRow]:
    """One row per meter: the reading before ``period`` (or the meter's start), this
    period's reading if any and its anomaly flag.  Three queries for the page."""
    house_ids = [m.house_id for m in meters_page]
    last: dict[int, MeterReading] = {}
    for r in (MeterReading.select().where(MeterReading.house.in_(house_ids or [0]),
                                          MeterReading.fee_item == fee_item_id,
                                          MeterReading.period < period)
              .order_by(MeterReading.house, MeterReading.period.desc())):
        last.setdefault(r.house_id, r)
    this = {r.house_id: r for r in MeterReading.select().where(
        MeterReading.house.in_(house_ids or [0]), MeterReading.fee_item == fee_item_id,
        MeterReading.period == period)}
    history = meters.recent_usage(house_ids, [fee_item_id], period)
    rows = []
    for m in meters_page:
        before = last.get(m.house_id)
        swapped = before is not None and before.meter_id != m.id
        if before is None or swapped:
            row = GridRow(m, m.house, Decimal(m.start_reading), m.installed_on, None, swapped=swapped)
        else:
            row = GridRow(m, m.house, Decimal(before.current), before.read_on, before.period)
        row.reading = this.get(m.house_id)
        if row.reading is not None:
            row.anomaly = meters.anomaly_kind(Decimal(row.reading.usage),
                                              history.get((m.house_id, fee_item_id), []),
                                              m.house.status == HouseStatus.OCCUPIED, factor)
        rows.append(row)
    return rows


def readings(community_ids: list[int], fee_item_id: int | None = None, period: str | None = None):
    """Recorded readings, newest first, with house, building, item and who entered them."""
    query = (MeterReading.select(MeterReading, House, Building, FeeItem, StaffUser)
             .join(House, on=(MeterReading.house == House.id))
             .join(Building, on=(House.building == Building.id))
             .switch(MeterReading).join(FeeItem, on=(MeterReading.fee_item == FeeItem.id))
             .switch(MeterReading).join(StaffUser, pw.JOIN.LEFT_OUTER,
                                        on=(MeterReading.created_by == StaffUser.id))
             .where(House.community.in_(community_ids or [0])))
    if fee_item_id:
        query = query.where(MeterReading.fee_item == fee_item_id)
    if period:
        query = query.where(MeterReading.period == period)
    return query.order_by(MeterReading.created_at.desc(), MeterReading.id.desc())


# --- runs and adjustments ------------------------------------------------------------

def runs(community_ids: list[int], status: str | None = None):
    query = (BillingRun.select(BillingRun, Community, StaffUser)
             .join(Community, on=(BillingRun.community == Community.id))
             .switch(BillingRun).join(StaffUser, pw.JOIN.LEFT_OUTER,
                                      on=(BillingRun.created_by == StaffUser.id))
             .where(BillingRun.community.in_(community_ids or [0])))
    if status:
        query = query.where(BillingRun.status == status)
    return query.order_by(BillingRun.started_at.desc(), BillingRun.id.desc())


def adjustments(community_ids: list[int], status: str | None = None):
    """Adjustments with their bill, house, building, fee item, requester and decider."""
    requester, decider = StaffUser.alias(), StaffUser.alias()
    query = (Adjustment.select(Adjustment, Bill, House, Building, FeeItem, requester, decider)
             .join(Bill, on=(Adjustment.bill == Bill.id))
             .join(House, on=(Bill.house == House.id))
             .join(Building, on=(House.building == Building.id))
             .switch(Bill).join(FeeItem, on=(Bill.fee_item == FeeItem.id))
             .switch(Adjustment).join(requester, pw.JOIN.LEFT_OUTER,
                                      on=(Adjustment.requested_by == requester.id))
             .switch(Adjustment).join(decider, pw.JOIN.LEFT_OUTER,
                                      on=(Adjustment.decided_by == decider.id))
             .where(Bill.community.in_(community_ids or [0])))
    if status:
        query = query.where(Adjustment.status == status)
    return query.order_by(Adjustment.created_at.desc(), Adjustment.id.desc())
