"""Report jobs: the nightly precomputation of the dashboard's figures.

At 02:00 (after the 00:30 late-fee accrual) the figures of the day before are
stored per community (``server.reports.snapshots``), for the period of that day
and, on the first of a month, the new current period too, so the first staff
member who looks at yesterday finds them ready.  Idempotent: a snapshot is unique
per (community, kind, period, date) and a re-run finds them all and writes nothing.
"""
from __future__ import annotations

import datetime as dt
import logging

from jobs import runtime
from jobs.core import job
from server.reports import snapshots
from server.timeutil import local_today, period_of

log = logging.getLogger(__name__)


@job("billing", timeout=3600)
def precompute_dashboard(fire_at: str) -> dict:
    """Store the dashboard figures of every community as of the day before the fire time."""
    today = local_today(runtime.parse_instant(fire_at))
    day = today - dt.timedelta(days=1)
    periods = sorted({period_of(day), period_of(today)})
    stored = snapshots.precompute(day, periods)
    log.info("dashboard snapshots of %s (%s): %d stored", day, ", ".join(periods), stored)
    return {"as_of": day.isoformat(), "periods": periods, "stored": stored}


@job("billing", timeout=600)
def warm_dashboard(fire_at: str) -> dict:
    """Keep today's dashboard figures of every community fresh (``TODAY_TTL``), so a
    company-wide dashboard answers from snapshots instead of recomputing every look."""
    today = local_today(runtime.parse_instant(fire_at))
    stored = snapshots.precompute(today, [period_of(today)])
    return {"as_of": today.isoformat(), "stored": stored}
