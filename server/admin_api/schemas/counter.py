"""The counter (offline receipts, their approval, the cash close, receipts) and WeChat orders."""
from __future__ import annotations

from server.admin_api.schemas.common import (Field, Id, Json, ListQuery, Literal, QueryArgs, RequestBody,
                                             ResponseModel, Text, Timestamp, dt)

OfflineChannel = Literal["cash", "bank_transfer", "pos"]
OrderStatusName = Literal["created", "paying", "unknown", "paid", "closed", "partially_refunded", "refunded"]


class OrderLineOut(ResponseModel):
    bill_id: int
    amount_fen: int
    house_label: str
    period: str
    fee_item_name: str


class OrderOut(ResponseModel):
    id: int
    out_trade_no: str
    community_id: int
    channel: Literal["wechat", "cash", "bank_transfer", "pos"]
    status: OrderStatusName = Field(description="offline: created = waiting for approval, "
                                                "paid = booked, closed = rejected")
    total_fen: int
    voucher_no: str | None
    payer_name: str
    received_on: dt.date | None
    operator_id: int | None = Field(description="the cashier (offline)")
    approved_by: int | None
    transaction_id: str | None
    created_at: Timestamp
    paid_at: Timestamp | None
    expires_at: Timestamp | None
    closed_at: Timestamp | None
    last_queried_at: Timestamp | None
    last_error: str
    payment_id: int | None
    receipt_no: str | None
    lines: list[OrderLineOut]


class OrdersOut(ResponseModel):
    items: list[OrderOut]
    next_after_id: int | None


class HistoryOut(ResponseModel):
    id: int
    at: Timestamp
    actor_type: str
    actor_id: str
    action: str
    entity: str
    entity_id: str
    community_id: int | None
    before: Json = None
    after: Json = None
    note: str


class NotifyEventOut(ResponseModel):
    received_at: Timestamp
    event_type: str
    status: str


class OrderDetailOut(OrderOut):
    events: list[NotifyEventOut] = Field(default_factory=list, description="WeChat's callbacks")
    history: list[HistoryOut]


class OfflineQuery(ListQuery):
    community_id: Id | None = None
    status: Literal["created", "paid", "closed", "partially_refunded", "refunded"] | None = None
    channel: OfflineChannel | None = None
    date_from: dt.date | None = Field(None, description="received on or after")
    date_to: dt.date | None = Field(None, description="received on or before")
    operator_id: Id | None = None
    q: Text(64) | None = Field(None, description="voucher, receipt number or payer (substring)")


class OrderQuery(ListQuery):
    community_id: Id | None = None
    status: OrderStatusName | None = None
    date_from: dt.date | None = Field(None, description="created on or after (Shanghai day)")
    date_to: dt.date | None = None
    q: Text(64) | None = Field(None, description="out_trade_no or transaction_id (substring)")


class CashDayQuery(QueryArgs):
    community_id: Id
    date: dt.date | None = Field(None, description="default: today (Shanghai)")
    operator_id: Id | None = Field(None, description="default: yourself; another cashier: managers only")


class ChannelTotalOut(ResponseModel):
    channel: OfflineChannel
    count: int
    total_fen: int


class CashCloseOut(ResponseModel):
    id: int
    operator_id: int
    community_id: int
    business_date: dt.date
    count: int
    total_fen: int
    totals: dict[str, int]
    closed_at: Timestamp


class CashDayOut(ResponseModel):
    operator_id: int
    community_id: int
    date: dt.date
    count: int = Field(description="booked receipts")
    total_fen: int
    pending: int = Field(description="receipts waiting for approval (the day cannot close)")
    by_channel: list[ChannelTotalOut]
    orders: list[OrderOut]
    close: CashCloseOut | None


class CashCloseBody(RequestBody):
    community_id: Id
    date: dt.date
    operator_id: Id | None = Field(None, description="default: yourself; another cashier: managers only")


class ReceiptLineOut(ResponseModel):
    bill_id: int
    period: str
    amount_fen: int
    fee_item: dict[str, Json]
    house: dict[str, Json]


class ReceiptOut(ResponseModel):
    id: int
    receipt_no: str | None
    community_id: int
    channel: str
    amount_fen: int
    refunded_fen: int
    status: str
    received_at: Timestamp
    received_at_local: str
    amount_in_words: str
    out_trade_no: str | None
    transaction_id: str | None
    voucher_no: str | None
    payer_name: str | None
    cashier: str | None
    houses: list[dict[str, Json]]
    allocations: list[ReceiptLineOut]
    refunds: list[dict[str, Json]]
