"""Fee items, fee standards, meters and readings, bills, billing runs, adjustments.

A bill's basis (quantity, unit, unit price, readings, standard version) and its
``amount_fen`` are written once at issue and never change.  What changes after
issue is only the running totals ``adjusted_fen``, ``late_fee_fen`` and
``paid_fen`` and the derived ``status``: each is the sum of append-only rows
(approved adjustments, late-fee accruals, allocations minus refunds), kept on
the bill so lists are cheap, and re-derived by ``wuyepay check-ledger``.
"""
from __future__ import annotations

import peewee as pw

from server.db import BaseModel, JSONField, UTCDateTimeField
from server.property.models import Community, House
from server.staff.models import StaffUser
from server.timeutil import utcnow


class FeeItem(BaseModel):
    """物业费, 停车费, 水费 … per community."""

    community = pw.ForeignKeyField(Community, backref="fee_items", on_delete="RESTRICT")
    code = pw.CharField(max_length=32)
    name = pw.CharField(max_length=50)
    active = pw.BooleanField(default=True)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        indexes = ((("community", "code"), True),)


class Method:
    FIXED = "fixed"          # per house per month
    PER_AREA = "per_area"    # per m² per month
    METERED = "metered"      # per unit of metered usage
    ALL = (FIXED, PER_AREA, METERED)


class Cycle:
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"
    MONTHS = {MONTHLY: 1, QUARTERLY: 3, YEARLY: 12}


class StandardStatus:
    DRAFT = "draft"
    PUBLISHED = "published"


class FeeStandard(BaseModel):
    """A versioned price (收费标准).  Published versions are never edited; a new
    version with a later ``effective_from`` replaces them."""

    fee_item = pw.ForeignKeyField(FeeItem, backref="standards", on_delete="RESTRICT")
    version = pw.IntegerField()
    method = pw.CharField(max_length=16)
    unit_price = pw.DecimalField(max_digits=12, decimal_places=4)
    unit = pw.CharField(max_length=16)  # 月, m²·月, m³, kWh …
    cycle = pw.CharField(max_length=16, default=Cycle.MONTHLY)
    due_day = pw.IntegerField(default=15)
    late_fee_daily_rate = pw.DecimalField(max_digits=8, decimal_places=6, default=0)
    late_fee_grace_days = pw.IntegerField(default=0)
    late_fee_cap_ratio = pw.DecimalField(max_digits=6, decimal_places=4, default=0)
    effective_from = pw.DateField()
    effective_to = pw.DateField(null=True)
    status = pw.CharField(max_length=16, default=StandardStatus.DRAFT)
    note = pw.CharField(max_length=255, default="")
    created_by = pw.ForeignKeyField(StaffUser, null=True, on_delete="RESTRICT")
    created_at = UTCDateTimeField(default=utcnow)
    published_at = UTCDateTimeField(null=True)

    class Meta:
        indexes = ((("fee_item", "version"), True),)


class MeterStatus:
    ACTIVE = "active"
    REPLACED = "replaced"


class Meter(BaseModel):
    """A physical meter.  Replacing one records the old meter's final reading
    and the new meter's start reading, so usage across the swap is exact."""

    house = pw.ForeignKeyField(House, backref="meters", on_delete="RESTRICT")
    fee_item = pw.ForeignKeyField(FeeItem, on_delete="RESTRICT")
    serial = pw.CharField(max_length=64, default="")
    start_reading = pw.DecimalField(max_digits=14, decimal_places=2, default=0)
    installed_on = pw.DateField()
    status = pw.CharField(max_length=16, default=MeterStatus.ACTIVE)
    final_reading = pw.DecimalField(max_digits=14, decimal_places=2, null=True)
    replaced_on = pw.DateField(null=True)
    replaces = pw.ForeignKeyField("self", null=True, on_delete="RESTRICT")
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        indexes = ((("house", "fee_item", "status"), False),)


class MeterReading(BaseModel):
    """The reading that closes ``period`` for one house and metered item."""

    house = pw.ForeignKeyField(House, backref="readings", on_delete="RESTRICT")
    fee_item = pw.ForeignKeyField(FeeItem, on_delete="RESTRICT")
    meter = pw.ForeignKeyField(Meter, on_delete="RESTRICT")
    period = pw.CharField(max_length=7)
    previous = pw.DecimalField(max_digits=14, decimal_places=2)
    current = pw.DecimalField(max_digits=14, decimal_places=2)
    usage = pw.DecimalField(max_digits=14, decimal_places=2)
    read_on = pw.DateField()
    source = pw.CharField(max_length=16, default="manual")
    created_by = pw.ForeignKeyField(StaffUser, null=True, on_delete="RESTRICT")
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        indexes = ((("house", "fee_item", "period"), True),)


class RunStatus:
    PREVIEWED = "previewed"
    ISSUING = "issuing"
    ISSUED = "issued"
    FAILED = "failed"


