"""RQ for real: a redis-server, worker and scheduler processes (R9, R11)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import psycopg2
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from jobs import alerting, billing
from jobs.schedule import SCHEDULE
from server.alerts import Alert, Severity
from server.billing.models import Bill, BillingRun, Method, RunStatus
from server.billing.runs import CHUNK_SIZE
from server.property.models import Building, House
from server.schedule_state import ScheduleState
from tests import factories as f
from tests.jobs.conftest import ROOT, wait_until

PERIOD = "2026-02"


def community(houses: int, price="100"):
    """A community of ``houses`` houses (inserted in bulk) billed one fixed fee item."""
    comm = f.community()
    bldg = Building.create(community=comm, name="1栋")
    House.insert_many([{"community": comm.id, "building": bldg.id, "room_no": str(n), "floor_area": 80}
                       for n in range(1, houses + 1)]).execute()
    f.standard(f.fee_item(comm, "TCF", "停车费"), Method.FIXED, price)
    return comm


def _waiting_on_a_lock(connection) -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
        return cur.fetchone()[0]


def test_the_same_job_enqueued_twice_runs_once(database, redis_jobs, run_worker):
    comm = community(3)
    first = billing.issue_period.enqueue(comm.id, PERIOD)
    second = billing.issue_period.enqueue(comm.id, PERIOD)
    queue = redis_jobs.queue("billing")
    assert first.id == second.id and queue.count == 1

    run_worker(database.test_url, redis_jobs.url, "billing").wait()
    assert Job.fetch(first.id, connection=redis_jobs.connection).get_status() == JobStatus.FINISHED
    assert billing.issue_period.enqueue(comm.id, PERIOD).get_status() == JobStatus.FINISHED   # done: a no-op
    assert queue.count == 0
    assert [(r.status, r.bills_created) for r in BillingRun.select()] == [(RunStatus.ISSUED, 3)]


def test_running_a_job_function_twice_changes_nothing_the_second_time(database):
    comm = community(3)
    assert billing.issue_period(comm.id, PERIOD)["created"] == 3
    assert billing.issue_period(comm.id, PERIOD)["created"] == 0
    assert Bill.select().count() == 3


def test_a_worker_killed_in_the_middle_of_a_billing_run_is_retried_to_the_state_of_one_clean_run(
        pg_database, redis_jobs, run_worker):
    houses = CHUNK_SIZE + 100
    comm = community(houses)
    blocked_house = House.select().where(House.community == comm).order_by(House.id.desc()).first()
    # Another transaction holds a bill of the second chunk: the run commits its first
    # chunk, then waits on the unique index — the middle of the job, deterministically.
    blocker = psycopg2.connect(pg_database.test_url)
    with blocker.cursor() as cur:
        cur.execute("INSERT INTO bill (house_id, community_id, fee_item_id, period, period_start, "
                    "period_end, months, method, quantity, unit, unit_price, amount_fen, adjusted_fen, "
                    "late_fee_fen, paid_fen, due_date, status, source, issued_at, on_hold) VALUES "
                    "(%s, %s, %s, %s, '2026-02-01', '2026-02-28', 1, 'fixed', 1, 'x', 1, 1, 0, 0, 0, "
                    "'2026-02-15', 'unpaid', 'run', now(), false)",
                    (blocked_house.id, comm.id, comm.fee_items.get().id, PERIOD))
    job = billing.issue_period.enqueue(comm.id, PERIOD)
    worker = run_worker(pg_database.test_url, redis_jobs.url, "billing")
    try:
        assert wait_until(lambda: Bill.select().where(Bill.community == comm).count() == CHUNK_SIZE, 60)
        assert wait_until(lambda: _waiting_on_a_lock(blocker) == 1, 30)
        worker.kill()
    finally:
        blocker.rollback()
        blocker.close()
    queue = redis_jobs.queue("billing")
    assert job.id in StartedJobRegistry(queue=queue).get_job_ids(cleanup=False)

    # What a surviving worker's maintenance does once the dead one's heartbeat expires:
    StartedJobRegistry(queue=queue).cleanup(timestamp=10 ** 10)
    scheduled = ScheduledJobRegistry(queue=queue)
    assert scheduled.get_job_ids() == [job.id]                   # retried in 10 s (Retry interval)
    scheduled.requeue(job.id)                                    # …now, rather than wait
    output = run_worker(pg_database.test_url, redis_jobs.url, "billing").wait()
    assert f"[job {job.id}]" in output

    assert Job.fetch(job.id, connection=redis_jobs.connection).get_status() == JobStatus.FINISHED
    bills = list(Bill.select().where(Bill.community == comm))
    assert len(bills) == houses and len({b.house_id for b in bills}) == houses
    assert {(b.amount_fen, b.period, b.status) for b in bills} == {(10_000, PERIOD, "unpaid")}
    runs = list(BillingRun.select().order_by(BillingRun.id))
    assert [(r.status, r.bills_created, r.bills_existing) for r in runs] == \
        [(RunStatus.FAILED, 0, 0), (RunStatus.ISSUED, 100, CHUNK_SIZE)]
    assert "abandoned" in runs[0].error and runs[1].total_fen == houses * 10_000
    assert Alert.get(Alert.kind == "job_retrying").details["job_id"] == job.id
    assert FailedJobRegistry(queue=queue).count == 0


def test_a_job_out_of_retries_lands_in_the_failed_registry_and_the_alert_rule_fires(
        database, redis_jobs, run_worker):
    job = billing.issue_period.enqueue(999_999, PERIOD)          # no such community: fails every time
    queue = redis_jobs.queue("billing")
    for _ in range(4):                                           # the first attempt and 3 retries
        run_worker(database.test_url, redis_jobs.url, "billing").wait()
        if ScheduledJobRegistry(queue=queue).get_job_ids():
            ScheduledJobRegistry(queue=queue).requeue(job.id)
    assert FailedJobRegistry(queue=queue).get_job_ids() == [job.id]
    finding = alerting.failed_jobs(redis_jobs)
    assert finding.kind == "jobs_failed" and finding.details["queues"] == {"billing": [job.id]}
    final = Alert.get(Alert.kind == "job_failed")
    assert final.severity == Severity.CRITICAL and "999999" in final.details["job_id"]
    assert Alert.get(Alert.kind == "job_retrying").count == 3

    again = billing.issue_period.enqueue(999_999, PERIOD)        # a failed job is replaced, not refused
    assert again.get_status() == JobStatus.QUEUED and FailedJobRegistry(queue=queue).count == 0


def _scheduler(database_url: str, redis_url: str, instance: str) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "WUYEPAY_INSTANCE_PATH": instance, "DEMO_MODE": "false", "PYTHONPATH": ROOT}
    command = [sys.executable, "-m", "jobs", "scheduler", "--interval", "0.2", "--lock-ttl", "2"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def _queued_job_ids(backend) -> list[str]:
    return [i for name in ("billing", "payments", "reconciliation", "notifications")
            for i in backend.queue(name).job_ids]


def test_two_schedulers_fire_each_time_once_and_the_second_takes_over_when_the_first_dies(
        database, redis_jobs, tmp_path):
    procs = [_scheduler(database.test_url, redis_jobs.url, str(tmp_path / f"i{n}")) for n in range(2)]
    try:
        assert wait_until(lambda: ScheduleState.select().count() == len(SCHEDULE), 60)
        first_fires = {s.schedule_id: s.last_fire_at for s in ScheduleState.select()}
        holder = redis_jobs.connection.get("wuyepay:scheduler:lock").decode()
        active = next(p for p in procs if holder.startswith(f"{p.pid}-"))
        idle = next(p for p in procs if p is not active)
        ids = _queued_job_ids(redis_jobs)
        assert len(ids) == len(set(ids))                         # never the same fire twice
        assert {i.split("--")[0] for i in ids} == {e.job.replace(".", "-") for e in SCHEDULE}

        os.killpg(active.pid, signal.SIGKILL)
        assert wait_until(lambda: (redis_jobs.connection.get("wuyepay:scheduler:lock") or b"").decode()
                          .startswith(f"{idle.pid}-"), 30)
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        outputs = [proc.communicate(timeout=30)[0] for proc in procs]
    assert "idle: another scheduler holds the lock" in outputs[procs.index(idle)]
    assert re.search(r"scheduler active", outputs[procs.index(idle)])
    for state in ScheduleState.select():
        assert state.last_fire_at >= first_fires[state.schedule_id]
    ids = _queued_job_ids(redis_jobs)
    assert len(ids) == len(set(ids))
