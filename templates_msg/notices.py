"""Subscription messages that are not payment reminders: the owner's dispute
answers and staff alerts.  Plain domain code (no rq); the jobs in
``jobs.notifications`` call these for their outbox rows.

A dispute reply goes through :func:`templates_msg.reminders.deliver`, so it is
claimed once in the reminder log (stage ``dispute_reply:<message id>`` or
``dispute_resolved:<dispute id>``), spends one unit of the owner's quota for
the ``dispute_reply`` template, and 43101/47003 are handled like reminders.

Staff alerts go to the openids in ``ALERT_STAFF_OPENIDS`` with the
``staff_alert`` template.  We do not count staff quotas (staff are not owners):
WeChat's answer decides, and :class:`StaffSendRefused` tells the caller not to
retry a refusal that a retry cannot fix.
"""
from __future__ import annotations

import datetime as dt

from server.alerts import Alert
from server.disputes.models import Dispute, DisputeMessage, DisputeStatus
from server.property.models import House, Owner
from server.timeutil import local_now, utcnow
from server.wxa import WxaError
from templates_msg import builders, registry
from templates_msg.reminders import BILL_PAGE, deliver

STATUS_TEXT = {DisputeStatus.ANSWERED: "已答复", DisputeStatus.RESOLVED: "已解决"}
ALERTS_PAGE = "pages/staff/alerts?id={alert_id}"


def dispute_stage(payload: dict) -> str:
    if payload.get("message_id"):
        return f"dispute_reply:{int(payload['message_id'])}"
    return f"dispute_resolved:{int(payload['dispute_id'])}"


def send_dispute_reply(client, payload: dict, *, config=None,
                       now: dt.datetime | None = None) -> dict[str, int]:
    """The ``dispute_reply`` message of a ``dispute.replied`` / ``dispute.resolved``
    outbox row to the dispute's owner; counts by result ({} when already sent)."""
    now = now or utcnow()
    dispute = Dispute.get_or_none(Dispute.id == int(payload["dispute_id"]))
    if dispute is None:
        return {}
    owner = Owner.get_by_id(dispute.owner_id)
    house = House.get_by_id(dispute.bill.house_id)
    if payload.get("message_id"):
        message = DisputeMessage.get_by_id(int(payload["message_id"]))
        text, status, at = message.text, STATUS_TEXT[DisputeStatus.ANSWERED], message.created_at
    else:
        text = dispute.resolution or "您的异议已处理完毕"
        status, at = STATUS_TEXT[DisputeStatus.RESOLVED], dispute.closed_at or now
    result = deliver(client, owner, dispute.bill_id, dispute_stage(payload), registry.Kind.DISPUTE_REPLY,
                     lambda: builders.dispute_reply(community=house.community.name, house=house.label,
                                                    reply=text, status=status, replied_at=local_now(at)),
                     now=now, config=config, page=BILL_PAGE.format(bill_id=dispute.bill_id))
    return {} if result is None else {result: 1}


class StaffSendRefused(Exception):
    """WeChat refused a staff alert message for a reason a retry does not fix."""


def send_staff_alert(client, alert_id: int, openid: str, *, config=None) -> str:
    """Send one alert to one staff openid; returns WeChat's msgid.

    Raises :class:`StaffSendRefused` for refusals (no quota, bad data, unknown
    openid or template) and :class:`WxaError` when WeChat could not be reached
    (the outbox retries those)."""
    alert = Alert.get_by_id(alert_id)
    template_id = registry.staff_alert_template(config).template_id
    data = builders.staff_alert(kind=alert.kind, severity=alert.severity, message=alert.message,
                                count=alert.count, at=local_now(alert.last_seen_at or alert.created_at))
    try:
        answer = client.send_subscribe_message(openid, template_id, data,
                                               page=ALERTS_PAGE.format(alert_id=alert.id))
    except WxaError as exc:
        if exc.unavailable or exc.errcode in (40001, 42001, -1):
            raise
        raise StaffSendRefused(f"{exc.errcode} {exc.errmsg}") from exc
    return str(answer.get("msgid", ""))
