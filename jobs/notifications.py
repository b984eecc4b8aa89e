"""Consumers of outbox rows that tell people something.

``payment_credited`` follows every credited WeChat payment (written by
``payments.settlement`` in the crediting transaction): it sends the owner the
payment_success subscription message (``jobs.reminders.payment_success``).
"""
from __future__ import annotations

import logging

from jobs.core import job
from jobs.outbox import consume
from jobs.reminders import payment_success

log = logging.getLogger(__name__)


def _payment_credited(payload: dict) -> None:
    counts = payment_success(payload)
    log.info("payment %s credited for order %s (%s fen): receipt message %s", payload.get("payment_id"),
             payload.get("out_trade_no"), payload.get("amount_fen"), counts or "no bound owner")


@job("notifications", timeout=60)
def payment_credited(message_id: int) -> bool:
    return consume(message_id, _payment_credited)
