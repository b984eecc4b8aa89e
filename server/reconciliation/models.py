"""A reconciliation per day of WeChat Pay's trade bill, and the differences found.

A run is unique per bill date: running a date again updates its run's figures
and adds an item only for a difference not already listed (unique on run,
kind, reference), so a re-run never duplicates anything.  Items are resolved by
staff (``resolved_by``/``note``) or automatically (``missing_local`` credited
through the exactly-once credit path: ``resolved_by`` = ``system``).
"""
from __future__ import annotations

import peewee as pw

from server.db import BaseModel, JSONField, UTCDateTimeField
from server.timeutil import utcnow


class RunStatus:
    RUNNING = "running"
    DONE = "done"              # compared; differences, if any, are items
    FAILED = "failed"          # could not download or parse: see ``error``


class ItemKind:
    MISSING_LOCAL = "missing_local"      # WeChat took money we have not recorded
    MISSING_REMOTE = "missing_remote"    # we recorded a WeChat payment the bill does not list
    AMOUNT_MISMATCH = "amount_mismatch"  # both have it, the amounts differ (or WeChat lists it twice)
    STATUS_MISMATCH = "status_mismatch"  # both have it, the states disagree
    REFUND_MISMATCH = "refund_mismatch"  # a refund missing on one side, or differing

    ALL = (MISSING_LOCAL, MISSING_REMOTE, AMOUNT_MISMATCH, STATUS_MISMATCH, REFUND_MISMATCH)


# What staff read for each kind (alerts, pages).
KIND_NAMES = {ItemKind.MISSING_LOCAL: "本地缺失", ItemKind.MISSING_REMOTE: "微信缺失",
              ItemKind.AMOUNT_MISMATCH: "金额不符", ItemKind.STATUS_MISMATCH: "状态不符",
              ItemKind.REFUND_MISMATCH: "退款不符"}


class ReconciliationRun(BaseModel):
    bill_date = pw.DateField(unique=True)
    status = pw.CharField(max_length=16, default=RunStatus.RUNNING)
    attempts = pw.IntegerField(default=0)
    started_at = UTCDateTimeField(default=utcnow)
    finished_at = UTCDateTimeField(null=True)
    error = pw.TextField(default="")
    file_sha1 = pw.CharField(max_length=40, default="")
    # The bill's detail rows, and what its summary row says (fen; fee in 元 text, 5 places).
    remote_rows = pw.IntegerField(default=0)
    remote_payments = pw.IntegerField(default=0)
    remote_payment_fen = pw.BigIntegerField(default=0)
    remote_refunds = pw.IntegerField(default=0)
    remote_refund_fen = pw.BigIntegerField(default=0)
    remote_fee = pw.CharField(max_length=32, default="0")
    summary = JSONField(default=dict)
    summary_ok = pw.BooleanField(default=True)
    # Our WeChat payments received and refunds succeeded on that Shanghai day.
    local_payments = pw.IntegerField(default=0)
    local_payment_fen = pw.BigIntegerField(default=0)
    local_refunds = pw.IntegerField(default=0)
    local_refund_fen = pw.BigIntegerField(default=0)
    differences = pw.IntegerField(default=0)


class ReconciliationItem(BaseModel):
    run = pw.ForeignKeyField(ReconciliationRun, backref="items", on_delete="RESTRICT")
    kind = pw.CharField(max_length=24)
    # transaction_id for payments, out_refund_no for refunds.
    reference = pw.CharField(max_length=64)
    out_trade_no = pw.CharField(max_length=32, default="")
    remote_fen = pw.BigIntegerField(null=True)
    local_fen = pw.BigIntegerField(null=True)
    remote_status = pw.CharField(max_length=24, default="")
    local_status = pw.CharField(max_length=24, default="")
    details = JSONField(default=dict)
    created_at = UTCDateTimeField(default=utcnow)
    resolved_at = UTCDateTimeField(null=True)
    resolved_by = pw.CharField(max_length=64, default="")
    note = pw.TextField(default="")

    class Meta:
        indexes = ((("run", "kind", "reference"), True),)
