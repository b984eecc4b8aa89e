"""Long staff operations (a large billing run, an import, an export, a reminder
campaign) run as jobs and report their progress in an ``AdminTask`` row.

A page or the staff API calls ``start(kind, params, actor)``: the row is written
and the job ``tasks.run_task(task_id)`` enqueued (in-process in embedded mode).
The handler registered for the kind (``@handler("billing_issue")``) receives the
task and a ``Progress`` whose ``advance``/``total`` it calls as it goes; what it
returns (a JSON-able dict) is stored as the result.  A handler must be
idempotent: a retried job runs it again from the start.
"""
from __future__ import annotations

import logging
from typing import Callable

from server import audit, db
from server.audit import Actor
from server.tasks.models import AdminTask, TaskStatus
from server.timeutil import utcnow

log = logging.getLogger(__name__)

HANDLERS: dict[str, Callable] = {}
# Modules whose @handler functions make up the registry (imported lazily by run()).
HANDLER_MODULES: list[str] = []


def handler(kind: str):
    def decorate(fn):
        if HANDLERS.get(kind, fn) is not fn:
            raise ValueError(f"two task handlers for {kind}")
        HANDLERS[kind] = fn
        return fn

    return decorate


def register_module(module: str) -> None:
    if module not in HANDLER_MODULES:
        HANDLER_MODULES.append(module)


def _load_handlers() -> None:
    import importlib

    for module in HANDLER_MODULES:
        importlib.import_module(module)


class Progress:
    """Throttled progress writes (at most one UPDATE per ``every`` items)."""

    def __init__(self, task_id: int, every: int = 200):
        self.task_id = task_id
        self.every = every
        self.done = 0
        self._written = 0

    def total(self, n: int) -> None:
        AdminTask.update(total=n).where(AdminTask.id == self.task_id).execute()

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.done - self._written >= self.every:
            self.flush()

    def flush(self) -> None:
        AdminTask.update(done=self.done).where(AdminTask.id == self.task_id).execute()
        self._written = self.done


def start(kind: str, params: dict, actor: Actor, *, community_id: int | None = None,
          label: str = "") -> AdminTask:
    """Record the task and enqueue its job; returns the row (status ``queued``)."""
    _load_handlers()
    if kind not in HANDLERS:
        raise ValueError(f"no task handler for {kind}")
    with db.transaction():
        task = AdminTask.create(kind=kind, params=params, label=label or kind,
                                community_id=community_id, created_by=actor.id,
                                staff_id=actor.staff_id)
        audit.record(actor, "task.start", "admin_task", task.id, after={"kind": kind, **params},
                     community_id=community_id)
    from jobs.tasks import run_task

    run_task.enqueue(task.id)
    return AdminTask.get_by_id(task.id)


def run(task_id: int) -> None:
    """Run one task's handler (called by the job); failures are stored and re-raised."""
    _load_handlers()
    task = AdminTask.get_or_none(AdminTask.id == task_id)
    if task is None or task.status == TaskStatus.DONE:
        return
    AdminTask.update(status=TaskStatus.RUNNING, started_at=utcnow(), error="").where(
        AdminTask.id == task_id).execute()
    progress = Progress(task_id)
    try:
        result = HANDLERS[task.kind](task, progress)
    except Exception as exc:
        message = _failure_message(exc)
        AdminTask.update(status=TaskStatus.FAILED, error=message[:2000], finished_at=utcnow(),
                         done=progress.done).where(AdminTask.id == task_id).execute()
        raise
    AdminTask.update(status=TaskStatus.DONE, result=result or {}, finished_at=utcnow(),
                     done=progress.done).where(AdminTask.id == task_id).execute()


def _failure_message(exc: Exception) -> str:
    """What staff read on the tasks page: a refusal's (Chinese) message as it is; an
    unexpected error said in Chinese, its technical text kept for whoever fixes it."""
    text = getattr(exc, "message", None) or str(exc)
    if text and any("\u4e00" <= ch <= "\u9fff" for ch in text):
        return text
    return f"任务执行出错，请联系管理员（技术信息：{type(exc).__name__}: {text}）"
