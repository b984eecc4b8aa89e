"""Alerts for staff: something needs a human.  Repeats of the same open alert
(same ``dedupe_key``) bump a counter instead of flooding the list."""
from __future__ import annotations

import peewee as pw

from server.db import BaseModel, JSONField, UTCDateTimeField
from server.timeutil import utcnow


class Severity:
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


# What staff read for each kind of alert (pages, exports, staff messages).
KIND_NAMES = {
    "signature_failures": "微信回调验签失败", "notify_decrypt_failed": "微信回调无法解密",
    "wechatpay_certificates_stale": "微信支付平台证书过期",
    "payment_mismatch": "支付金额不符", "payment_needs_review": "支付待人工核对",
    "payment_unknown_order": "未知订单的支付", "payment_duplicate_transaction": "重复的微信交易",
    "order_stuck": "订单长时间未终结", "order_unknown": "订单结果未知", "order_unresolved": "订单无法确认",
    "janitor_stalled": "订单巡检停滞",
    "refund_abnormal": "退款异常", "refund_mismatch": "退款不符", "refund_not_enough": "退款余额不足",
    "refund_unexpected": "意外的退款", "refund_unknown": "未知退款",
    "reconciliation_differences": "对账差异", "reconciliation_failed": "对账失败",
    "reconciliation_missing_local": "对账补记入账", "reconciliation_totals": "对账单合计不符",
    "reconciliation_unresolved": "对账差异待处理",
    "reminder_bad_data": "提醒模板数据错误", "reminder_failures": "提醒发送失败率高",
    "job_failed": "后台任务失败", "job_retrying": "后台任务重试", "jobs_failed": "后台任务失败",
    "scheduler_enqueue_failed": "定时任务无法入队", "outbox_failed": "后续任务失败",
    "outbox_backlog": "后续任务积压",
}


def kind_name(kind: str) -> str:
    return KIND_NAMES.get(kind, kind)


class Alert(BaseModel):
    kind = pw.CharField(max_length=48, index=True)
    severity = pw.CharField(max_length=16, default=Severity.WARNING)
    message = pw.TextField()
    details = JSONField(null=True)
    dedupe_key = pw.CharField(max_length=191, null=True, index=True)
    count = pw.IntegerField(default=1)
    created_at = UTCDateTimeField(default=utcnow)
    last_seen_at = UTCDateTimeField(default=utcnow)
    acknowledged_at = UTCDateTimeField(null=True)
    acknowledged_by = pw.CharField(max_length=64, default="")
    community_id = pw.IntegerField(null=True)


def raise_alert(kind: str, message: str, *, severity: str = Severity.WARNING,
                details: dict | None = None, dedupe_key: str | None = None,
                community_id: int | None = None) -> Alert:
    """Record an alert, folding it into an open one with the same ``dedupe_key``."""
    now = utcnow()
    if dedupe_key:
        updated = (Alert.update(count=Alert.count + 1, last_seen_at=now, message=message)
                   .where(Alert.dedupe_key == dedupe_key, Alert.acknowledged_at.is_null())
                   .execute())
        if updated:
            return Alert.get(Alert.dedupe_key == dedupe_key, Alert.acknowledged_at.is_null())
    return Alert.create(kind=kind, severity=severity, message=message, details=details,
                        dedupe_key=dedupe_key, community_id=community_id,
                        created_at=now, last_seen_at=now)


def open_alerts():
    return Alert.select().where(Alert.acknowledged_at.is_null()).order_by(Alert.last_seen_at.desc())


def acknowledge_alert(alert_id: int, actor, note: str = "") -> Alert:
    """A staff member has seen the alert; idempotent (a second acknowledgement changes nothing)."""
    from server import audit, db
    from server.errors import NotFound

    with db.transaction():
        alert = db.for_update(Alert.select().where(Alert.id == alert_id)).first()
        if alert is None:
            raise NotFound("告警不存在")
        if alert.acknowledged_at is not None:
            return alert
        now = utcnow()
        Alert.update(acknowledged_at=now, acknowledged_by=actor.id[:64]).where(
            Alert.id == alert_id).execute()
        audit.record(actor, "alert.acknowledge", "alert", alert_id,
                     before={"acknowledged_at": None},
                     after={"acknowledged_at": now.isoformat(), "acknowledged_by": actor.id},
                     community_id=alert.community_id, note=note)
        return Alert.get_by_id(alert_id)
