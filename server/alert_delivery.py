"""Delivering alerts to staff: a webhook (``ALERT_WEBHOOK_URL``) and
subscription messages to staff openids (``ALERT_STAFF_OPENIDS``).

Webhook: each open alert is POSTed once as JSON, with explicit timeouts; a delivery
that fails is logged, remembered and tried again on the next check, up to
``MAX_ATTEMPTS``.  A repeat of an alert already delivered (its count rising)
is not sent again: the alert list shows the count.

Staff messages: each open alert of the last day is written once per staff
openid as an ``alert.staff_message`` outbox row (the row is the delivery's
record: status, attempts, last error); ``jobs.notifications.staff_alert``
sends it with the ``staff_alert`` template, retried by the job and the outbox
sweeper when WeChat cannot be reached.  Alerts about staff messages that could
not be delivered are not themselves messaged (that could loop).
"""
from __future__ import annotations

import datetime as dt
import logging

import peewee as pw
import requests

from server import outbox
from server.alerts import Alert
from server.db import BaseModel, UTCDateTimeField
from server.timeutil import utcnow

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
STAFF_MESSAGE = "alert.staff_message"
STAFF_WINDOW = dt.timedelta(days=1)
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


def staff_openids(setting: str) -> list[str]:
    """``ALERT_STAFF_OPENIDS``: openids separated by commas or spaces, in order, once each."""
    seen: list[str] = []
    for openid in setting.replace(",", " ").split():
        if openid not in seen:
            seen.append(openid)
    return seen


def _staff_key(alert_id: int, openid: str) -> str:
    return f"{STAFF_MESSAGE}:{alert_id}:{openid}"


def _about_staff_messages(alert: Alert) -> bool:
    return isinstance(alert.details, dict) and alert.details.get("outbox_kind") == STAFF_MESSAGE


def queue_staff_messages(openids: list[str], *, now=None, limit: int = 50) -> int:
    """Write one outbox row per (open alert of the last day, staff openid) not yet
    written; returns how many were written.  Idempotent (the rows' dedupe keys)."""
    if not openids:
        return 0
    now = now or utcnow()
    alerts = [a for a in Alert.select()
              .where(Alert.acknowledged_at.is_null(), Alert.created_at >= now - STAFF_WINDOW)
              .order_by(Alert.id).limit(limit) if not _about_staff_messages(a)]
    wanted = {_staff_key(a.id, o): (a.id, o) for a in alerts for o in openids}
    if not wanted:
        return 0
    existing = {k for (k,) in outbox.OutboxMessage.select(outbox.OutboxMessage.dedupe_key)
                .where(outbox.OutboxMessage.dedupe_key.in_(list(wanted))).tuples()}
    written = 0
    for key, (alert_id, openid) in wanted.items():
        if key not in existing:
            outbox.add(STAFF_MESSAGE, {"alert_id": alert_id, "openid": openid}, dedupe_key=key)
            written += 1
    return written
