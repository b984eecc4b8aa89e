"""Reminder jobs: the half-hourly run of due reminders and the receipt message
that follows a credited payment (the body of ``notifications.payment_credited``).

The work is ``templates_msg.reminders`` (idempotent per bill, owner and
stage); this module only binds it to a queue and to the process's
mini-program client.
"""
from __future__ import annotations

import logging

from jobs import runtime
from jobs.core import job
from server.wxa import MiniProgramClient
from templates_msg import reminders

log = logging.getLogger(__name__)

_client: MiniProgramClient | None = None


def mp_client() -> MiniProgramClient:
    """One mini-program client per process (its token is cached, in Redis when set)."""
    global _client
    if _client is None:
        _client = MiniProgramClient.from_config(runtime.config())
    return _client


def use_client(client: MiniProgramClient | None) -> None:
    """Tests and the demo point the jobs at another client (None: from the config again)."""
    global _client
    _client = client


@job("notifications", timeout=900)
def send_due_reminders(as_of: str) -> dict:
    """Send every open bill's current reminder stage as of the fire time."""
    counts = reminders.send_due_reminders(mp_client(), runtime.parse_instant(as_of),
                                          config=runtime.config())
    log.info("due reminders as of %s: %s", as_of, counts)
    return counts


def payment_success(payload: dict) -> dict:
    """The receipt message of a ``payment.credited`` outbox row (consumed by
    ``jobs.notifications.payment_credited``); counts by result."""
    if not payload.get("payment_id"):
        return {}
    return reminders.send_payment_success(mp_client(), int(payload["payment_id"]),
                                          config=runtime.config())
