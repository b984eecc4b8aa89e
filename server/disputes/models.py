"""Disputes and their messages.

While a bill has a dispute in an open state (``open`` or ``answered``) the
bill is ``on_hold``: no late fee accrues and no reminder is sent.  The hold is
set when the first dispute opens and lifted when the last one closes, in the
same transaction and with an audit record (see ``server.disputes.services``).
"""
from __future__ import annotations

import peewee as pw

from server.billing.models import Adjustment, Bill
from server.db import BaseModel, UTCDateTimeField
from server.property.models import Owner
from server.staff.models import StaffUser
from server.timeutil import utcnow


class DisputeReason:
    AMOUNT = "amount_wrong"          # 金额有误
    READING = "reading_wrong"        # 读数有误
    ALREADY_PAID = "already_paid"    # 已缴过
    NOT_MINE = "not_my_house"        # 不是我的房屋/费用
    SERVICE = "service_quality"      # 服务质量
    OTHER = "other"
    ALL = (AMOUNT, READING, ALREADY_PAID, NOT_MINE, SERVICE, OTHER)


class DisputeStatus:
    OPEN = "open"              # waiting for staff
    ANSWERED = "answered"      # staff replied; the owner may reply again
    RESOLVED = "resolved"      # closed by staff
    WITHDRAWN = "withdrawn"    # closed by the owner
    ACTIVE = (OPEN, ANSWERED)  # these hold the bill
    ALL = (OPEN, ANSWERED, RESOLVED, WITHDRAWN)


class Dispute(BaseModel):
    bill = pw.ForeignKeyField(Bill, backref="disputes", on_delete="RESTRICT")
    owner = pw.ForeignKeyField(Owner, backref="disputes", on_delete="RESTRICT")
    reason = pw.CharField(max_length=32)
    text = pw.TextField()
    status = pw.CharField(max_length=16, default=DisputeStatus.OPEN)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)
    closed_at = UTCDateTimeField(null=True)
    resolution = pw.TextField(default="")
    adjustment = pw.ForeignKeyField(Adjustment, null=True, on_delete="RESTRICT")
    resolved_by = pw.ForeignKeyField(StaffUser, null=True, on_delete="RESTRICT")

    class Meta:
        indexes = (
            (("bill", "status"), False),
            (("owner", "created_at"), False),
        )


class MessageAuthor:
    OWNER = "owner"
    STAFF = "staff"


class DisputeMessage(BaseModel):
    """One message in a dispute's conversation, from the owner or from staff."""

    dispute = pw.ForeignKeyField(Dispute, backref="messages", on_delete="RESTRICT")
    author = pw.CharField(max_length=8)
    staff = pw.ForeignKeyField(StaffUser, null=True, on_delete="RESTRICT")
    text = pw.TextField()
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        indexes = ((("dispute", "created_at"), False),)
