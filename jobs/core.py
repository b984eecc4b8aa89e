"""The job decorator, job ids, and the one function RQ ever runs.

``@job("billing", timeout=1800)`` registers a plain function of ids and values
under a stable name (``billing.issue_period``); ``fn.enqueue(*args)`` hands it
to the configured backend (``jobs.backends``) under a deterministic job id made
of the name and the arguments, so the same work enqueued twice is one job.

RQ never imports job functions directly: every job is ``jobs.core.perform(name,
*args)``, which binds the database, holds a connection, stamps the job id on
every log line written meanwhile (whoever the logger), runs the function and
re-raises its error so RQ records the failure and retries it (10 s, 60 s,
300 s).  ``report_failure`` turns a failure into a staff alert.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import importlib
import logging
import re
from typing import Callable

from server import db as dbmod

log = logging.getLogger(__name__)

# A worker serves the queues in this order unless told otherwise.
QUEUES = ("payments", "billing", "reconciliation", "notifications")
RETRY_INTERVALS = (10, 60, 300)
MAX_RETRIES = 3
RESULT_TTL = 24 * 3600          # a finished job's id keeps blocking duplicates this long
FAILURE_TTL = 30 * 24 * 3600
# The modules whose @job functions make up the registry.
JOB_MODULES = ("jobs.billing", "jobs.payments", "jobs.outbox", "jobs.notifications",
               "jobs.reconciliation", "jobs.alerting", "jobs.reminders", "jobs.tasks",
               "jobs.reports")

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
CURRENT_JOB: contextvars.ContextVar[str | None] = contextvars.ContextVar("wuyepay_job", default=None)


@dataclasses.dataclass(frozen=True)
class JobSpec:
    name: str
    func: Callable
    queue: str
    timeout: int
    retries: int = MAX_RETRIES
    # Called with the job's args when RQ finds the job abandoned (its worker died).
    on_abandoned: Callable | None = None

    def job_id(self, args: tuple) -> str:
        """``billing.issue_period(12, "2026-02")`` → ``billing-issue_period--12--2026-02``."""
        parts = [self.name.replace(".", "-"), *(str(a) for a in args)]
        return _ID_UNSAFE.sub("_", "--".join(parts))

    def enqueue(self, *args):
        from jobs.backends import current_backend

        check_args(self.name, args)
        return current_backend().enqueue(self, args, self.job_id(args))


REGISTRY: dict[str, JobSpec] = {}


def job(queue: str, timeout: int, retry: int = MAX_RETRIES, *, name: str | None = None,
        on_abandoned: Callable | None = None):
    """Register ``fn`` as a job on ``queue`` with an explicit timeout (seconds)."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; queues are {QUEUES}")

    def decorate(fn):
        module = fn.__module__.rpartition(".")[2]
        spec = JobSpec(name or f"{module}.{fn.__name__}", fn, queue, timeout, retry, on_abandoned)
        if REGISTRY.get(spec.name, spec).func is not fn:
            raise ValueError(f"two jobs are named {spec.name}")
        REGISTRY[spec.name] = spec
        fn.spec = spec
        fn.enqueue = spec.enqueue
        return fn

    return decorate


def check_args(name: str, args: tuple) -> None:
    """Jobs take ids and values: ints and strings (dates as ISO strings)."""
    for arg in args:
        if isinstance(arg, bool) or not isinstance(arg, (int, str)):
            raise TypeError(f"{name}: job arguments are ints or strings, not {type(arg).__name__}")


def load_all() -> dict[str, JobSpec]:
    for module in JOB_MODULES:
        importlib.import_module(module)
    return REGISTRY


def spec_for(name: str) -> JobSpec:
    if name not in REGISTRY:
        load_all()
    try:
        return REGISTRY[name]
    except KeyError:
        raise LookupError(f"no job named {name!r}") from None


# ------------------------------------------------------------------ running
def _stamp_factory(base):
    def factory(*args, **kwargs):
        record = base(*args, **kwargs)
        job_id = CURRENT_JOB.get()
        record.job_id = job_id or "-"
        if job_id:
            record.msg = f"[job {job_id}] {record.msg}"
        return record

    factory.wuyepay_job_stamp = True
    return factory


def install_log_stamp() -> None:
    """Every log record made while a job runs carries ``job_id`` and starts with
    ``[job <id>]``, whatever its logger and handler format."""
    base = logging.getLogRecordFactory()
    if not getattr(base, "wuyepay_job_stamp", False):
        logging.setLogRecordFactory(_stamp_factory(base))


def ensure_bound() -> None:
    """Bind the database from the environment unless an app or test already did."""
    if dbmod.database.obj is None:
        from jobs.runtime import config

        dbmod.bind(config().DATABASE_URL)


@contextlib.contextmanager
def connected():
    """A database connection for the block: opened (and closed) here unless the
    thread already holds one (an inline job inside a CLI command or a test)."""
    ensure_bound()
    opened = dbmod.database.is_closed()
    if opened:
        dbmod.database.connect()
    try:
        yield
    finally:
        if opened and not dbmod.database.is_closed():
            dbmod.database.close()


@contextlib.contextmanager
def job_context(job_id: str):
    """The job id on every log line, and a database connection for the duration."""
    install_log_stamp()
    token = CURRENT_JOB.set(job_id)
    try:
        with connected():
            yield
    finally:
        CURRENT_JOB.reset(token)


def run(spec: JobSpec, args: tuple, job_id: str):
    with job_context(job_id):
        log.info("start %s%r", spec.name, tuple(args))
        try:
            result = spec.func(*args)
        except Exception:
            log.exception("%s failed", spec.name)
            raise
        log.info("done %s", spec.name)
        return result


def perform(name: str, *args):
    """What RQ runs for every job (see the module docstring)."""
    from rq import get_current_job

    spec = spec_for(name)
    current = get_current_job()
    return run(spec, args, current.id if current is not None else spec.job_id(args))


def report_failure(name: str, job_id: str, error: BaseException | str, *, final: bool,
                   args: tuple = ()) -> None:
    """Raise (or fold into the open) staff alert for a failed job.  Never raises:
    a failing failure handler would hide the job's own error."""
    from server.alerts import Severity, raise_alert

    kind = "job_failed" if final else "job_retrying"
    message = f"后台任务 {name} 失败" + ("" if final else "，将自动重试") + f"：{error}"[:500]
    try:
        with connected():
            raise_alert(kind, message, dedupe_key=f"{kind}:{job_id}",
                        severity=Severity.CRITICAL if final else Severity.WARNING,
                        details={"job_id": job_id, "job": name, "args": list(args),
                                 "error": str(error)[:500], "final": final})
    except Exception:
        log.exception("could not record the failure of job %s", job_id)


def on_failure(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ's failure callback (also called for jobs abandoned by a dead worker)."""
    from rq.exceptions import AbandonedJobError

    name = job.args[0] if job.args else job.func_name
    args = tuple(job.args[1:])
    if isinstance(exc_value, AbandonedJobError):
        spec = load_all().get(name)
        if spec is not None and spec.on_abandoned is not None:
            try:
                with connected():
                    spec.on_abandoned(*args, started_at=job.started_at)
            except Exception:
                log.exception("on_abandoned of %s failed", job.id)
    report_failure(name, job.id, exc_value or exc_type.__name__, final=not job.should_retry, args=args)
