"""``jobs.init_app`` (embedded mode), the scheduler when Redis is down, and the commands."""
from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from click.testing import CliRunner

import jobs
from jobs import __main__ as jobs_cli
from jobs.backends import EmbeddedBackend, RedisBackend, current_backend
from jobs.schedule import SCHEDULE, entry
from jobs.scheduler import FileLock, Scheduler
from server.alerts import Alert, raise_alert
from server.schedule_state import ScheduleState
from tests import factories as f
from tests.jobs.conftest import free_port, wait_until
from tests.jobs.test_schedule import AlwaysHeld


def test_in_tests_the_app_gets_a_backend_and_no_scheduler_thread(database, make_app, redis_url):
    app = make_app(database.test_url)
    jobs.init_app(app)
    assert isinstance(current_backend(), EmbeddedBackend) and "wuyepay_scheduler" not in app.extensions
    jobs.init_app(make_app(database.test_url, REDIS_URL=redis_url))
    assert isinstance(current_backend(), RedisBackend)


def test_the_embedded_scheduler_runs_in_one_thread_per_instance_folder(database, make_app, monkeypatch):
    fired = threading.Event()
    monkeypatch.setattr(Scheduler, "fire_due", lambda self, now=None: fired.set() or [])
    monkeypatch.setattr("jobs.outbox.relay", lambda: 0)
    monkeypatch.setattr("jobs.scheduler.EMBEDDED_START_DELAY", 0.0)
    apps = [make_app(database.test_url) for _ in range(2)]
    schedulers = []
    try:
        for app in apps:
            app.extensions["wuyepay_config"].TESTING = False
            jobs.init_app(app)
            schedulers.append(app.extensions["wuyepay_scheduler"])
        assert fired.wait(20)
        assert wait_until(lambda: all(s.holding is not None for s in schedulers), 20)
        assert sorted(s.holding for s in schedulers) == [False, True]
    finally:
        for scheduler in schedulers:
            scheduler.stop.set()
            scheduler.thread.join(10)
        current_backend().shutdown()


def test_the_file_lock_admits_one_holder(tmp_path):
    first, second = FileLock(str(tmp_path / "lock")), FileLock(str(tmp_path / "lock"))
    assert first.acquire() and first.acquire() and not second.acquire()
    first.release()
    assert second.acquire()
    second.release()


def test_with_redis_down_the_scheduler_records_nothing_and_says_so_then_fires_when_it_is_back(
        database, inline_jobs):
    down = RedisBackend(f"redis://127.0.0.1:{free_port()}/0")
    scheduler = Scheduler(down, AlwaysHeld(), schedule=(entry("outbox.sweep"),), relay=False)
    assert scheduler.fire_due() == []
    assert ScheduleState.select().count() == 0
    assert Alert.get().kind == "scheduler_enqueue_failed"
    scheduler.backend = inline_jobs
    assert len(scheduler.fire_due()) == 1 and ScheduleState.select().count() == 1


@pytest.fixture
def cli(database, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", database.test_url)
    monkeypatch.setenv("WUYEPAY_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.delenv("REDIS_URL", raising=False)
    runner = CliRunner()
    return lambda *args: runner.invoke(jobs_cli.main, list(args), catch_exceptions=False)


def test_worker_and_scheduler_need_redis(cli):
    for command in ("worker", "scheduler"):
        result = cli(command)
        assert result.exit_code != 0 and "REDIS_URL is not set" in result.output


def test_jobs_list_shows_every_entry_and_its_last_fire(cli):
    output = cli("jobs", "list").output
    assert all(e.id in output for e in SCHEDULE) and "daily 10:30 Asia/Shanghai" in output


def test_jobs_run_runs_an_entry_now_and_late_fees_takes_a_date(cli):
    estate = f.estate(1, water=False, parking=False)
    std = estate.items["WYF"].standards.get()
    std.late_fee_daily_rate, std.late_fee_cap_ratio = Decimal("0.001"), Decimal("0.5")
    std.save()
    f.bill(estate.houses[0], estate.items["WYF"], period="2026-01", amount_fen=10_000, std=std)
    assert "late fees up to 2026-01-20: 1 bill(s), 50 fen" in cli("late-fees", "--date", "2026-01-20").output
    assert "late fees up to 2026-01-20: 0 bill(s), 0 fen" in cli("late-fees", "--date", "2026-01-20").output
    result = cli("jobs", "run", "billing.catch_up")
    assert result.exit_code == 0 and "billing.catch_up: 0" in result.output
    assert cli("jobs", "run", "nope").exit_code != 0


def test_alerts_lists_open_ones_and_all_with_all(cli):
    assert "no alerts" in cli("alerts").output
    raise_alert("order_stuck", "1 笔订单未终结")
    acked = raise_alert("order_unknown", "已处理")
    Alert.update(acknowledged_at=dt.datetime.now(dt.timezone.utc)).where(Alert.id == acked.id).execute()
    output = cli("alerts").output
    assert "order_stuck" in output and "order_unknown" not in output
    assert "order_unknown" in cli("alerts", "--all").output


def test_reconcile_refuses_a_date_outside_the_bills_lifetime(cli):
    result = cli("reconcile", "--date", "2020-01-01")
    assert result.exit_code != 0 and "三个月" in result.output
    assert cli("reconcile", "--date", "yesterday").exit_code != 0
