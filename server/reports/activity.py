"""Money received by channel, and the work waiting for staff.

* 收款渠道: payments received (``received_at``) in a Shanghai date range,
  by channel — money in, before refunds.  For a period P as of D the range
  is the first day of P's month to the earlier of D and the month's end.
* 待处理: alerts not acknowledged, disputes open or answered, reconciliation
  differences not resolved — counted now (these are a to-do list, not history).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import peewee as pw

from payments.models import Channel
from server.alerts import Alert
from server.billing.models import Bill
from server.disputes.models import Dispute, DisputeStatus
from server.ledger.models import Payment
from server.reconciliation.models import ReconciliationItem
from server.timeutil import local_midnight_utc, period_end, period_start

CHANNEL_NAMES = Channel.NAMES


@dataclass(frozen=True)
class ChannelSum:
    channel: str
    name: str
    payments: int
    amount_fen: int


def channel_mix(community_ids: list[int], first: dt.date, last: dt.date) -> list[ChannelSum]:
    """Σ payments received from ``first`` to ``last`` (Shanghai dates, inclusive) by channel."""
    rows = (Payment.select(Payment.channel, pw.fn.COUNT(Payment.id), pw.fn.SUM(Payment.amount_fen))
            .where(Payment.community.in_(community_ids),
                   Payment.received_at >= local_midnight_utc(first),
                   Payment.received_at < local_midnight_utc(last + dt.timedelta(days=1)))
            .group_by(Payment.channel).tuples())
    result = [ChannelSum(ch, CHANNEL_NAMES.get(ch, ch), int(n), int(s or 0)) for ch, n, s in rows]
    return sorted(result, key=lambda c: (-c.amount_fen, c.channel))


def period_range(period: str, as_of: dt.date) -> tuple[dt.date, dt.date]:
    """P's month, cut at D."""
    return period_start(period), min(period_end(period), as_of)


@dataclass(frozen=True)
class OpenWork:
    alerts: int
    disputes: int
    reconciliation_items: int | None  # None: not shown to staff limited to some communities


def open_work(community_ids: list[int], *, all_communities: bool) -> OpenWork:
    alerts = Alert.select().where(Alert.acknowledged_at.is_null())
    if not all_communities:
        alerts = alerts.where(Alert.community_id.in_(community_ids))
    disputes = (Dispute.select().join(Bill)
                .where(Dispute.status.in_(DisputeStatus.ACTIVE), Bill.community.in_(community_ids)))
    items = None
    if all_communities:
        items = ReconciliationItem.select().where(ReconciliationItem.resolved_at.is_null()).count()
    return OpenWork(alerts.count(), disputes.count(), items)
