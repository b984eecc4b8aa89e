"""When each periodic job last fired, kept in the database (not in Redis, which
may be flushed) so a scheduler that was down knows what it missed."""
from __future__ import annotations

import datetime as dt

import peewee as pw

from server.db import BaseModel, UTCDateTimeField, transaction
from server.timeutil import utcnow


class ScheduleState(BaseModel):
    """The last fire time handled per schedule entry id (see ``jobs.schedule``)."""

    schedule_id = pw.CharField(max_length=64, unique=True)
    last_fire_at = UTCDateTimeField()
    last_enqueued_at = UTCDateTimeField(default=utcnow)
    last_job_id = pw.CharField(max_length=191, default="")


def last_fire(schedule_id: str) -> dt.datetime | None:
    return (ScheduleState.select(ScheduleState.last_fire_at)
            .where(ScheduleState.schedule_id == schedule_id).scalar())


def record_fire(schedule_id: str, fire_at: dt.datetime, job_id: str) -> bool:
    """Move the entry's last fire forward to ``fire_at``; False if it was already
    there or beyond (another scheduler got there first).  Never moves back."""
    values = dict(last_fire_at=fire_at, last_enqueued_at=utcnow(), last_job_id=job_id)
    changed = (ScheduleState.update(**values)
               .where(ScheduleState.schedule_id == schedule_id,
                      ScheduleState.last_fire_at < fire_at)
               .execute())
    if changed:
        return True
    if ScheduleState.select().where(ScheduleState.schedule_id == schedule_id).exists():
        return False
    try:
        with transaction():
            ScheduleState.create(schedule_id=schedule_id, **values)
        return True
    except pw.IntegrityError:
        return False
