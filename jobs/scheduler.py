"""The single scheduler: fires the schedule and relays the outbox.

Exactly one scheduler acts at a time.  With Redis it holds a lock key with a
TTL that it renews on every loop; a second scheduler finds the key taken and
stays idle until the holder disappears and the key expires.  In embedded mode
the web process runs one scheduler thread, guarded by a file lock in the
instance folder against a second process on the same machine.

Each loop, for every entry whose latest fire time is after the last one
recorded, the scheduler enqueues the entry's job (job id = entry + fire time,
enqueued uniquely, so two schedulers in a race still make one job) and then
records the fire time in the database.  After downtime the latest fire time
is enqueued once: the jobs catch up by themselves (see ``jobs.schedule``).
"""
from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import threading
import uuid

from jobs import core
from jobs.schedule import SCHEDULE, Entry
from server.alerts import Severity, raise_alert
from server.schedule_state import last_fire, record_fire
from server.timeutil import utcnow

log = logging.getLogger(__name__)
LOCK_KEY = "wuyepay:scheduler:lock"
EMBEDDED_START_DELAY = 5.0
_RENEW = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
          "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end")
_RELEASE = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
            "return redis.call('del', KEYS[1]) else return 0 end")


class RedisLock:
    """Held while renewed; lost (and free for another) ``ttl`` seconds after the holder stops."""

    def __init__(self, connection, key: str = LOCK_KEY, ttl: float = 30.0):
        self.connection, self.key, self.ttl_ms = connection, key, int(ttl * 1000)
        self.token = f"{os.getpid()}-{uuid.uuid4().hex}"

    def acquire(self) -> bool:
        """Take the lock, or renew it if we hold it.  False while another holds it."""
        if self.connection.set(self.key, self.token, nx=True, px=self.ttl_ms):
            return True
        return bool(self.connection.eval(_RENEW, 1, self.key, self.token, self.ttl_ms))

    def release(self) -> None:
        self.connection.eval(_RELEASE, 1, self.key, self.token)


class FileLock:
    """An exclusive ``flock`` on a file: one embedded scheduler per instance folder."""

    def __init__(self, path: str):
        self.path = path
        self.handle = None

    def acquire(self) -> bool:
        if self.handle is not None:
            return True
        handle = open(self.path, "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self.handle = handle
        return True

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


class Scheduler:
    def __init__(self, backend, lock, *, schedule: tuple[Entry, ...] = SCHEDULE,
                 interval: float = 2.0, clock=utcnow, relay: bool = True):
        self.backend, self.lock, self.schedule = backend, lock, schedule
        self.interval, self.clock, self.relay = interval, clock, relay
        self.holding: bool | None = None

    def fire_due(self, now: dt.datetime | None = None) -> list[str]:
        """Enqueue every entry that is due; returns the job ids enqueued."""
        now = now or self.clock()
        enqueued = []
        with core.connected():
            for item in self.schedule:
                latest = item.latest(now)
                last = last_fire(item.id)
                if last is not None and last >= latest:
                    continue
                if last is not None and item.missed(last, latest):
                    log.warning("%s missed %d run(s) since %s: running once for %s", item.id,
                                item.missed(last, latest), last.isoformat(), latest.isoformat())
                spec = core.spec_for(item.job)
                args = (latest.isoformat(),)
                job_id = spec.job_id(args)
                try:
                    self.backend.enqueue(spec, args, job_id)
                except Exception as exc:      # Redis down: nothing recorded, retried next loop
                    log.error("could not enqueue %s: %s", job_id, exc)
                    raise_alert("scheduler_enqueue_failed", f"调度器无法提交任务 {item.id}：{exc}",
                                severity=Severity.CRITICAL, dedupe_key="scheduler_enqueue_failed",
                                details={"job_id": job_id, "error": str(exc)[:500]})
                    break
                record_fire(item.id, latest, job_id)
                enqueued.append(job_id)
        return enqueued

    def step(self) -> list[str]:
        """One loop: hold the lock, fire what is due, relay the outbox."""
        try:
            held = self.lock.acquire()
        except Exception as exc:
            log.error("scheduler lock unavailable: %s", exc)
            held = False
        if held != self.holding:
            log.info("scheduler %s", "active: holding the lock" if held else
                     "idle: another scheduler holds the lock")
            self.holding = held
        if not held:
            return []
        enqueued = self.fire_due()
        if self.relay:
            from jobs.outbox import relay

            relay()
        return enqueued

    def start_thread(self, delay: float = 0.0) -> threading.Thread:
        """Run in a daemon thread until ``self.stop`` is set (embedded mode), starting
        after ``delay`` seconds (the web server is not listening yet when the app is built)."""
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run_after, args=(delay,), name="wuyepay-scheduler",
                                       daemon=True)
        self.thread.start()
        return self.thread

    def _run_after(self, delay: float) -> None:
        if not self.stop.wait(delay):
            self.run(self.stop)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.step()
            except Exception:
                log.exception("scheduler loop failed; retrying")
            stop.wait(self.interval)
        try:
            self.lock.release()
        except Exception:
            log.warning("could not release the scheduler lock", exc_info=True)


def start_embedded(config, backend) -> Scheduler:
    """The embedded-mode scheduler thread (started by ``jobs.init_app``)."""
    os.makedirs(config.INSTANCE_PATH, exist_ok=True)
    scheduler = Scheduler(backend, FileLock(os.path.join(config.INSTANCE_PATH, "scheduler.lock")),
                          interval=5.0)
    scheduler.start_thread(delay=EMBEDDED_START_DELAY)
    return scheduler
