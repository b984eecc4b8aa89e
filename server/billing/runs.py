"""Billing runs: preview, then issue, one community × one period.

Issuing streams the community's houses in chunks and inserts each chunk's
bills in one statement inside its own transaction, so memory stays flat at
any size and a crash loses at most one chunk of work.  Double billing is
prevented by the UNIQUE (house, fee_item, period) index alone (R2): a chunk
that collides with bills already there — an earlier or half-finished run,
or another run at the same moment — is inserted again with ON CONFLICT DO
NOTHING and the collisions are counted as "existing".  So running again
finishes a crashed run, and a finished period gains nothing.
"""
from __future__ import annotations

import functools
import itertools
import logging
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable

import peewee

from server import audit, tasks
from server.billing.models import Bill, BillingRun, BillStatus, RunStatus
from server.billing.planning import (ItemPlan, PlannedBill, Problem, house_chunks,
                                     item_plans, plan_chunk)
from server.db import database, transaction
from server.errors import Conflict, NotFound, ValidationError
from server.property.models import Community
from server.timeutil import PeriodError, current_period, parse_period, utcnow

CHUNK_SIZE = 1000
PROBLEMS_KEPT = 1000   # problems listed on a run (all are counted)
SAMPLE_BILLS = 200     # planned bills a preview keeps for display (all are counted)

log = logging.getLogger(__name__)

