"""Itemized bills: the line, its basis, the standard behind it, and its history."""
from __future__ import annotations

import datetime as dt
from typing import Any, Literal, Optional

from pydantic import Field

from miniprogram_api.schemas.common import (DecimalOut, FeeItemRef, HouseRef, MoneyOut,
                                            QueryArgs, ResponseModel, Timestamp)

BillStatus = Literal["unpaid", "partially_paid", "paid", "waived", "void"]
PERIOD = r"^\d{4}-(0[1-9]|1[0-2])$"


class BillQuery(QueryArgs):
    status: Optional[Literal["open", "unpaid", "partially_paid", "paid", "waived", "void"]] = Field(
        None, description="`open` = unpaid or partially paid")
    period: Optional[str] = Field(None, pattern=PERIOD, description="YYYY-MM")


class Basis(ResponseModel):
    """How the amount was computed: quantity × unit price × months, half-up to the fen."""

    method: Literal["fixed", "per_area", "metered"]
    quantity: DecimalOut(4) = Field(description="houses (1), m², or metered usage")
    unit: str
    unit_price: DecimalOut(4) = Field(description="yuan per unit per month")
    months: int
    previous_reading: Optional[DecimalOut(2)] = None
    current_reading: Optional[DecimalOut(2)] = None


class StandardRef(ResponseModel):
    id: int
    version: int
    unit_price: DecimalOut(4)
    unit: str
    effective_from: dt.date
    effective_to: Optional[dt.date]


class BillLine(ResponseModel):
    id: int
    house_id: int
    period: str = Field(pattern=PERIOD)
    period_start: dt.date
    period_end: dt.date
    fee_item: FeeItemRef
    basis: Basis
    standard: Optional[StandardRef] = Field(description="the fee standard version billed")
    amount: MoneyOut = Field(validation_alias="amount_fen", description="issued principal")
    adjustments_total: MoneyOut = Field(validation_alias="adjusted_fen",
                                        description="sum of approved adjustments (negative reduces)")
    late_fee: MoneyOut = Field(validation_alias="late_fee_fen")
    paid: MoneyOut = Field(validation_alias="paid_fen", description="payments less refunds")
    balance: MoneyOut = Field(validation_alias="balance_fen",
                              description="amount + adjustments + late fee − paid")
    due_date: dt.date
    status: BillStatus
    overdue_days: int = Field(description="days past the due date while money is owed")
    on_hold: bool = Field(description="a dispute is open: no late fee, no reminders")
    open_order: Optional[str] = Field(description="out_trade_no of the payment in progress")


class Totals(ResponseModel):
    amount: MoneyOut = Field(validation_alias="amount_fen")
    adjustments_total: MoneyOut = Field(validation_alias="adjusted_fen")
    late_fee: MoneyOut = Field(validation_alias="late_fee_fen")
    paid: MoneyOut = Field(validation_alias="paid_fen")
    balance: MoneyOut = Field(validation_alias="balance_fen")


class PeriodGroup(ResponseModel):
    period: str = Field(pattern=PERIOD)
    totals: Totals
    bills: list[BillLine]


class HouseBillsOut(ResponseModel):
    house: HouseRef
    as_of: dt.date = Field(description="today in Asia/Shanghai (overdue days count from it)")
    totals: Totals
    periods: list[PeriodGroup] = Field(description="newest period first")


class AdjustmentOut(ResponseModel):
    id: int
    kind: Literal["waiver", "discount", "correction", "void"]
    amount: MoneyOut = Field(validation_alias="amount_fen")
    reason: str
    approved_at: Timestamp


class PaymentOut(ResponseModel):
    payment_id: int
    amount: MoneyOut = Field(validation_alias="amount_fen", description="part applied to this bill")
    channel: Literal["wechat", "cash", "bank_transfer", "pos"]
    received_at: Timestamp
    receipt_no: Optional[str]
    out_trade_no: Optional[str]


class RefundOut(ResponseModel):
    id: int
    amount: MoneyOut = Field(validation_alias="amount_fen")
    status: Literal["processing", "success", "abnormal", "closed"]
    reason: str
    created_at: Timestamp
    succeeded_at: Optional[Timestamp]


class LateFeeDays(ResponseModel):
    days: int = Field(description="days on which a late fee was charged")
    first: Optional[dt.date]
    last: Optional[dt.date]
    total: MoneyOut = Field(validation_alias="total_fen")


class DisputeRef(ResponseModel):
    id: int
    status: Literal["open", "answered", "resolved", "withdrawn"]
    reason: str
    created_at: Timestamp
    closed_at: Optional[Timestamp]


class BillDetailOut(BillLine):
    adjustments: list[AdjustmentOut] = Field(description="approved adjustments")
    payments: list[PaymentOut]
    refunds: list[RefundOut]
    late_fee_days: LateFeeDays
    disputes: list[DisputeRef]
    reminders: list[dict[str, Any]] = Field(
        description="reminders sent for this bill (filled once the reminder job exists)")
