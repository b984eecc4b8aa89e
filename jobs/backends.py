"""Where an enqueued job goes: RQ on Redis, or this process (embedded mode).

``RedisBackend`` enqueues ``jobs.core.perform`` with the deterministic job id
and rq's atomic ``unique=True``: while a job with that id is queued, scheduled,
running or recently finished, enqueueing it again is a no-op.  A job with that
id that failed (or was stopped) is replaced, so work can always be re-run.

``EmbeddedBackend`` (``REDIS_URL`` unset, ``make run``) runs jobs in a small
thread pool of the web process, so a request that enqueues stays fast, with
the same retries; a job already queued or running is not queued twice.

``InlineBackend`` runs the job in the caller's thread and re-raises (CLI, tests).
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from jobs import core

log = logging.getLogger(__name__)


class RedisBackend:
    def __init__(self, url: str, *, connect_timeout: float = 3, timeout: float = 10):
        import redis

        self.url = url
        self.connection = redis.Redis.from_url(url, socket_connect_timeout=connect_timeout,
                                               socket_timeout=timeout)

    def queue(self, name: str):
        from rq import Queue

        return Queue(name, connection=self.connection)

    def enqueue(self, spec: core.JobSpec, args: tuple, job_id: str):
        from rq import Callback, Retry
        from rq.exceptions import DuplicateJobError, NoSuchJobError
        from rq.job import Job, JobStatus

        options = dict(
            job_id=job_id, job_timeout=spec.timeout, result_ttl=core.RESULT_TTL,
            failure_ttl=core.FAILURE_TTL, on_failure=Callback(core.on_failure),
            description=f"{spec.name}{tuple(args)!r}", unique=True,
            retry=Retry(max=spec.retries, interval=list(core.RETRY_INTERVALS)) if spec.retries else None)
        queue = self.queue(spec.queue)
        for _ in range(3):
            try:
                return queue.enqueue("jobs.core.perform", spec.name, *args, **options)
            except DuplicateJobError:
                try:
                    existing = Job.fetch(job_id, connection=self.connection)
                    status = existing.get_status()
                except NoSuchJobError:
                    continue                      # it expired meanwhile: enqueue afresh
                if status not in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
                    log.info("job %s is already %s: not enqueued again", job_id, status)
                    return existing
                log.info("job %s %s earlier: replacing it", job_id, status)
                existing.delete()
        raise RuntimeError(f"could not enqueue {job_id}")


class EmbeddedBackend:
    def __init__(self, workers: int = 2):
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._active: set[str] = set()
        self._timers: list[threading.Timer] = []

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="wuyepay-job")
            return self._pool

    def enqueue(self, spec: core.JobSpec, args: tuple, job_id: str) -> str:
        with self._lock:
            if job_id in self._active:
                log.info("job %s is already queued or running: not enqueued again", job_id)
                return job_id
            self._active.add(job_id)
        self._executor().submit(self._attempt, spec, args, job_id, 0)
        return job_id

    def _attempt(self, spec: core.JobSpec, args: tuple, job_id: str, attempt: int) -> None:
        try:
            core.run(spec, args, job_id)
        except Exception as exc:
            final = attempt >= spec.retries
            core.report_failure(spec.name, job_id, exc, final=final, args=args)
            if not final:
                delay = core.RETRY_INTERVALS[min(attempt, len(core.RETRY_INTERVALS) - 1)]
                timer = threading.Timer(delay, self._retry, (spec, args, job_id, attempt + 1))
                timer.daemon = True
                self._timers.append(timer)
                timer.start()
                return
        self._finish(job_id)

    def _retry(self, spec, args, job_id, attempt) -> None:
        try:
            self._executor().submit(self._attempt, spec, args, job_id, attempt)
        except RuntimeError:              # shut down meanwhile
            self._finish(job_id)

    def _finish(self, job_id: str) -> None:
        with self._lock:
            self._active.discard(job_id)

    def idle(self) -> bool:
        with self._lock:
            return not self._active

    def shutdown(self, wait: bool = True) -> None:
        for timer in self._timers:
            timer.cancel()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=not wait)


class InlineBackend:
    """Run at once in this thread; errors propagate.  ``ran`` lists job ids in order."""

    def __init__(self):
        self.ran: list[str] = []

    def enqueue(self, spec: core.JobSpec, args: tuple, job_id: str):
        self.ran.append(job_id)
        return core.run(spec, args, job_id)


_backend = None
_backend_lock = threading.Lock()


def use_backend(backend) -> None:
    global _backend
    _backend = backend


def backend_for(redis_url: str, **timeouts):
    return RedisBackend(redis_url, **timeouts) if redis_url else EmbeddedBackend()


def current_backend():
    """The configured backend; by default from the environment's ``REDIS_URL``."""
    global _backend
    if _backend is None:
        from jobs import runtime

        with _backend_lock:
            if _backend is None:
                _backend = backend_for(runtime.config().REDIS_URL)
    return _backend
