"""Read side of reminders for the staff pages: the log, conversion and failure rate
per community, and what a manual campaign would reach."""
from __future__ import annotations

import datetime as dt

import peewee as pw

from server.billing.models import Bill, FeeItem
from server.ledger.models import Allocation, Payment
from server.property.models import Binding, BindingStatus, Building, Community, House, Owner
from server.timeutil import local_midnight_utc
from templates_msg import registry
from templates_msg.models import ReminderLog, ReminderResult as R, Subscription
from templates_msg.reminders import CONVERSION_WINDOW, CampaignFilter, campaign_bills, campaign_kind

# The stage families the log filter offers (a family matches ``<name>`` and ``<name>_k``/``:…``).
STAGE_FAMILIES = ("bill_issued", "due_soon", "due_day", "overdue", "campaign", "payment_success")


def log_entries(community_ids: list[int], *, stage: str = "", result: str = "",
                since: dt.date | None = None, until: dt.date | None = None):
    """Reminder log rows with bill, house, building, fee item, community and owner; newest
    first.  Dates are Shanghai days (inclusive)."""
    L = ReminderLog
    query = (L.select(L, Bill, House, Building, FeeItem, Community, Owner)
             .join(Bill).join(House).join(Building).switch(Bill).join(FeeItem)
             .switch(Bill).join(Community).switch(L).join(Owner)
             .where(Bill.community.in_(community_ids or [0])))
    if stage:
        query = query.where((L.stage == stage) | L.stage.startswith(stage + "_")
                            | L.stage.startswith(stage + ":"))
    if result:
        query = query.where(L.result == result)
    if since is not None:
        query = query.where(L.sent_at >= local_midnight_utc(since))
    if until is not None:
        query = query.where(L.sent_at < local_midnight_utc(until + dt.timedelta(days=1)))
    return query.order_by(L.sent_at.desc(), L.id.desc())


def _window(community_ids: list[int], since: dt.datetime, until: dt.datetime):
    L = ReminderLog
    return (L.select().join(Bill).where(Bill.community.in_(community_ids or [0]),
                                        L.sent_at >= since, L.sent_at < until))


def conversion(community_ids: list[int], since: dt.datetime, until: dt.datetime) -> dict:
    """``templates_msg.reminders.conversion`` for these communities: of the bills reminded
    (sent) in [since, until), how many got a payment within 72 hours of a reminder.  Two
    queries whatever the number of bills."""
    L = ReminderLog
    sent = list(_window(community_ids, since, until)
                .select(L.bill, L.sent_at)
                .where(L.result == R.SENT, ~L.stage.startswith("payment_success"),
                       ~L.stage.startswith("dispute")).tuples())
    reminded: dict[int, list[dt.datetime]] = {}
    for bill_id, at in sent:
        reminded.setdefault(bill_id, []).append(at)
    paid_at: dict[int, list[dt.datetime]] = {}
    if reminded:
        for bill_id, at in (Allocation.select(Allocation.bill, Payment.received_at).join(Payment)
                            .where(Allocation.bill.in_(list(reminded)),
                                   Payment.received_at >= since,
                                   Payment.received_at < until + CONVERSION_WINDOW).tuples()):
            paid_at.setdefault(bill_id, []).append(at)
    paid = sum(1 for bill_id, times in reminded.items()
               if any(t <= p <= t + CONVERSION_WINDOW for t in times for p in paid_at.get(bill_id, ())))
    total = len(reminded)
    return {"reminded": total, "paid_within_72h": paid,
            "rate_bp": (paid * 10_000 // total) if total else 0}


def failure_rate(community_ids: list[int], since: dt.datetime, until: dt.datetime) -> dict:
    """Of the sends tried in the window (quota skips and sends under way excluded), the
    share WeChat did not deliver."""
    L = ReminderLog
    tried = _window(community_ids, since, until).where(L.result.not_in((R.SKIPPED_QUOTA, R.SENDING)))
    attempts = tried.count()
    failed = tried.where(L.result != R.SENT).count()
    return {"attempts": attempts, "failed": failed,
            "rate_bp": (failed * 10_000 // attempts) if attempts else 0}


def results_by_count(community_ids: list[int], since: dt.datetime, until: dt.datetime) -> dict:
    L = ReminderLog
    query = _window(community_ids, since, until).select(L.result, pw.fn.COUNT(L.id)).group_by(L.result)
    return {result: n for result, n in query.tuples()}


def campaign_preview(flt: CampaignFilter, today: dt.date, *, config=None) -> dict:
    """What a campaign would reach: bills, their balance, owners bound to them and how many of
    those owners have a send left of the template each bill needs.  Three queries."""
    bills = list(campaign_bills(flt, today).select(Bill.id, Bill.house, Bill.due_date, Bill.amount_fen,
                                                    Bill.adjusted_fen, Bill.late_fee_fen, Bill.paid_fen)
                 .tuples())
    balance = sum(a + adj + late - paid for _, _, _, a, adj, late, paid in bills)
    template_of = {kind: registry.template_for(kind, config).template_id
                   for kind in (registry.Kind.DUE_SOON, registry.Kind.OVERDUE)}
    needs: dict[int, set[str]] = {}           # house → template ids its bills need
    for _, house_id, due_date, *_ in bills:
        needs.setdefault(house_id, set()).add(template_of[campaign_kind(due_date, today)])
    owners: dict[int, set[int]] = {}          # owner → houses
    if needs:
        for owner_id, house_id in (Binding.select(Binding.owner, Binding.house)
                                   .where(Binding.house.in_(list(needs)),
                                          Binding.status == BindingStatus.ACTIVE).tuples()):
            owners.setdefault(owner_id, set()).add(house_id)
    with_quota: set[int] = set()
    if owners:
        quota = {(o, t) for o, t in (Subscription.select(Subscription.owner, Subscription.template_id)
                                     .where(Subscription.owner.in_(list(owners)),
                                            Subscription.remaining > 0).tuples())}
        with_quota = {o for o, houses in owners.items()
                      if any((o, t) in quota for h in houses for t in needs[h])}
    return {"bills": len(bills), "balance_fen": balance, "owners": len(owners),
            "owners_with_quota": len(with_quota)}


def stage_label(stage: str) -> str:
    labels = {"bill_issued": "出账通知", "due_soon": "到期前提醒", "due_day": "到期日提醒"}
    if stage in labels:
        return labels[stage]
    if stage.startswith("overdue_"):
        return f"逾期提醒（第{stage[8:]}次）"
    if stage.startswith("campaign:"):
        return f"手动提醒活动 {stage[9:]}"
    if stage.startswith("payment_success"):
        return "缴费成功通知"
    if stage.startswith("dispute_re"):       # dispute_reply / dispute_resolved (:<message id>)
        return "异议已办结通知" if stage.startswith("dispute_resolved") else "异议回复通知"
    return stage
