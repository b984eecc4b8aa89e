"""Consumers of outbox rows that tell people something.

``payment_credited`` follows every credited WeChat payment (written by
``payments.settlement`` in the crediting transaction): it sends the owner the
payment_success subscription message (``jobs.reminders.payment_success``).

``dispute_replied`` follows a staff reply to, or the resolution of, a dispute
(``server.disputes.services``): the owner's dispute_reply message, if they
have quota for it (``templates_msg.notices.send_dispute_reply``).

``staff_alert`` sends one alert to one staff openid (rows written by
``jobs.alerting.check`` for ``ALERT_STAFF_OPENIDS``).  WeChat unreachable: the
job fails and is retried, then the outbox sweeper re-enqueues it, like the
webhook's deliveries; a refusal (no quota, bad data) marks the row failed with
WeChat's answer, since retrying cannot change it.
"""
from __future__ import annotations

import logging

from jobs import runtime
from jobs.core import job
from jobs.outbox import consume
from jobs.reminders import mp_client, payment_success
from server import outbox
from templates_msg import notices

log = logging.getLogger(__name__)


def _payment_credited(payload: dict) -> None:
    counts = payment_success(payload)
    log.info("payment %s credited for order %s (%s fen): receipt message %s", payload.get("payment_id"),
             payload.get("out_trade_no"), payload.get("amount_fen"), counts or "no bound owner")


@job("notifications", timeout=60)
def payment_credited(message_id: int) -> bool:
    return consume(message_id, _payment_credited)


def _dispute_replied(payload: dict) -> None:
    counts = notices.send_dispute_reply(mp_client(), payload, config=runtime.config())
    log.info("dispute %s answered: owner message %s", payload.get("dispute_id"), counts or "already sent")


@job("notifications", timeout=60)
def dispute_replied(message_id: int) -> bool:
    return consume(message_id, _dispute_replied)


@job("notifications", timeout=60)
def staff_alert(message_id: int) -> bool:
    def send(payload: dict) -> None:
        msgid = notices.send_staff_alert(mp_client(), int(payload["alert_id"]), payload["openid"],
                                         config=runtime.config())
        log.info("alert %s sent to a staff openid (msgid %s)", payload["alert_id"], msgid)

    try:
        return consume(message_id, send)
    except notices.StaffSendRefused as exc:
        log.warning("alert message refused by WeChat: %s", exc)
        outbox.mark_failed(message_id, f"refused: {exc}")
        return False
