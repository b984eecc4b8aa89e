"""Which billing periods are due, for the daily catch-up (R11).

Automatic billing continues what staff started: a community is billed
automatically only once a run of it has been issued.  From its first issued
period up to the current Shanghai month, every period without an issued run
is due (at most ``HORIZON`` months back), so a scheduler that was down over a
month end bills the new month when it returns, and a run that failed is
taken up again.  ``issue_run`` is idempotent (R2): a period billed by hand in
the meantime gains nothing.
"""
from __future__ import annotations

import datetime as dt

from server.billing.models import BillingRun, RunStatus
from server.timeutil import add_months, current_period, periods_between, utcnow

HORIZON = 12


def due_periods(now: dt.datetime | None = None) -> list[tuple[int, str]]:
    """``(community_id, period)`` pairs to issue, oldest period first."""
    current = current_period(now)
    earliest = add_months(current, -(HORIZON - 1))
    issued: dict[int, set[str]] = {}
    rows = (BillingRun.select(BillingRun.community, BillingRun.period)
            .where(BillingRun.status == RunStatus.ISSUED, BillingRun.period <= current)
            .distinct().tuples())
    for community_id, period in rows:
        issued.setdefault(community_id, set()).add(period)
    due = []
    for community_id, periods in sorted(issued.items()):
        start = max(min(periods), earliest)
        due += [(community_id, p) for p in periods_between(start, current) if p not in periods]
    return sorted(due, key=lambda pair: (pair[1], pair[0]))


def fail_abandoned_runs(community_id: int, period: str, started_after: dt.datetime | None,
                        reason: str) -> int:
    """Mark ``issuing`` runs that a dead worker left behind as failed.

    Only runs started by the system (no staff user) since ``started_after`` —
    the dead job's own start — are touched: a run a person started by hand is
    theirs to judge.  Their bills stay (they are real and unique); the retried
    job's run completes the period.
    """
    query = (BillingRun.update(status=RunStatus.FAILED, error=reason[:2000], finished_at=utcnow())
             .where(BillingRun.community == community_id, BillingRun.period == period,
                    BillingRun.status == RunStatus.ISSUING, BillingRun.created_by.is_null()))
    if started_after is not None:
        query = query.where(BillingRun.started_at >= started_after - dt.timedelta(seconds=5))
    return query.execute()
