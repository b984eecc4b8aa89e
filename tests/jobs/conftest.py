"""Fixtures for the jobs: backends, a real redis-server, real RQ worker processes,
and the WeChat Pay sandbox (re-exported from tests/payments)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from jobs import runtime
from jobs.backends import InlineBackend, RedisBackend, use_backend
from server import counters
from tests.payments.conftest import (key_pool, live, make_client, merchant, pay_client,  # noqa: F401
                                     sandbox, sandbox_options)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def _fresh_jobs_state():
    """Each test starts with no backend, the environment's configuration and an empty counter."""
    use_backend(None)
    runtime.configure(None)
    counters.configure("")
    yield
    use_backend(None)
    runtime.configure(None)
    counters.configure("")


@pytest.fixture
def inline_jobs():
    backend = InlineBackend()
    use_backend(backend)
    return backend


@pytest.fixture
def redis_url(redis_proc, redisdb):
    """A real redis-server (pytest-redis); flushed after the test."""
    return f"redis://{redis_proc.host}:{redis_proc.port}/0"


@pytest.fixture
def redis_jobs(redis_url):
    backend = RedisBackend(redis_url)
    use_backend(backend)
    return backend


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


class WorkerProcess:
    """``python -m jobs worker …``; ``kill`` SIGKILLs the worker and its work-horse
    (which RQ puts in a session of its own) together, like a machine dying."""

    def __init__(self, database_url: str, redis_url: str, instance: str, *args: str, env: dict | None = None):
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
               "WUYEPAY_INSTANCE_PATH": instance, "DEMO_MODE": "false", "PYTHONPATH": ROOT, **(env or {})}
        self.proc = subprocess.Popen([sys.executable, "-m", "jobs", "worker", *args], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)

    def wait(self, timeout: float = 90) -> str:
        output, _ = self.proc.communicate(timeout=timeout)
        return output

    def kill(self) -> None:
        import psutil

        family = [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(recursive=True)]
        for process in family:
            try:
                process.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(family, timeout=30)
        self.proc.wait(timeout=30)
        self.proc.stdout.close()


@pytest.fixture
def run_worker(tmp_path):
    """``run_worker(database_url, redis_url, *queues, burst=True)``; every worker is killed at the end."""
    started: list[WorkerProcess] = []

    def start(database_url: str, redis_url: str, *queues: str, burst: bool = True,
              env: dict | None = None) -> WorkerProcess:
        worker = WorkerProcess(database_url, redis_url, str(tmp_path / "instance"),
                               *queues, *(["--burst"] if burst else []), env=env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.proc.poll() is None:
            worker.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server of our own that a test may kill (SIGKILL) and start again on the same port."""

    def __init__(self, folder):
        self.folder, self.port, self.proc = folder, free_port(), None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no", "--dir", str(self.folder)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        assert wait_until(lambda: self._pings(client), timeout=20), "redis-server did not start"
        return self

    @staticmethod
    def _pings(client) -> bool:
        import redis

        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path).start()
    yield server
    server.kill()
