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
from server.property.models import Owner
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
