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
