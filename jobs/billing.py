"""Billing jobs: the daily catch-up of billing runs, and daily late fees.

Both fan out one job per community (and period or day), each with its own
deterministic id, so communities run in parallel on several workers and the
same community-period is never queued twice.  The work itself is the billing
domain's, idempotent per bill (R2) and per bill-day.
"""
from __future__ import annotations

import datetime as dt
import logging

from jobs import runtime
from jobs.core import job
from server.audit import Actor
from server.billing import catchup
from server.billing.latefees import accrue_open_bills
from server.billing.runs import issue_run
from server.property.models import Community
from server.timeutil import local_today

log = logging.getLogger(__name__)


@job("billing", timeout=600)
def catch_up(fire_at: str) -> int:
    """Enqueue a run for every (community, period) due at the fire time."""
    due = catchup.due_periods(runtime.parse_instant(fire_at))
    for community_id, period in due:
        issue_period.enqueue(community_id, period)
    log.info("billing catch-up: %d period(s) due", len(due))
    return len(due)


def _abandoned(community_id: int, period: str, *, started_at=None) -> None:
    failed = catchup.fail_abandoned_runs(community_id, period, started_at,
                                         "abandoned: the worker running this job died")
    log.warning("billing run of community %s %s abandoned by a dead worker (%d run(s) marked failed)",
                community_id, period, failed)


@job("billing", timeout=1800, on_abandoned=_abandoned)
def issue_period(community_id: int, period: str) -> dict:
    run = issue_run(community_id, period, Actor.system("billing_catch_up"),
                    anomaly_factor=runtime.config().METER_ANOMALY_FACTOR)
    log.info("community %s %s: run #%s %s, %d bill(s) created, %d existed", community_id, period,
             run.id, run.status, run.bills_created, run.bills_existing)
    return {"run_id": run.id, "created": run.bills_created, "existing": run.bills_existing}


@job("billing", timeout=300)
def late_fees(fire_at: str) -> int:
    """Enqueue the day's accrual for every community (the day of the fire time)."""
    day = local_today(runtime.parse_instant(fire_at))
    ids = [c for (c,) in Community.select(Community.id).order_by(Community.id).tuples()]
    for community_id in ids:
        accrue_community.enqueue(community_id, day.isoformat())
    return len(ids)


@job("billing", timeout=1800)
def accrue_community(community_id: int, as_of: str) -> dict:
    bills, fen = accrue_open_bills(dt.date.fromisoformat(as_of), community_id,
                                   Actor.system("late_fees"))
    log.info("late fees up to %s for community %s: %d bill(s), %d fen", as_of, community_id, bills, fen)
    return {"bills": bills, "fen": fen}
