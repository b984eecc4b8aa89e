"""Payments jobs: the janitor (the work is ``payments.janitor``), and applying a
stored WeChat callback in the background (``payments.notify.apply_event``)."""
from __future__ import annotations

import dataclasses
import logging

from jobs import runtime
from jobs.core import job
from payments import janitor as janitor_mod
from payments import notify

log = logging.getLogger(__name__)


@job("payments", timeout=240)
def janitor(fire_at: str) -> dict:
    report = janitor_mod.run(runtime.wechat_client(), runtime.merchant())
    if report.checked or report.refunds_synced or report.callbacks_replayed or report.closed_remotely:
        log.info("janitor: %s", report)
    return dataclasses.asdict(report)


@job("payments", timeout=120)
def apply_callback(event_id: int) -> str:
    return notify.apply_event(event_id, runtime.wechat_client().verifier, runtime.merchant())


def dispatch_callback(event_id: int) -> None:
    """The callback endpoint's ``dispatch`` (R15): answer WeChat as soon as the event
    is stored and apply it in a job.  If the queue cannot take it, apply it here
    and now: money WeChat reported is never left waiting for Redis."""
    try:
        apply_callback.enqueue(event_id)
    except Exception as exc:
        log.warning("queue unavailable (%s): applying callback event %s in the request", exc, event_id)
        apply_callback(event_id)
