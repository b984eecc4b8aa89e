"""Offline payments, payments (with the ERP's ``updated_since`` sync) and refunds."""
from __future__ import annotations

from server.admin_api.schemas.common import (Field, Id, ListQuery, Literal, RequestBody, ResponseModel,
                                             Text, Timestamp, dt)

Channel = Literal["wechat", "cash", "bank_transfer", "pos"]
RefundStatusName = Literal["pending_approval", "processing", "success", "abnormal", "closed", "rejected"]


class AllocationIn(RequestBody):
    bill_id: Id
    amount_fen: int = Field(ge=1, le=10**12)


class OfflinePaymentBody(RequestBody):
    community_id: Id
    channel: Literal["cash", "bank_transfer", "pos"]
    voucher_no: Text(64, 1)
    payer_name: Text(64) = ""
    received_on: dt.date | None = Field(None, description="default: today (Shanghai)")
    allocations: list[AllocationIn] = Field(min_length=1, max_length=100)


class AllocationOut(ResponseModel):
    bill_id: int
    amount_fen: int


class PaymentRefundOut(ResponseModel):
    id: int
    bill_id: int
    amount_fen: int
    status: RefundStatusName
    out_refund_no: str
    updated_at: Timestamp


class PaymentOut(ResponseModel):
    id: int
    community_id: int
    channel: Channel
    amount_fen: int
    refunded_fen: int = Field(description="Σ successful refunds")
    received_at: Timestamp
    created_at: Timestamp
    updated_at: Timestamp = Field(description="the later of created_at and its refunds' last change")
    receipt_no: str | None
    voucher_no: str | None
    transaction_id: str | None
    payer_name: str
    operator_id: int | None
    order_id: int | None
    needs_review: bool
    allocations: list[AllocationOut]
    refunds: list[PaymentRefundOut]


class PaymentQuery(ListQuery):
    community_id: Id | None = None
    channel: Channel | None = None
    updated_since: dt.datetime | None = Field(
        None, description="only payments created, or whose refunds changed, at or after this time "
                          "(ISO 8601 with a zone); use the previous answer's server_time")


class PaymentsOut(ResponseModel):
    items: list[PaymentOut]
    next_after_id: int | None
    server_time: Timestamp = Field(description="pass as updated_since for the next sync")


class OfflinePaymentOut(ResponseModel):
    order_id: int
    out_trade_no: str
    status: Literal["created", "paid", "closed", "partially_refunded", "refunded"] = Field(
        description="created: waiting for a second staff member's approval; paid: booked")
    community_id: int
    channel: str
    voucher_no: str
    total_fen: int
    allocations: list[AllocationOut]
    payment: PaymentOut | None


class RefundBody(RequestBody):
    payment_id: Id
    bill_id: Id
    amount_fen: int = Field(ge=1, le=10**12)
    reason: Text(80, 1)


class RefundOut(ResponseModel):
    id: int
    payment_id: int
    bill_id: int
    community_id: int
    out_refund_no: str
    amount_fen: int
    reason: str
    status: RefundStatusName
    requested_by: int | None
    approved_by: int | None
    created_at: Timestamp
    updated_at: Timestamp
    succeeded_at: Timestamp | None
