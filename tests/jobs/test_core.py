"""The job decorator, ids, the log stamp, failures, and the embedded backend."""
from __future__ import annotations

import logging
import threading

import pytest

from jobs import core
from jobs.backends import EmbeddedBackend, InlineBackend
from jobs.schedule import SCHEDULE
from server.alerts import Alert, Severity

log = logging.getLogger("server.some_domain_module")


def _spec(func, name="test.job", retries=core.MAX_RETRIES):
    return core.JobSpec(name, func, "billing", 60, retries)


def test_job_ids_are_deterministic_and_valid_for_rq():
    spec = core.spec_for("billing.issue_period")
    assert spec.job_id((12, "2026-02")) == spec.job_id((12, "2026-02")) == "billing-issue_period--12--2026-02"
    fire = core.spec_for("payments.janitor").job_id(("2026-01-31T16:30:00+00:00",))
    assert fire == "payments-janitor--2026-01-31T16_30_00_00_00"
    assert spec.job_id((12, "2026-02")) != spec.job_id((12, "2026-03"))


@pytest.mark.parametrize("bad", [1.5, None, True, object()])
def test_job_arguments_are_ids_or_values(bad):
    with pytest.raises(TypeError):
        core.spec_for("billing.issue_period").enqueue(1, bad)


def test_every_scheduled_entry_names_a_registered_job_with_a_timeout():
    registry = core.load_all()
    for entry in SCHEDULE:
        spec = registry[entry.job]
        assert spec.timeout > 0 and spec.queue in core.QUEUES
    assert len({e.id for e in SCHEDULE}) == len(SCHEDULE)


def test_every_log_line_written_during_a_job_carries_its_job_id(database, caplog):
    def work():
        log.info("working on %s", "bill 7")
        logging.getLogger("payments.service").warning("a line from another module")

    with caplog.at_level(logging.INFO):
        core.run(_spec(work), (), "billing-test--1")
        log.info("after the job")
    lines = {r.getMessage(): r for r in caplog.records}
    assert "[job billing-test--1] working on bill 7" in lines
    assert "[job billing-test--1] a line from another module" in lines
    stamped = [r for r in caplog.records if "job billing-test--1" in r.getMessage()]
    assert len(stamped) == 4 and all(r.job_id == "billing-test--1" for r in stamped)   # start, 2, done
    assert lines["after the job"].job_id == "-"


def test_a_failing_job_reraises_and_raises_an_alert(database):
    def boom():
        raise RuntimeError("the database is on fire")

    backend = InlineBackend()
    with pytest.raises(RuntimeError, match="on fire"):
        backend.enqueue(_spec(boom), (), "billing-test--boom")
    assert Alert.select().count() == 0          # inline: the caller sees the error
    core.report_failure("test.job", "billing-test--boom", RuntimeError("the database is on fire"), final=True)
    alert = Alert.get(Alert.kind == "job_failed")
    assert alert.severity == Severity.CRITICAL and "on fire" in alert.message
    assert alert.details["job_id"] == "billing-test--boom"


def test_the_embedded_backend_runs_in_the_background_and_never_queues_a_running_job_twice(database):
    started, release, runs = threading.Event(), threading.Event(), []

    def slow(n):
        runs.append(n)
        started.set()
        assert release.wait(10)

    backend = EmbeddedBackend(workers=2)
    spec = _spec(slow)
    try:
        backend.enqueue(spec, (1,), "t--1")
        assert started.wait(10)
        backend.enqueue(spec, (1,), "t--1")        # running: not queued again
        release.set()
        assert _wait(backend.idle)
        backend.enqueue(spec, (1,), "t--1")        # finished: runs again (jobs are idempotent)
        assert _wait(lambda: backend.idle() and len(runs) == 2)
    finally:
        backend.shutdown()
    assert runs == [1, 1]


def test_the_embedded_backend_retries_then_raises_a_final_alert(database, monkeypatch):
    monkeypatch.setattr(core, "RETRY_INTERVALS", (0.01, 0.01, 0.01))
    attempts = []

    def flaky():
        attempts.append(1)
        raise ValueError(f"attempt {len(attempts)}")

    backend = EmbeddedBackend()
    try:
        backend.enqueue(_spec(flaky, retries=2), (), "t--flaky")
        assert _wait(lambda: backend.idle() and len(attempts) == 3)
    finally:
        backend.shutdown()
    retrying = Alert.get(Alert.kind == "job_retrying")
    final = Alert.get(Alert.kind == "job_failed")
    assert (retrying.count, retrying.severity) == (2, Severity.WARNING)
    assert (final.count, final.severity) == (1, Severity.CRITICAL) and "attempt 3" in final.message


def _wait(predicate, timeout=10.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
