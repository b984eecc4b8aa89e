"""Bills, billing runs, meter readings and adjustments."""
from __future__ import annotations

from server.admin_api.schemas.common import (DecimalOut, Field, Id, Json, ListQuery, Literal, Period,
                                             RequestBody, ResponseModel, Text, Timestamp, dt)

BillStatusName = Literal["unpaid", "partially_paid", "paid", "waived", "void"]
AdjustmentKindName = Literal["waiver", "discount", "correction", "void"]


class BillQuery(ListQuery):
    community_id: Id | None = None
    house_id: Id | None = None
    period: Period | None = None
    status: BillStatusName | None = None


class BillOut(ResponseModel):
    id: int
    community_id: int
    house_id: int
    house_label: str
    fee_item_id: int
    fee_item_code: str
    fee_item_name: str
    period: str
    due_date: dt.date
    amount_fen: int = Field(description="the issued principal")
    adjusted_fen: int = Field(description="Σ approved adjustments (signed)")
    late_fee_fen: int
    paid_fen: int = Field(description="Σ payments applied less refunds")
    balance_fen: int = Field(description="amount + adjusted + late fee − paid")
    status: BillStatusName
    on_hold: bool = Field(description="a dispute is open: late fees stop")
    issued_at: Timestamp


class BillsOut(ResponseModel):
    items: list[BillOut]
    next_after_id: int | None


class BasisOut(ResponseModel):
    method: str
    quantity: DecimalOut(4)
    unit: str
    unit_price: DecimalOut(4)
    months: int
    period_start: dt.date
    period_end: dt.date
    standard_id: int | None
    standard_version: int | None
    previous_reading: DecimalOut(2) | None
    current_reading: DecimalOut(2) | None
    meter_reading_id: int | None


class AdjustmentOut(ResponseModel):
    id: int
    bill_id: int
    kind: AdjustmentKindName
    amount_fen: int = Field(description="signed; negative reduces what is owed")
    reason: str
    status: Literal["pending", "approved", "rejected"]
    requested_by: int | None
    decided_by: int | None
    decided_at: Timestamp | None
    decision_note: str
    created_at: Timestamp


class AppliedPaymentOut(ResponseModel):
    payment_id: int
    amount_fen: int
    channel: str
    received_at: Timestamp
    receipt_no: str | None


class BillRefundOut(ResponseModel):
    id: int
    payment_id: int
    amount_fen: int
    status: str
    created_at: Timestamp


class LateFeeOut(ResponseModel):
    accrual_date: dt.date
    amount_fen: int


class AuditOut(ResponseModel):
    at: Timestamp
    actor_type: str
    actor_id: str
    action: str
    before: Json = None
    after: Json = None
    note: str


class BillDetailOut(BillOut):
    basis: BasisOut
    adjustments: list[AdjustmentOut]
    payments: list[AppliedPaymentOut]
    refunds: list[BillRefundOut]
    late_fees: list[LateFeeOut]
    history: list[AuditOut] = Field(description="the bill's audit trail, oldest first")


class RunBody(RequestBody):
    community_id: Id
    period: Period


class ItemTotalOut(ResponseModel):
    code: str
    name: str
    bills: int
    total_fen: int


class PreviewOut(ResponseModel):
    run_id: int
    community_id: int
    period: str
    houses: int
    bills_planned: int
    already_billed: int
    bills_new: int
    total_fen: int
    totals: list[ItemTotalOut]
    problem_counts: dict[str, int]
    problems: list[dict[str, Json]]


class RunOut(ResponseModel):
    id: int
    community_id: int
    period: str
    status: Literal["previewed", "issuing", "issued", "failed"]
    houses: int
    bills_created: int
    bills_existing: int
    total_fen: int
    totals_by_item: dict[str, Json]
    problems: list[dict[str, Json]]
    error: str
    created_by: int | None
    started_at: Timestamp
    finished_at: Timestamp | None


class RunQuery(ListQuery):
    community_id: Id | None = None
    period: Period | None = None
    status: Literal["previewed", "issuing", "issued", "failed"] | None = None


class RunsOut(ResponseModel):
    items: list[RunOut]
    next_after_id: int | None


class ReadingIn(RequestBody):
    house_id: Id
    fee_item_id: Id
    period: Period
    current: str = Field(pattern=r"^\d{1,12}(\.\d{1,2})?$", description="the meter's reading, exact decimal")
    read_on: dt.date | None = Field(None, description="default: today")


class ReadingsBody(RequestBody):
    readings: list[ReadingIn] = Field(min_length=1, max_length=1000)


class ReadingOut(ResponseModel):
    id: int
    house_id: int
    fee_item_id: int
    period: str
    previous: DecimalOut(2)
    current: DecimalOut(2)
    usage: DecimalOut(2)
    read_on: dt.date


class ReadingsOut(ResponseModel):
    items: list[ReadingOut]


class AdjustmentBody(RequestBody):
    bill_id: Id
    kind: AdjustmentKindName
    amount_fen: int | None = Field(
        None, description="signed fen; omit for a void (it cancels the whole remaining total)")
    reason: Text(255, 1)
