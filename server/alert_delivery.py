"""Delivering alerts to staff through a webhook (``ALERT_WEBHOOK_URL``).

Each open alert is POSTed once as JSON, with explicit timeouts; a delivery
that fails is logged, remembered and tried again on the next check, up to
``MAX_ATTEMPTS``.  A repeat of an alert already delivered (its count rising)
is not sent again: the alert list shows the count.
"""
from __future__ import annotations

import logging

import peewee as pw
import requests

from server.alerts import Alert
from server.db import BaseModel, UTCDateTimeField
from server.timeutil import utcnow

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
TIMEOUT = (3.05, 5)


class AlertDelivery(BaseModel):
    alert = pw.ForeignKeyField(Alert, unique=True, on_delete="CASCADE")
    attempts = pw.IntegerField(default=0)
    delivered_at = UTCDateTimeField(null=True)
    last_attempt_at = UTCDateTimeField(null=True)
    last_error = pw.CharField(max_length=255, default="")


def payload(alert: Alert) -> dict:
    return {"id": alert.id, "kind": alert.kind, "severity": alert.severity, "message": alert.message,
            "details": alert.details, "count": alert.count, "community_id": alert.community_id,
            "created_at": alert.created_at.isoformat(), "last_seen_at": alert.last_seen_at.isoformat()}


def undelivered(limit: int = 50) -> list[Alert]:
    delivered_or_given_up = (AlertDelivery.select(AlertDelivery.alert)
                             .where(AlertDelivery.delivered_at.is_null(False)
                                    | (AlertDelivery.attempts >= MAX_ATTEMPTS)))
    return list(Alert.select()
                .where(Alert.acknowledged_at.is_null(), Alert.id.not_in(delivered_or_given_up))
                .order_by(Alert.id).limit(limit))


def deliver_pending(url: str, *, session: requests.Session | None = None, limit: int = 50) -> int:
    """POST every undelivered open alert to ``url``; returns how many were delivered."""
    if not url:
        return 0
    http = session or requests
    delivered = 0
    for alert in undelivered(limit):
        now = utcnow()
        error = ""
        try:
            response = http.post(url, json=payload(alert), timeout=TIMEOUT)
            if response.status_code >= 300:
                error = f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        if error:
            log.warning("alert %s (%s) not delivered to the webhook: %s", alert.id, alert.kind, error)
        delivered += not error
        row, _ = AlertDelivery.get_or_create(alert=alert.id)
        (AlertDelivery.update(attempts=AlertDelivery.attempts + 1, last_attempt_at=now,
                              delivered_at=None if error else now, last_error=error[:255])
         .where(AlertDelivery.id == row.id).execute())
    return delivered
