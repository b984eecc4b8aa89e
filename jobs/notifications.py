"""Consumers of outbox rows that tell people something.

``payment_credited`` follows every credited WeChat payment (written by
``payments.settlement`` in the crediting transaction).  It only logs for now:
the receipt message to the owner belongs to the reminders work
(``templates_msg``), which will give this consumer its body.
"""
from __future__ import annotations

import logging

from jobs.core import job
from jobs.outbox import consume

log = logging.getLogger(__name__)


def _payment_credited(payload: dict) -> None:
    log.info("payment %s credited for order %s (%s fen): no owner notification is wired yet",
             payload.get("payment_id"), payload.get("out_trade_no"), payload.get("amount_fen"))


@job("notifications", timeout=60)
def payment_credited(message_id: int) -> bool:
    return consume(message_id, _payment_credited)
