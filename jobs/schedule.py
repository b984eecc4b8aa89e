"""The periodic jobs, as data, on the Asia/Shanghai calendar.

Each entry has a stable id: the scheduler records the last fire time per id in
the database (``server.schedule_state``), so renaming an id forgets its
history.  A job of an entry receives its fire time (aware ISO text) and works
from it, not from "now": the 10:30 reconciliation of a day that fired late
still reconciles the day before its fire time.  Runs missed while no scheduler
was up are coalesced into one run of the latest fire time; every entry's job
catches up by itself (billing issues every period due, late fees accrue every
day not yet accrued, reconciliation takes every day not yet reconciled).

No naive datetime is used anywhere: fire times are computed on the Shanghai
wall clock and returned in UTC.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

from server.timeutil import SHANGHAI, UTC


@dataclasses.dataclass(frozen=True)
class Daily:
    """Every day at ``hour:minute`` Shanghai time."""

    hour: int
    minute: int = 0

    @property
    def period(self) -> dt.timedelta:
        return dt.timedelta(days=1)

    def latest(self, now: dt.datetime) -> dt.datetime:
        """The last fire time at or before ``now``."""
        local = now.astimezone(SHANGHAI)
        fire = dt.datetime.combine(local.date(), dt.time(self.hour, self.minute), tzinfo=SHANGHAI)
        if fire > local:
            fire = dt.datetime.combine(local.date() - dt.timedelta(days=1),
                                       dt.time(self.hour, self.minute), tzinfo=SHANGHAI)
        return fire.astimezone(UTC)

    def describe(self) -> str:
        return f"daily {self.hour:02d}:{self.minute:02d} Asia/Shanghai"


@dataclasses.dataclass(frozen=True)
class Every:
    """Every ``minutes`` minutes, aligned to Shanghai midnight (a divisor of 1440)."""

    minutes: int

    def __post_init__(self):
        if self.minutes <= 0 or 1440 % self.minutes:
            raise ValueError("minutes must divide a day")

    @property
    def period(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.minutes)

    def latest(self, now: dt.datetime) -> dt.datetime:
        local = now.astimezone(SHANGHAI)
        midnight = dt.datetime.combine(local.date(), dt.time(), tzinfo=SHANGHAI)
        elapsed = int((local - midnight).total_seconds() // 60)
        return (midnight + dt.timedelta(minutes=elapsed - elapsed % self.minutes)).astimezone(UTC)

    def describe(self) -> str:
        return f"every {self.minutes} min"


@dataclasses.dataclass(frozen=True)
class Entry:
    id: str
    job: str                 # a name in jobs.core.REGISTRY; the job takes the fire time
    when: Daily | Every
    description: str

    def latest(self, now: dt.datetime) -> dt.datetime:
        return self.when.latest(now)

    def missed(self, last: dt.datetime, latest: dt.datetime) -> int:
        """Fire times strictly between ``last`` and ``latest`` (skipped while down)."""
        return max(0, round((latest - last) / self.when.period) - 1)


SCHEDULE: tuple[Entry, ...] = (
    Entry("late_fees.daily", "billing.late_fees", Daily(0, 30),
          "accrue late fees on every open overdue bill, up to today"),
    Entry("billing.catch_up", "billing.catch_up", Daily(1, 0),
          "issue every period due up to now, for every community billed before"),
    Entry("reports.dashboard_today", "reports.warm_dashboard", Every(5),
          "refresh today's dashboard figures of every community (kept 5 minutes)"),
    Entry("reports.dashboard", "reports.precompute_dashboard", Daily(2, 0),
          "precompute yesterday's dashboard figures per community (after the late fees)"),
    Entry("reconciliation.daily", "reconciliation.daily", Daily(10, 30),
          "download and reconcile the WeChat Pay trade bill of every day not yet reconciled"),
    Entry("payments.janitor", "payments.janitor", Every(1),
          "query open orders on their schedule, close expired ones, sync refunds, replay callbacks"),
    Entry("outbox.sweep", "outbox.sweep", Every(1),
          "re-enqueue outbox work that was missed or lost"),
    Entry("reminders.due", "reminders.send_due_reminders", Every(30),
          "send payment reminders by subscription message (none in quiet hours 21:00-08:00)"),
    Entry("alerts.check", "alerting.check", Every(5),
          "evaluate the alert rules and deliver new alerts to the webhook"),
    Entry("tasks.cleanup_files", "tasks.cleanup_files", Daily(3, 0),
          "delete task exports and import uploads older than TASK_FILE_RETENTION_DAYS"),
)


def entry(entry_id: str) -> Entry:
    for item in SCHEDULE:
        if item.id == entry_id:
            return item
    raise LookupError(f"no schedule entry {entry_id!r}; entries: {', '.join(e.id for e in SCHEDULE)}")
