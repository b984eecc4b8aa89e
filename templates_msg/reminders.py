"""Payment reminders by subscription message (issue 5 item 4): the domain, no rq.

Stages of an open bill, on the Asia/Shanghai calendar (``today`` = local date):

* ``bill_issued`` while more than N days remain before the due date;
* ``due_soon`` from N days before the due date;
* ``due_day`` on the due date;
* ``overdue_<k>`` from K·k days after the due date, k = 1…M.

Each community's :class:`ReminderPolicy` may switch ``bill_issued``, ``due_soon`` and
``due_day`` off (``overdue`` is off with M = 0); a stage that is off is never sent
(a run in its days sends nothing; the later stages still are).

A run sends only the bill's *current* stage (a bill first seen three days
before its due date gets ``due_soon``, not a burst of every earlier stage).
Nothing is sent in quiet hours (21:00–08:00): the next run picks the bill up.
Paid, waived and void bills and bills on hold (an open dispute) are skipped.
Recipients are the owners with an active binding on the bill's house.

Each (bill, owner, stage) is claimed by inserting its :class:`ReminderLog`
row (UNIQUE), so it is sent at most once; a row whose last attempt sent
nothing for a passing reason (WeChat unreachable, or no quota — once the owner
has accepted again) is claimed again by a conditional UPDATE.  A row left
``sending`` by a dead worker is not retried (at most once beats twice).  One unit of the owner's quota is consumed before the
call and released when WeChat did not deliver; 43101 clears the quota; 47003
(or our own validator) raises an alert.  Token refresh and the single retry
on 40001/42001 live in :class:`server.wxa.MiniProgramClient`.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging

import peewee as pw

from server.alerts import Severity, raise_alert
from server.billing.models import Bill, BillStatus, FeeItem
from server.db import transaction
from server.ledger.models import Allocation, Payment
from server.property.models import Binding, BindingStatus, Community, House, Owner
from server.timeutil import local_now, utcnow
from server.wxa import WxaError
from templates_msg import builders, registry
from templates_msg.models import ReminderLog, ReminderPolicy, ReminderResult as R, Subscription
from templates_msg.subscriptions import clear_quota, consume_quota, release_quota

log = logging.getLogger(__name__)

QUIET_FROM = dt.time(21, 0)
QUIET_UNTIL = dt.time(8, 0)
CONVERSION_WINDOW = dt.timedelta(hours=72)
BILL_PAGE = "pages/bills/detail?id={bill_id}"


@dataclasses.dataclass(frozen=True)
class Policy:
    due_soon_days: int = 3       # N
    overdue_every_days: int = 7  # K
    overdue_max: int = 3         # M
    bill_issued_on: bool = True
    due_soon_on: bool = True
    due_day_on: bool = True


DEFAULT_POLICY = Policy()


def policy_for(community_id: int) -> Policy:
    row = ReminderPolicy.get_or_none(ReminderPolicy.community == community_id)
    if row is None:
        return DEFAULT_POLICY
    return Policy(row.due_soon_days, row.overdue_every_days, row.overdue_max,
                  bool(row.bill_issued_on), bool(row.due_soon_on), bool(row.due_day_on))


def in_quiet_hours(now: dt.datetime) -> bool:
    local = local_now(now).time()
    return local >= QUIET_FROM or local < QUIET_UNTIL


def stage_for(due_date: dt.date, today: dt.date, policy: Policy = DEFAULT_POLICY) -> str | None:
    """The bill's current stage on ``today``, or None between overdue steps / after the last
    and in the days of a stage the policy switches off."""
    days = (due_date - today).days
    if days > policy.due_soon_days:
        return "bill_issued" if policy.bill_issued_on else None
    if days > 0:
        return "due_soon" if policy.due_soon_on else None
    if days == 0:
        return "due_day" if policy.due_day_on else None
    k = -days // policy.overdue_every_days
    if 1 <= k <= policy.overdue_max:
        return f"overdue_{k}"
    return None


def kind_of(stage: str) -> str:
    if stage == "bill_issued":
        return registry.Kind.BILL_ISSUED
    if stage in ("due_soon", "due_day"):
        return registry.Kind.DUE_SOON
    if stage.startswith("overdue_"):
        return registry.Kind.OVERDUE
    return registry.Kind.PAYMENT_SUCCESS


def _bill_data(bill: Bill, stage: str, today: dt.date) -> dict:
    common = dict(community=bill.community.name, house=bill.house.label, fee_name=bill.fee_item.name,
                  period=bill.period, amount_fen=bill.balance_fen, due_date=bill.due_date)
    if stage == "bill_issued":
        return builders.bill_issued(**common)
    if stage in ("due_soon", "due_day"):
        return builders.due_soon(**common, days_left=(bill.due_date - today).days)
    return builders.overdue(**common, days_overdue=(today - bill.due_date).days)


def recipients(house_id: int) -> list[Owner]:
    return list(Owner.select().join(Binding)
                .where(Binding.house == house_id, Binding.status == BindingStatus.ACTIVE)
                .order_by(Owner.id))


# ---------------------------------------------------------------- the send itself
def _claim(bill_id: int, owner_id: int, stage: str, template_id: str, now: dt.datetime,
           retry: bool = True) -> bool:
    """Take (bill, owner, stage): True when this caller is to send it.  ``retry`` also
    takes a row whose last attempt was retryable."""
    try:
        with transaction():
            ReminderLog.create(bill=bill_id, owner=owner_id, stage=stage, template_id=template_id,
                               sent_at=now, result=R.SENDING)
        return True
    except pw.IntegrityError:
        return retry and bool(ReminderLog.update(result=R.SENDING, sent_at=now, template_id=template_id,
                                       errcode=None, errmsg="", attempts=ReminderLog.attempts + 1)
                    .where(ReminderLog.bill == bill_id, ReminderLog.owner == owner_id,
                           ReminderLog.stage == stage, ReminderLog.result.in_(R.RETRYABLE))
                    .execute())


def has_quota(owner_id: int, template_id: str) -> bool:
    return (Subscription.select().where(Subscription.owner == owner_id,
                                        Subscription.template_id == template_id,
                                        Subscription.remaining > 0).exists())


def _record(bill_id, owner_id, stage, result, errcode=None, errmsg="") -> str:
    (ReminderLog.update(result=result, errcode=errcode, errmsg=(errmsg or "")[:255])
     .where(ReminderLog.bill == bill_id, ReminderLog.owner == owner_id, ReminderLog.stage == stage)
     .execute())
    return result


def deliver(client, owner: Owner, bill_id: int, stage: str, kind: str, build, *,
            now: dt.datetime, config=None, page: str | None = None) -> str | None:
    """Send one message of ``kind`` for (bill, owner, stage) at most once; returns the
    result written to the log, or None when another run has it already."""
    template_id = registry.template_for(kind, config).template_id
    # No quota: log the skip once, but do not rewrite the row every run until an accept comes.
    if not _claim(bill_id, owner.id, stage, template_id, now, retry=has_quota(owner.id, template_id)):
        return None
    if not consume_quota(owner.id, template_id, now=now):
        return _record(bill_id, owner.id, stage, R.SKIPPED_QUOTA)
    try:
        data = build()
    except builders.TemplateDataError as exc:
        release_quota(owner.id, template_id, now=now)
        _alert_bad_data(kind, template_id, str(exc), bill_id)
        return _record(bill_id, owner.id, stage, R.BAD_DATA, None, str(exc))
    try:
        answer = client.send_subscribe_message(owner.openid, template_id, data, page=page)
    except WxaError as exc:
        release_quota(owner.id, template_id, now=now)
        if exc.errcode == 43101:
            clear_quota(owner.id, template_id, now=now)
            return _record(bill_id, owner.id, stage, R.REFUSED, exc.errcode, exc.errmsg)
        if exc.errcode == 47003:
            _alert_bad_data(kind, template_id, exc.errmsg, bill_id)
            return _record(bill_id, owner.id, stage, R.BAD_DATA, exc.errcode, exc.errmsg)
        result = R.UNAVAILABLE if exc.unavailable else R.FAILED
        return _record(bill_id, owner.id, stage, result, exc.errcode, exc.errmsg)
    except Exception as exc:   # a bug of ours: give the unit back, keep the row, re-raise
        release_quota(owner.id, template_id, now=now)
        _record(bill_id, owner.id, stage, R.FAILED, None, f"{type(exc).__name__}: {exc}")
        raise
    return _record(bill_id, owner.id, stage, R.SENT, 0, str(answer.get("msgid", "")))


def _alert_bad_data(kind: str, template_id: str, detail: str, bill_id: int) -> None:
    raise_alert("reminder_bad_data", f"订阅消息 {kind} 的模板数据不合规（47003）：{detail}",
                severity=Severity.CRITICAL, dedupe_key=f"reminder_bad_data:{template_id}",
                details={"kind": kind, "template_id": template_id, "bill_id": bill_id,
                         "detail": detail})


# ------------------------------------------------------------------------- runs
def due_bills(community_id: int | None = None):
    query = (Bill.select(Bill, House, Community, FeeItem).join(House).switch(Bill).join(Community)
             .switch(Bill).join(FeeItem)
             .where(Bill.status.in_(BillStatus.OPEN), Bill.on_hold == False)  # noqa: E712
             .order_by(Bill.id))
    if community_id is not None:
        query = query.where(Bill.community == community_id)
    return query


def send_due_reminders(client, as_of: dt.datetime | None = None, *, config=None,
                       community_id: int | None = None) -> dict[str, int]:
    """Send every open bill's current stage to its owners; counts by result."""
    now = as_of or utcnow()
    counts: dict[str, int] = {}
    if in_quiet_hours(now):
        log.info("quiet hours in Asia/Shanghai at %s: no reminders sent", now.isoformat())
        return counts
    today = local_now(now).date()
    policies: dict[int, Policy] = {}
    for bill in due_bills(community_id):
        if bill.community_id not in policies:
            policies[bill.community_id] = policy_for(bill.community_id)
        stage = stage_for(bill.due_date, today, policies[bill.community_id])
        if stage is None or bill.balance_fen <= 0:
            continue
        for owner in recipients(bill.house_id):
            result = deliver(client, owner, bill.id, stage, kind_of(stage),
                             lambda: _bill_data(bill, stage, today), now=now, config=config,
                             page=BILL_PAGE.format(bill_id=bill.id))
            if result is not None:
                counts[result] = counts.get(result, 0) + 1
    log.info("reminders at %s: %s", now.isoformat(), counts or "nothing to send")
    return counts


