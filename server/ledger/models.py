"""The ledger: money received, where it went, and money given back.

Append-only.  A payment, an allocation or a refund is never updated to change
its amount and never deleted; corrections are new rows.  A bill's ``paid_fen``
is Σ allocations − Σ successful refunds, and ``wuyepay check-ledger`` proves it.
(A refund row's ``status`` moves forward along its state machine —
processing → success | abnormal | closed — but its amount never changes.)
"""
from __future__ import annotations

import peewee as pw

from payments.models import PaymentOrder
from server.billing.models import Bill
from server.db import BaseModel, JSONField, UTCDateTimeField
from server.property.models import Community
from server.staff.models import StaffUser
from server.timeutil import utcnow


class Payment(BaseModel):
    """Money actually received: one per paid order or offline receipt.

    ``needs_review`` marks money that could not be applied as intended (paid
    after the order was closed, more than was owed): it is kept, never dropped,
    and waits for a refund or re-allocation.
    """

    community = pw.ForeignKeyField(Community, on_delete="RESTRICT")
    order = pw.ForeignKeyField(PaymentOrder, null=True, unique=True, on_delete="RESTRICT")
    channel = pw.CharField(max_length=16)
    amount_fen = pw.BigIntegerField()
    transaction_id = pw.CharField(max_length=32, null=True, unique=True)
    voucher_no = pw.CharField(max_length=64, null=True, unique=True)
    payer_name = pw.CharField(max_length=64, default="")
    operator = pw.ForeignKeyField(StaffUser, null=True, on_delete="RESTRICT")
    received_at = UTCDateTimeField(default=utcnow)
    created_at = UTCDateTimeField(default=utcnow)
    receipt_no = pw.CharField(max_length=32, null=True, unique=True)
    needs_review = pw.BooleanField(default=False)
    review_reason = pw.CharField(max_length=255, default="")
    raw = JSONField(null=True)

    class Meta:
        # Migration 0008: updated_since sync (created_at), the dashboard's channel mix.
        indexes = ((("created_at",), False), (("community", "received_at"), False))


class Allocation(BaseModel):
    """Part of a payment applied to one bill."""

    payment = pw.ForeignKeyField(Payment, backref="allocations", on_delete="RESTRICT")
    bill = pw.ForeignKeyField(Bill, backref="allocations", on_delete="RESTRICT")
    amount_fen = pw.BigIntegerField()
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        indexes = ((("payment", "bill"), True),)


class RefundStatus:
    PENDING_APPROVAL = "pending_approval"
    REJECTED = "rejected"
    PROCESSING = "processing"
    SUCCESS = "success"
    ABNORMAL = "abnormal"
    CLOSED = "closed"
    # Amounts in these states are spoken for: Σ of them never exceeds what was paid.
    RESERVED = (PENDING_APPROVAL, PROCESSING, SUCCESS, ABNORMAL)


class Refund(BaseModel):
    """Money given back for one bill of one payment.  ``out_refund_no`` is
    deterministic so every retry of the same request is the same refund at WeChat."""

    payment = pw.ForeignKeyField(Payment, backref="refunds", on_delete="RESTRICT")
    bill = pw.ForeignKeyField(Bill, backref="refunds", on_delete="RESTRICT")
    out_refund_no = pw.CharField(max_length=64, unique=True)
    amount_fen = pw.BigIntegerField()
    reason = pw.CharField(max_length=80)
    status = pw.CharField(max_length=20, default=RefundStatus.PENDING_APPROVAL, index=True)
    refund_id = pw.CharField(max_length=64, null=True)
    requested_by = pw.ForeignKeyField(StaffUser, null=True, on_delete="RESTRICT")
    approved_by = pw.ForeignKeyField(
        StaffUser, null=True, on_delete="RESTRICT", backref="approved_refunds"
    )
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)
    succeeded_at = UTCDateTimeField(null=True)

    class Meta:
        indexes = ((("updated_at",), False),)  # migration 0008: the staff API's updated_since


class ReceiptCounter(BaseModel):
    """Next receipt number per community and year (incremented under a lock)."""

    community = pw.ForeignKeyField(Community, on_delete="RESTRICT")
    year = pw.IntegerField()
    last_seq = pw.IntegerField(default=0)

    class Meta:
        indexes = ((("community", "year"), True),)
