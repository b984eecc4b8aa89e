"""The job behind every long staff operation (``server.tasks``)."""
from __future__ import annotations

from jobs.core import job
from server import tasks


@job("billing", timeout=3600, retry=1)
def run_task(task_id: int) -> None:
    tasks.run(task_id)


# The modules that define task handlers (a worker imports them before running a task).
TASK_MODULES = ("server.billing.runs", "server.admin.pages.imports_page",
                "server.admin.pages.property_export", "server.admin.pages.operations_tasks")
for _module in TASK_MODULES:
    tasks.register_module(_module)
