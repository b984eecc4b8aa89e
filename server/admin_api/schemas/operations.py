"""Reconciliation, disputes, alerts and the collection report."""
from __future__ import annotations

from server.admin_api.schemas.common import (Field, Id, ListQuery, Literal, Period, QueryArgs,
                                             RequestBody, ResponseModel, Text, Timestamp, dt)


class ReconRunOut(ResponseModel):
    id: int
    bill_date: dt.date
    status: Literal["running", "done", "failed"]
    remote_payments: int
    remote_payment_fen: int
    remote_refunds: int
    remote_refund_fen: int
    local_payments: int
    local_payment_fen: int
    local_refunds: int
    local_refund_fen: int
    differences: int
    error: str
    started_at: Timestamp
    finished_at: Timestamp | None


class ReconRunsOut(ResponseModel):
    items: list[ReconRunOut]
    next_after_id: int | None


class ReconItemQuery(ListQuery):
    run_id: Id | None = None
    kind: Literal["missing_local", "missing_remote", "amount_mismatch", "status_mismatch",
                  "refund_mismatch"] | None = None
    resolved: bool | None = None


class ReconItemOut(ResponseModel):
    id: int
    run_id: int
    kind: str
    reference: str = Field(description="transaction_id for payments, out_refund_no for refunds")
    out_trade_no: str
    community_id: int | None = Field(description="of our order, when there is one")
    remote_fen: int | None
    local_fen: int | None
    remote_status: str
    local_status: str
    created_at: Timestamp
    resolved_at: Timestamp | None
    resolved_by: str
    note: str


class ReconItemsOut(ResponseModel):
    items: list[ReconItemOut]
    next_after_id: int | None


class ResolveBody(RequestBody):
    note: Text(2000, 1) = Field(description="how the difference was dealt with")


class DisputeQuery(ListQuery):
    community_id: Id | None = None
    status: Literal["open", "answered", "resolved", "withdrawn"] | None = None


class DisputeMessageOut(ResponseModel):
    author: str
    text: str
    created_at: Timestamp


class DisputeOut(ResponseModel):
    id: int
    bill_id: int
    community_id: int
    house_label: str
    reason: str
    text: str
    status: Literal["open", "answered", "resolved", "withdrawn"]
    created_at: Timestamp
    updated_at: Timestamp
    closed_at: Timestamp | None
    resolution: str
    adjustment_id: int | None
    messages: list[DisputeMessageOut]


class DisputesOut(ResponseModel):
    items: list[DisputeOut]
    next_after_id: int | None


class ReplyBody(RequestBody):
    text: Text(2000, 1)


class ResolveDisputeBody(RequestBody):
    resolution: Text(2000) = ""
    adjustment_id: Id | None = Field(None, description="the adjustment on the bill that settled it")


class AlertQuery(ListQuery):
    acknowledged: bool | None = Field(None, description="false: open alerts only")


class AlertOut(ResponseModel):
    id: int
    kind: str
    severity: str
    message: str
    count: int
    community_id: int | None
    created_at: Timestamp
    last_seen_at: Timestamp
    acknowledged_at: Timestamp | None
    acknowledged_by: str


class AlertsOut(ResponseModel):
    items: list[AlertOut]
    next_after_id: int | None


class CollectionQuery(QueryArgs):
    community_id: Id | None = None
    period: Period
    as_of: dt.date | None = Field(None, description="default: today (Shanghai)")


class SliceOut(ResponseModel):
    label: str
    due_fen: int
    paid_fen: int
    outstanding_fen: int
    houses: int
    houses_paid: int
    rate_by_amount_bp: int | None = Field(description="收缴率 by amount in basis points (1/10000)")
    rate_by_household_bp: int | None


class CollectionOut(ResponseModel):
    period: str
    as_of: dt.date
    total: SliceOut
    by_community: list[SliceOut]
    by_fee_item: list[SliceOut]
