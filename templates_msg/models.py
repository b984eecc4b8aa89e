"""What each owner has allowed us to send.

WeChat grants one send of a one-time template per "accept" in
``wx.requestSubscribeMessage`` and offers no API to read what is left
(wechat-pay-v3.md §9), so we count: ``remaining`` goes up by one per accept
the mini-program reports and down by one per send, never below zero (a
conditional UPDATE in ``templates_msg.subscriptions.consume_quota``).
"""
from __future__ import annotations

import peewee as pw

from server.db import BaseModel, UTCDateTimeField
from server.billing.models import Bill
from server.property.models import Community, Owner
from server.timeutil import utcnow


class SubscribeResult:
    ACCEPT = "accept"
    REJECT = "reject"
    BAN = "ban"        # the template was banned by WeChat
    FILTER = "filter"  # the template was filtered (duplicate title)
    ALL = (ACCEPT, REJECT, BAN, FILTER)


class Subscription(BaseModel):
    owner = pw.ForeignKeyField(Owner, backref="subscriptions", on_delete="RESTRICT")
    template_id = pw.CharField(max_length=64)
    remaining = pw.IntegerField(default=0)
    accepted = pw.IntegerField(default=0)
    rejected = pw.IntegerField(default=0)
    banned = pw.IntegerField(default=0)
    filtered = pw.IntegerField(default=0)
    sent = pw.IntegerField(default=0)
    last_result = pw.CharField(max_length=8, default="")
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        indexes = ((("owner", "template_id"), True),)
        constraints = [pw.Check("remaining >= 0")]


class ReminderResult:
    SENDING = "sending"              # claimed; the send is under way (or its worker died)
    SENT = "sent"
    SKIPPED_QUOTA = "skipped_quota"  # no send left for the owner: nothing was called
    REFUSED = "refused"              # 43101: WeChat says no subscription left
    BAD_DATA = "bad_data"            # 47003 or our own validator: a template data bug
    FAILED = "failed"                # any other WeChat error
    UNAVAILABLE = "unavailable"      # network / -1 busy
    # A later run may try these again (the same row is reused).
    RETRYABLE = (SKIPPED_QUOTA, UNAVAILABLE)


class ReminderPolicy(BaseModel):
    """Per-community reminder timing; a community without a row uses the defaults
    (``templates_msg.reminders.DEFAULT_POLICY``)."""

    community = pw.ForeignKeyField(Community, unique=True, on_delete="RESTRICT")
    due_soon_days = pw.IntegerField(default=3)       # N: days before the due date
    overdue_every_days = pw.IntegerField(default=7)  # K
    overdue_max = pw.IntegerField(default=3)         # M
    # Per-stage switches (overdue is switched off by M = 0).
    bill_issued_on = pw.BooleanField(default=True)
    due_soon_on = pw.BooleanField(default=True)
    due_day_on = pw.BooleanField(default=True)
    updated_at = UTCDateTimeField(default=utcnow)


class ReminderLog(BaseModel):
    """One reminder (or receipt) of one bill and stage to one owner, with its last attempt.

    UNIQUE (bill, owner, stage): claiming the row is what makes a send happen
    at most once; only :data:`ReminderResult.RETRYABLE` rows are tried again.
    """

    bill = pw.ForeignKeyField(Bill, backref="reminders", on_delete="RESTRICT")
    owner = pw.ForeignKeyField(Owner, backref="reminders", on_delete="RESTRICT")
    stage = pw.CharField(max_length=40)
    template_id = pw.CharField(max_length=64)
    sent_at = UTCDateTimeField(default=utcnow, index=True)
    result = pw.CharField(max_length=16, default=ReminderResult.SENDING)
    errcode = pw.IntegerField(null=True)
    errmsg = pw.CharField(max_length=255, default="")
    attempts = pw.IntegerField(default=1)

    class Meta:
        indexes = ((("bill", "owner", "stage"), True),)