class BillingRun(BaseModel):
    """One attempt at billing a community for a period.  Each preview and each
    issue is a row; the bills' unique key, not this table, prevents double billing."""

    community = pw.ForeignKeyField(Community, backref="billing_runs", on_delete="RESTRICT")
    period = pw.CharField(max_length=7)
    status = pw.CharField(max_length=16, default=RunStatus.PREVIEWED)
    houses = pw.IntegerField(default=0)
    bills_created = pw.IntegerField(default=0)
    bills_existing = pw.IntegerField(default=0)
    total_fen = pw.BigIntegerField(default=0)
    totals_by_item = JSONField(default=dict)
    problems = JSONField(default=list)
    error = pw.TextField(default="")
    created_by = pw.ForeignKeyField(StaffUser, null=True, on_delete="RESTRICT")
    started_at = UTCDateTimeField(default=utcnow)
    finished_at = UTCDateTimeField(null=True)

    class Meta:
        indexes = ((("community", "period"), False),)


class BillStatus:
    UNPAID = "unpaid"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    WAIVED = "waived"
    VOID = "void"
    OPEN = (UNPAID, PARTIALLY_PAID)
    NAMES = {UNPAID: "未缴", PARTIALLY_PAID: "部分缴纳", PAID: "已缴", WAIVED: "已减免", VOID: "已作废"}


class Bill(BaseModel):
    """应收: one house × one fee item × one period, never edited after issue.

    ``amount_fen`` is the issued principal.  ``adjusted_fen`` (signed),
    ``late_fee_fen`` and ``paid_fen`` are running sums of append-only rows.
    balance = amount + adjusted + late_fee − paid.
    """

    house = pw.ForeignKeyField(House, backref="bills", on_delete="RESTRICT")
    community = pw.ForeignKeyField(Community, on_delete="RESTRICT")
    fee_item = pw.ForeignKeyField(FeeItem, on_delete="RESTRICT")
    standard = pw.ForeignKeyField(FeeStandard, null=True, on_delete="RESTRICT")
    standard_version = pw.IntegerField(null=True)
    period = pw.CharField(max_length=7)
    period_start = pw.DateField()
    period_end = pw.DateField()
    months = pw.IntegerField(default=1)
    method = pw.CharField(max_length=16)
    quantity = pw.DecimalField(max_digits=14, decimal_places=4)
    unit = pw.CharField(max_length=16)
    unit_price = pw.DecimalField(max_digits=12, decimal_places=4)
    meter_reading = pw.ForeignKeyField(MeterReading, null=True, on_delete="RESTRICT")
    previous_reading = pw.DecimalField(max_digits=14, decimal_places=2, null=True)
    current_reading = pw.DecimalField(max_digits=14, decimal_places=2, null=True)
    amount_fen = pw.BigIntegerField()
    adjusted_fen = pw.BigIntegerField(default=0)
    late_fee_fen = pw.BigIntegerField(default=0)
    paid_fen = pw.BigIntegerField(default=0)
    due_date = pw.DateField()
    status = pw.CharField(max_length=16, default=BillStatus.UNPAID, index=True)
    source = pw.CharField(max_length=16, default="run")  # run | import
    billing_run = pw.ForeignKeyField(BillingRun, null=True, on_delete="RESTRICT")
    issued_at = UTCDateTimeField(default=utcnow)
    # Late-fee accrual stops while a dispute is open (set by the dispute service).
    on_hold = pw.BooleanField(default=False)

    class Meta:
        indexes = (
            (("house", "fee_item", "period"), True),
            (("community", "period"), False),
            (("due_date",), False),
        )

    @property
    def total_due_fen(self) -> int:
        return self.amount_fen + self.adjusted_fen + self.late_fee_fen

    @property
    def balance_fen(self) -> int:
        return self.total_due_fen - self.paid_fen


class AdjustmentKind:
    WAIVER = "waiver"          # forgive (part of) what is owed, e.g. a late fee
    DISCOUNT = "discount"      # a granted reduction
    CORRECTION = "correction"  # a mistake in the issued amount, either sign
    VOID = "void"              # cancel an unpaid bill entirely
    ALL = (WAIVER, DISCOUNT, CORRECTION, VOID)


class AdjustmentStatus:
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Adjustment(BaseModel):
    """A signed amount against a bill (negative reduces what is owed).

    Append-only: a request is decided once (approved or rejected); the bill's
    ``adjusted_fen`` is the sum of its approved adjustments.
    """

    bill = pw.ForeignKeyField(Bill, backref="adjustments", on_delete="RESTRICT")
    kind = pw.CharField(max_length=16)
    amount_fen = pw.BigIntegerField()
    reason = pw.CharField(max_length=255)
    status = pw.CharField(max_length=16, default=AdjustmentStatus.PENDING)
    requested_by = pw.ForeignKeyField(StaffUser, null=True, on_delete="RESTRICT")
    decided_by = pw.ForeignKeyField(
        StaffUser, null=True, on_delete="RESTRICT", backref="decided_adjustments"
    )
    decision_note = pw.CharField(max_length=255, default="")
    created_at = UTCDateTimeField(default=utcnow)
    decided_at = UTCDateTimeField(null=True)


class LateFeeAccrual(BaseModel):
    """One day's late fee on one bill: append-only, unique per bill and day."""

    bill = pw.ForeignKeyField(Bill, backref="late_fee_accruals", on_delete="RESTRICT")
    accrual_date = pw.DateField()
    amount_fen = pw.BigIntegerField()
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        indexes = ((("bill", "accrual_date"), True),)
