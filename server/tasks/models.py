"""The progress row of a long staff operation (see ``server.tasks``)."""
from __future__ import annotations

import peewee as pw

from server.db import BaseModel, JSONField, UTCDateTimeField
from server.timeutil import utcnow


class TaskStatus:
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    ALL = (QUEUED, RUNNING, DONE, FAILED)


class AdminTask(BaseModel):
    kind = pw.CharField(max_length=32, index=True)
    label = pw.CharField(max_length=128, default="")
    params = JSONField(default=dict)
    status = pw.CharField(max_length=16, default=TaskStatus.QUEUED)
    total = pw.IntegerField(null=True)
    done = pw.IntegerField(default=0)
    result = JSONField(null=True)
    error = pw.TextField(default="")
    community_id = pw.IntegerField(null=True, index=True)
    staff_id = pw.IntegerField(null=True)
    created_by = pw.CharField(max_length=64, default="")
    created_at = UTCDateTimeField(default=utcnow, index=True)
    started_at = UTCDateTimeField(null=True)
    finished_at = UTCDateTimeField(null=True)

    def percent(self) -> int | None:
        if self.status == TaskStatus.DONE:
            return 100
        if not self.total:
            return None
        return min(99, self.done * 100 // self.total)
