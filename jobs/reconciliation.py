"""Reconciliation jobs: the daily 10:30 fan-out, and one job per bill date."""
from __future__ import annotations

import datetime as dt
import logging

from jobs import runtime
from jobs.core import job
from server.reconciliation import service
from server.timeutil import local_today

log = logging.getLogger(__name__)


@job("reconciliation", timeout=300)
def daily(fire_at: str) -> list[str]:
    """Enqueue every date not yet reconciled, up to the day before the fire time."""
    dates = service.dates_to_reconcile(local_today(runtime.parse_instant(fire_at)))
    for day in dates:
        reconcile_date.enqueue(day.isoformat())
    return [d.isoformat() for d in dates]


@job("reconciliation", timeout=3600)
def reconcile_date(bill_date: str) -> dict:
    run = service.reconcile_date(dt.date.fromisoformat(bill_date), runtime.wechat_client())
    return {"run_id": run.id, "rows": run.remote_rows, "differences": run.differences,
            "summary_ok": run.summary_ok}