def send_payment_success(client, payment_id: int, *, config=None,
                         now: dt.datetime | None = None) -> dict[str, int]:
    """The receipt message for a credited payment, to the owners of the paid house(s)."""
    now = now or utcnow()
    payment = Payment.get_by_id(payment_id)
    allocations = list(Allocation.select(Allocation, Bill).join(Bill)
                       .where(Allocation.payment == payment_id).order_by(Bill.id))
    if not allocations:
        return {}
    first = allocations[0].bill
    house = House.get_by_id(first.house_id)
    stage = f"payment_success:{payment_id}"
    receipt = payment.receipt_no or payment.transaction_id or str(payment.id)
    counts: dict[str, int] = {}
    for owner in recipients(house.id):
        result = deliver(client, owner, first.id, stage, registry.Kind.PAYMENT_SUCCESS,
                         lambda: builders.payment_success(
                             community=house.community.name, house=house.label,
                             amount_fen=payment.amount_fen,
                             paid_at=local_now(payment.received_at), receipt_no=receipt),
                         now=now, config=config, page=BILL_PAGE.format(bill_id=first.id))
        if result is not None:
            counts[result] = counts.get(result, 0) + 1
    return counts


def conversion(since: dt.datetime, until: dt.datetime) -> dict:
    """Share of bills reminded (sent) in [since, until) that got a payment within 72 hours
    of a reminder: ``{"reminded", "paid_within_72h", "rate_bp"}`` (basis points)."""
    sent = list(ReminderLog.select(ReminderLog.bill, ReminderLog.sent_at)
                .where(ReminderLog.result == R.SENT, ReminderLog.sent_at >= since,
                       ReminderLog.sent_at < until, ~ReminderLog.stage.startswith("payment_success"),
                       ~ReminderLog.stage.startswith("dispute"))
                .tuples())
    reminded: dict[int, list[dt.datetime]] = {}
    for bill_id, at in sent:
        reminded.setdefault(bill_id, []).append(at)
    paid = 0
    for bill_id, times in reminded.items():
        paid_at = [p for (p,) in Payment.select(Payment.received_at).join(Allocation)
                   .where(Allocation.bill == bill_id).tuples()]
        if any(t <= p <= t + CONVERSION_WINDOW for t in times for p in paid_at):
            paid += 1
    total = len(reminded)
    return {"reminded": total, "paid_within_72h": paid, "rate_bp": (paid * 10_000 // total) if total else 0}


def failure_rate(since: dt.datetime, until: dt.datetime) -> dict:
    """Of the sends tried in [since, until) (quota skips excluded), the share WeChat did not
    deliver: ``{"attempts", "failed", "rate_bp"}`` (basis points) — for the alert rule."""
    tried = (ReminderLog.select().where(ReminderLog.sent_at >= since, ReminderLog.sent_at < until,
                                        ReminderLog.result.not_in((R.SKIPPED_QUOTA, R.SENDING))))
    attempts = tried.count()
    failed = tried.where(ReminderLog.result != R.SENT).count()
    return {"attempts": attempts, "failed": failed,
            "rate_bp": (failed * 10_000 // attempts) if attempts else 0}


# ------------------------------------------------------------ staff: policy, campaigns
POLICY_LIMITS = {"due_soon_days": (0, 60), "overdue_every_days": (1, 90), "overdue_max": (0, 12)}
_POLICY_LABELS = {"due_soon_days": "到期前提醒天数", "overdue_every_days": "逾期提醒间隔天数",
                  "overdue_max": "逾期提醒次数上限", "bill_issued_on": "出账通知",
                  "due_soon_on": "到期前提醒", "due_day_on": "到期日提醒"}
CAMPAIGN_PREFIX = "campaign:"


def set_policy(community_id: int, actor, *, due_soon_days: int, overdue_every_days: int,
               overdue_max: int, bill_issued_on: bool | None = None, due_soon_on: bool | None = None,
               due_day_on: bool | None = None, now: dt.datetime | None = None) -> ReminderPolicy:
    """Staff set a community's reminder timing (N, K, M) and stage switches, audited;
    setting the same values again changes nothing.  ``overdue_max`` 0 turns the overdue
    reminders off; a switch False turns its stage off, None keeps its current value."""
    from server import audit
    from server.db import for_update
    from server.errors import ValidationError

    values = {"due_soon_days": due_soon_days, "overdue_every_days": overdue_every_days,
              "overdue_max": overdue_max}
    for name, value in values.items():
        low, high = POLICY_LIMITS[name]
        if not isinstance(value, int) or not low <= value <= high:
            raise ValidationError(f"{_POLICY_LABELS.get(name, name)}应在 {low} 到 {high} 之间",
                                  details={name: value})
    switches = {"bill_issued_on": bill_issued_on, "due_soon_on": due_soon_on, "due_day_on": due_day_on}
    for name, value in switches.items():
        if value is not None and not isinstance(value, bool):
            raise ValidationError(f"{_POLICY_LABELS.get(name, name)}应为开启或关闭（true/false）",
                                  details={name: value})
    now = now or utcnow()
    with transaction():
        row = for_update(ReminderPolicy.select().where(ReminderPolicy.community == community_id)).first()
        before = dataclasses.asdict(policy_for(community_id))
        values |= {name: before[name] if value is None else value for name, value in switches.items()}
        if before == values and row is not None:
            return row
        if row is None:
            row = ReminderPolicy.create(community=community_id, updated_at=now, **values)
        else:
            ReminderPolicy.update(updated_at=now, **values).where(ReminderPolicy.id == row.id).execute()
        audit.record(actor, "reminder_policy.update", "reminder_policy", community_id,
                     before=before, after=values, community_id=community_id)
    return ReminderPolicy.get(ReminderPolicy.community == community_id)


@dataclasses.dataclass(frozen=True)
class CampaignFilter:
    """Which open bills a manual campaign is for (``min_overdue_days`` 0: every open bill)."""

    community_ids: tuple[int, ...]
    period: str = ""
    fee_item_id: int | None = None
    min_overdue_days: int = 0

    def as_params(self) -> dict:
        return dataclasses.asdict(self) | {"community_ids": list(self.community_ids)}

    @classmethod
    def from_params(cls, params: dict) -> "CampaignFilter":
        return cls(tuple(params["community_ids"]), params.get("period") or "",
                   params.get("fee_item_id"), int(params.get("min_overdue_days") or 0))


def campaign_bills(flt: CampaignFilter, today: dt.date):
    """The open, positive-balance bills not on hold that the campaign is for."""
    query = due_bills().where(Bill.community.in_(list(flt.community_ids)),
                              Bill.amount_fen + Bill.adjusted_fen + Bill.late_fee_fen > Bill.paid_fen)
    if flt.period:
        query = query.where(Bill.period == flt.period)
    if flt.fee_item_id:
        query = query.where(Bill.fee_item == flt.fee_item_id)
    if flt.min_overdue_days > 0:
        query = query.where(Bill.due_date <= today - dt.timedelta(days=flt.min_overdue_days))
    return query


def campaign_stage(today: dt.date) -> str:
    """One campaign message per bill and owner per day, whoever starts how many campaigns."""
    return f"{CAMPAIGN_PREFIX}{today.isoformat()}"


def campaign_kind(due_date: dt.date, today: dt.date) -> str:
    return registry.Kind.OVERDUE if due_date < today else registry.Kind.DUE_SOON


def check_campaign_time(now: dt.datetime) -> None:
    from server.errors import Conflict

    if in_quiet_hours(now):
        raise Conflict("现在是免打扰时段（21:00–08:00），请在 08:00 之后再发起提醒活动",
                       code="QUIET_HOURS")


def send_campaign(client, flt: CampaignFilter, *, now: dt.datetime | None = None, config=None,
                  progress=None) -> dict[str, int]:
    """Send a reminder for every bill of the filter to its owners through ``deliver``
    (quota, at most once per bill, owner and campaign day); counts by result.  Refused in
    quiet hours.  Bills reminded already by this day's campaign count as ``already``."""
    now = now or utcnow()
    check_campaign_time(now)
    today = local_now(now).date()
    stage = campaign_stage(today)
    bills = list(campaign_bills(flt, today))
    owners: dict[int, list[Owner]] = {}
    if bills:
        for binding in (Binding.select(Binding, Owner).join(Owner)
                        .where(Binding.house.in_({b.house_id for b in bills}),
                               Binding.status == BindingStatus.ACTIVE).order_by(Owner.id)):
            owners.setdefault(binding.house_id, []).append(binding.owner)
    if progress is not None:
        progress.total(len(bills))
    counts: dict[str, int] = {}
    for bill in bills:
        kind = campaign_kind(bill.due_date, today)
        data_stage = "overdue_1" if kind == registry.Kind.OVERDUE else "due_soon"
        for owner in owners.get(bill.house_id, []):
            result = deliver(client, owner, bill.id, stage, kind,
                             lambda: _bill_data(bill, data_stage, today), now=now, config=config,
                             page=BILL_PAGE.format(bill_id=bill.id))
            key = result or "already"
            counts[key] = counts.get(key, 0) + 1
        if progress is not None:
            progress.advance()
    if progress is not None:
        progress.flush()
    log.info("campaign %s %s: %d bill(s), %s", stage, flt, len(bills), counts or "nothing to send")
    return counts
