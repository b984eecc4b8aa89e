"""The job behind every long staff operation (``server.tasks``)."""
from __future__ import annotations

from jobs.core import job
from server import tasks


@job("billing", timeout=3600, retry=1)
def run_task(task_id: int) -> None:
    tasks.run(task_id)