BILL_FIELDS = (
    Bill.house, Bill.community, Bill.fee_item, Bill.standard, Bill.standard_version, Bill.period,
    Bill.period_start, Bill.period_end, Bill.months, Bill.method, Bill.quantity, Bill.unit,
    Bill.unit_price, Bill.meter_reading, Bill.previous_reading, Bill.current_reading,
    Bill.amount_fen, Bill.adjusted_fen, Bill.late_fee_fen, Bill.paid_fen, Bill.due_date,
    Bill.status, Bill.source, Bill.billing_run, Bill.issued_at, Bill.on_hold,
)
# Rows per INSERT statement: SQLite binds at most 32766 values per statement.
STATEMENT_ROWS = min(1000, 32766 // len(BILL_FIELDS))


@dataclass
class ItemTotal:
    fee_item_id: int
    code: str
    name: str
    bills: int = 0
    total_fen: int = 0

    def as_dict(self) -> dict:
        return {"fee_item_id": self.fee_item_id, "name": self.name, "bills": self.bills,
                "total_fen": self.total_fen}


@dataclass
class RunPreview:
    """What issuing would do.  Counts and totals cover every planned bill;
    ``bills`` and ``problems`` keep only the first few for display."""

    run_id: int
    community_id: int
    period: str
    houses: int = 0
    bills_planned: int = 0
    already_billed: int = 0
    total_fen: int = 0
    totals: dict[str, ItemTotal] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    problem_counts: Counter = field(default_factory=Counter)
    bills: list[PlannedBill] = field(default_factory=list)

    @property
    def bills_new(self) -> int:
        return self.bills_planned - self.already_billed


def _check(community_id: int, period: str | None) -> tuple[Community, str]:
    period = period or current_period()
    try:
        parse_period(period)
    except PeriodError:
        raise ValidationError(f"账期“{period}”格式不对，应为 YYYY-MM（如 2026-11）",
                              details={"period": period}) from None
    community = Community.get_or_none(Community.id == community_id)
    if community is None:
        raise NotFound(f"小区 {community_id} 不存在")
    return community, period


def _keep_problems(kept: list[Problem], counts: Counter, new: list[Problem]) -> None:
    for problem in new:
        counts[problem.kind] += 1
        if len(kept) < PROBLEMS_KEPT:
            kept.append(problem)


def _totals(items: list[ItemPlan]) -> dict[str, ItemTotal]:
    return {i.code: ItemTotal(i.fee_item_id, i.code, i.name) for i in items}


def preview_run(community_id: int, period: str | None = None, actor: audit.Actor | None = None,
                anomaly_factor: Decimal = Decimal("3"), *, chunk_size: int = CHUNK_SIZE,
                sample: int = SAMPLE_BILLS) -> RunPreview:
    """Plan the run without billing anyone; persisted as a ``previewed`` BillingRun."""
    community, period = _check(community_id, period)
    items, item_problems = item_plans(community.id, period)
    result = RunPreview(0, community.id, period, totals=_totals(items))
    _keep_problems(result.problems, result.problem_counts, item_problems)
    for houses in house_chunks(community.id, chunk_size):
        result.houses += len(houses)
        plan = plan_chunk(houses, items, period, anomaly_factor=anomaly_factor, mark_existing=True)
        _keep_problems(result.problems, result.problem_counts, plan.problems)
        for bill in plan.bills:
            result.bills_planned += 1
            result.already_billed += bill.exists
            result.total_fen += bill.amount_fen
            total = result.totals[bill.code]
            total.bills += 1
            total.total_fen += bill.amount_fen
            if len(result.bills) < sample:
                result.bills.append(bill)
    run = BillingRun.create(
        community=community, period=period, status=RunStatus.PREVIEWED, houses=result.houses,
        bills_existing=result.already_billed, total_fen=result.total_fen,
        totals_by_item={code: t.as_dict() for code, t in result.totals.items()},
        problems=[p.as_dict() for p in result.problems],
        created_by=actor.staff_id if actor else None, finished_at=utcnow())
    result.run_id = run.id
    return result


def bill_rows(bills: list[PlannedBill], community_id: int, period: str, run_id: int | None,
              issued_at) -> list[tuple]:
    """Planned bills as tuples in ``BILL_FIELDS`` order, ready for the driver."""
    issued = Bill.issued_at.db_value(issued_at)
    on_hold = Bill.on_hold.db_value(False)
    unpaid = BillStatus.UNPAID
    return [(b.house_id, community_id, b.fee_item_id, b.standard_id, b.standard_version, period,
             b.period_start, b.period_end, b.months, b.method, b.quantity, b.unit, b.unit_price,
             b.reading_id, b.previous_reading, b.current_reading, b.amount_fen, 0, 0, 0,
             b.due_date, unpaid, "run", run_id, issued, on_hold)
            for b in bills]


@functools.lru_cache(maxsize=32)
def _insert_sql(param: str, rows: int, ignore: bool) -> str:
    """One multi-row INSERT for ``rows`` bills.  Built once per shape: peewee's
    query builder spends ~90 % of a large insert composing the SQL per value."""
    columns = ", ".join(f'"{f.column_name}"' for f in BILL_FIELDS)
    one = "(" + ", ".join([param] * len(BILL_FIELDS)) + ")"
    sql = f'INSERT INTO "{Bill._meta.table_name}" ({columns}) VALUES ' + ", ".join([one] * rows)
    # Unlike SQLite's INSERT OR IGNORE, ON CONFLICT DO NOTHING skips unique
    # violations only; a NOT NULL or foreign key failure still raises.
    return sql + " ON CONFLICT DO NOTHING" if ignore else sql


def _execute(rows: list[tuple], ignore: bool) -> int:
    inserted = 0
    for start in range(0, len(rows), STATEMENT_ROWS):
        batch = rows[start:start + STATEMENT_ROWS]
        sql = _insert_sql(database.param, len(batch), ignore)
        inserted += database.execute_sql(sql, list(itertools.chain.from_iterable(batch))).rowcount
    return inserted


def insert_bills(rows: list[tuple]) -> int:
    """Insert rows in one transaction, returning how many are new.  The unique
    index decides: on a collision the chunk is inserted again with ON CONFLICT
    DO NOTHING (row by row, as peewee's ``on_conflict_ignore``) and the rest
    are counted as existing by the caller."""
    if not rows:
        return 0
    try:
        with transaction():
            return _execute(rows, ignore=False)
    except peewee.IntegrityError:
        pass
    with transaction():
        return _execute(rows, ignore=True)


_RUN_ZH = {RunStatus.PREVIEWED: "已预览", RunStatus.ISSUING: "出账中", RunStatus.ISSUED: "已出账",
           RunStatus.FAILED: "失败"}


def _transition(run: BillingRun, new: str, **values) -> None:
    """The one way a run changes status: issuing → issued | failed."""
    allowed = {RunStatus.ISSUING: (RunStatus.ISSUED, RunStatus.FAILED)}
    if new not in allowed.get(run.status, ()):
        raise Conflict(f"出账批次 {run.id} 当前状态为 {_RUN_ZH.get(run.status, run.status)}，"
                       f"不能改为 {_RUN_ZH.get(new, new)}；请刷新后查看")
    updated = (BillingRun.update(status=new, **values)
               .where(BillingRun.id == run.id, BillingRun.status == run.status).execute())
    if updated != 1:
        raise Conflict(f"出账批次 {run.id} 的状态刚被其他操作改变，请刷新后查看")
    run.status = new
    for name, value in values.items():
        setattr(run, name, value)


def issue_run(community_id: int, period: str | None, actor: audit.Actor, *,
              chunk_size: int = CHUNK_SIZE, anomaly_factor: Decimal | None = Decimal("3"),
              progress: Callable[[int], None] | None = None) -> BillingRun:
    """Issue the period's bills for every house of the community.

    Safe to repeat and to run concurrently: a bill that exists is never made
    twice.  One audit record per run, with the counts.  A failure marks the
    run ``failed`` and re-raises; running again completes it.  ``progress``
    (optional) is called with the number of houses of each chunk done.
    """
    community, period = _check(community_id, period)
    items, item_problems = item_plans(community.id, period)
    run = BillingRun.create(community=community, period=period, status=RunStatus.ISSUING,
                            created_by=actor.staff_id)
    problems, counts = [], Counter()
    _keep_problems(problems, counts, item_problems)
    houses_seen = created = planned = 0
    issued_at = utcnow()
    try:
        for houses in house_chunks(community.id, chunk_size):
            houses_seen += len(houses)
            plan = plan_chunk(houses, items, period, anomaly_factor=anomaly_factor)
            _keep_problems(problems, counts, plan.problems)
            rows = bill_rows(plan.bills, community.id, period, run.id, issued_at)
            planned += len(rows)
            created += insert_bills(rows)
            if progress is not None:
                progress(len(houses))
        totals = _period_totals(community.id, period, items)
        with transaction():
            values = dict(houses=houses_seen, bills_created=created,
                          bills_existing=planned - created,
                          total_fen=sum(t.total_fen for t in totals.values()),
                          totals_by_item={c: t.as_dict() for c, t in totals.items()},
                          problems=[p.as_dict() for p in problems], finished_at=utcnow())
            _transition(run, RunStatus.ISSUED, **values)
            audit.record(actor, "billing_run.issue", "billing_run", run.id, community_id=community.id,
                         after={"period": period, "houses": houses_seen, "bills_created": created,
                                "bills_existing": planned - created, "total_fen": values["total_fen"],
                                "problems": dict(counts)})
    except BaseException as exc:
        if run.status == RunStatus.ISSUING:
            try:
                _transition(run, RunStatus.FAILED, houses=houses_seen, bills_created=created,
                            error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=utcnow())
            except Exception:  # the database itself may be gone; the original error matters
                log.exception("could not mark billing run %s failed", run.id)
        raise
    run.problem_counts = counts
    return run


def _period_totals(community_id: int, period: str, items: list[ItemPlan]) -> dict[str, ItemTotal]:
    """Bills and fen per item for the period, summed by the database from the
    stored bills (so a run's totals always equal the sum of its bills)."""
    totals = _totals(items)
    by_id = {t.fee_item_id: t for t in totals.values()}
    query = (Bill.select(Bill.fee_item, peewee.fn.COUNT(Bill.id), peewee.fn.SUM(Bill.amount_fen))
             .where(Bill.community == community_id, Bill.period == period,
                    Bill.fee_item.in_(list(by_id) or [0]))
             .group_by(Bill.fee_item).tuples())
    for item_id, count, total in query:
        by_id[item_id].bills = int(count)
        by_id[item_id].total_fen = int(total or 0)
    return totals


# --- the staff pages' long operation ---------------------------------------------

tasks.register_module(__name__)


@tasks.handler("billing_issue")
def issue_task(task, progress: tasks.Progress) -> dict:
    """Issue a community's period as a staff task, with progress per chunk of houses.
    Idempotent like ``issue_run``: a retried task bills nobody twice."""
    from server.property.models import House

    params = task.params
    community_id, period = int(params["community_id"]), params["period"]
    actor = audit.Actor("staff", task.created_by, task.staff_id)
    progress.total(House.select().where(House.community == community_id).count())
    run = issue_run(community_id, period, actor, progress=progress.advance)
    progress.flush()
    return {"run_id": run.id, "bills_created": run.bills_created,
            "bills_existing": run.bills_existing, "total_fen": run.total_fen}
