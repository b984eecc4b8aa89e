"""Payment orders (WeChat JSAPI and offline) and the WeChat callbacks we received."""
from __future__ import annotations

import peewee as pw

from server.billing.models import Bill
from server.db import BaseModel, JSONField, UTCDateTimeField
from server.property.models import Community, House, Owner
from server.staff.models import StaffUser
from server.timeutil import utcnow


class Channel:
    WECHAT = "wechat"
    CASH = "cash"
    BANK_TRANSFER = "bank_transfer"
    POS = "pos"
    OFFLINE = (CASH, BANK_TRANSFER, POS)
    ALL = (WECHAT, CASH, BANK_TRANSFER, POS)
    NAMES = {WECHAT: "微信支付", CASH: "现金", BANK_TRANSFER: "银行转账", POS: "POS刷卡"}


class OrderStatus:
    CREATED = "created"        # stored locally, not yet sent to WeChat
    PAYING = "paying"          # prepay_id obtained, owner at the cashier
    UNKNOWN = "unknown"        # a call to WeChat timed out or failed: only a query decides
    PAID = "paid"
    CLOSED = "closed"          # expired or cancelled, and closed at WeChat
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    OPEN = (CREATED, PAYING, UNKNOWN)
    TERMINAL = (PAID, CLOSED, PARTIALLY_REFUNDED, REFUNDED)


class PaymentOrder(BaseModel):
    """One attempt to collect money for a set of bills (amounts snapshotted)."""

    out_trade_no = pw.CharField(max_length=32, unique=True)
    community = pw.ForeignKeyField(Community, on_delete="RESTRICT")
    house = pw.ForeignKeyField(House, null=True, on_delete="RESTRICT")
    owner = pw.ForeignKeyField(Owner, null=True, backref="orders", on_delete="RESTRICT")
    channel = pw.CharField(max_length=16, default=Channel.WECHAT)
    total_fen = pw.BigIntegerField()
    description = pw.CharField(max_length=127, default="")
    status = pw.CharField(max_length=24, default=OrderStatus.CREATED, index=True)
    idempotency_key = pw.CharField(max_length=64, null=True)
    request_hash = pw.CharField(max_length=64, default="")
    prepay_id = pw.CharField(max_length=64, null=True)
    transaction_id = pw.CharField(max_length=32, null=True, unique=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)
    expires_at = UTCDateTimeField(null=True)
    paid_at = UTCDateTimeField(null=True)
    closed_at = UTCDateTimeField(null=True)
    last_queried_at = UTCDateTimeField(null=True)
    next_query_at = UTCDateTimeField(null=True, index=True)
    query_attempts = pw.IntegerField(default=0)
    last_error = pw.CharField(max_length=255, default="")
    # Set once WeChat has confirmed the close (an owner may cancel before the
    # 5 minutes WeChat wants between creating and closing an order).
    remote_closed = pw.BooleanField(default=False)
    # Offline channels: the cashier's voucher, who paid, who took it, who approved.
    voucher_no = pw.CharField(max_length=64, null=True, unique=True)
    payer_name = pw.CharField(max_length=64, default="")
    operator = pw.ForeignKeyField(StaffUser, null=True, on_delete="RESTRICT")
    approved_by = pw.ForeignKeyField(StaffUser, null=True, on_delete="RESTRICT",
                                     backref="approved_orders")
    received_on = pw.DateField(null=True)

    class Meta:
        indexes = ((("owner", "idempotency_key"), True),
                   # Migration 0008: the staff order lists, newest first.
                   (("community", "created_at"), False), (("created_at",), False))


# An offline receipt has no owner, so the (owner, key) index above never meets two of
# them: this partial index makes a staff member's Idempotency-Key unique among offline
# orders (migration 0007), whatever the requests racing to use it.
PaymentOrder.add_index(PaymentOrder.operator, PaymentOrder.idempotency_key, unique=True,
                       where=(PaymentOrder.owner.is_null() & PaymentOrder.idempotency_key.is_null(False)),
                       name="paymentorder_offline_idempotency_key")


class OrderBill(BaseModel):
    """A bill inside an order with the amount asked for it at creation.

    ``open_bill`` holds the bill's id while the order is open and is cleared
    when it becomes terminal; its UNIQUE index is how the database guarantees a
    bill is in at most one open order.
    """

    order = pw.ForeignKeyField(PaymentOrder, backref="lines", on_delete="RESTRICT")
    bill = pw.ForeignKeyField(Bill, on_delete="RESTRICT")
    amount_fen = pw.BigIntegerField()
    open_bill = pw.ForeignKeyField(
        Bill, null=True, unique=True, on_delete="RESTRICT", backref="open_order_lines"
    )

    class Meta:
        indexes = ((("order", "bill"), True),)


class NotifyEvent(BaseModel):
    """Every callback WeChat sent us, verified or not, so each is applied at most
    once and every one can be inspected or replayed."""

    notification_id = pw.CharField(max_length=64, null=True, unique=True)
    event_type = pw.CharField(max_length=32, default="")
    received_at = UTCDateTimeField(default=utcnow)
    headers = JSONField(default=dict)
    body = pw.TextField(default="")
    verified = pw.BooleanField(default=False)
    status = pw.CharField(max_length=16, default="received", index=True)
    result = pw.CharField(max_length=255, default="")
    out_trade_no = pw.CharField(max_length=32, null=True, index=True)
    processed_at = UTCDateTimeField(null=True)


class CashClose(BaseModel):
    """A collector's day, totalled by channel and locked: no offline payment can
    be recorded or approved for that collector and day afterwards."""

    operator = pw.ForeignKeyField(StaffUser, on_delete="RESTRICT")
    community = pw.ForeignKeyField(Community, on_delete="RESTRICT")
    business_date = pw.DateField()
    totals = JSONField(default=dict)
    count = pw.IntegerField(default=0)
    total_fen = pw.BigIntegerField(default=0)
    closed_at = UTCDateTimeField(default=utcnow)

    class Meta:
        indexes = ((("operator", "community", "business_date"), True),)
