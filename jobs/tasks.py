"""The job behind every long staff operation (``server.tasks``), and the daily
cleanup of the files those operations leave behind."""
from __future__ import annotations

from jobs import runtime
from jobs.core import job
from server import tasks


@job("billing", timeout=3600, retry=1)
def run_task(task_id: int) -> None:
    tasks.run(task_id)


@job("billing", timeout=600)
def cleanup_files(fire_at: str) -> dict:
    """Delete exports and import uploads older than TASK_FILE_RETENTION_DAYS."""
    from server.tasks.files import delete_old_files

    config = runtime.config()
    now = runtime.parse_instant(fire_at).timestamp()
    return delete_old_files(config.INSTANCE_PATH, days=config.TASK_FILE_RETENTION_DAYS, now=now)


# The modules that define task handlers (a worker imports them before running a task).
TASK_MODULES = ("server.billing.runs", "server.admin.pages.imports_page",
                "server.admin.pages.property_export", "server.admin.pages.operations_tasks",
                "server.admin.export_lists")
for _module in TASK_MODULES:
    tasks.register_module(_module)
