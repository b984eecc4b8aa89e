"""The alert rules (RELIABILITY.md R16): conditions a person must hear about.

Each rule looks at the database and returns a ``Finding`` when its condition
holds; ``raise_findings`` records them as alerts folded by a stable
``dedupe_key``, so a condition that persists bumps one open alert instead of
adding one every five minutes.  A clean state finds nothing and says nothing.
Queue-side rules (failed jobs) live in ``jobs.alerting``: this module knows
no queue.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

from payments.models import OrderStatus, PaymentOrder
from server import outbox
from server.alerts import Alert, Severity, raise_alert
from server.reconciliation.models import ReconciliationItem, ReconciliationRun

TERMINAL_WITHIN = dt.timedelta(hours=24, minutes=4)   # WeChat's callback retry span (R7)
UNKNOWN_FOR = dt.timedelta(minutes=15)                # the janitor's +1 min and +5 min turns missed
JANITOR_LATE = dt.timedelta(minutes=10)
OUTBOX_LATE = dt.timedelta(minutes=15)
SHOWN = 20


@dataclasses.dataclass(frozen=True)
class Finding:
    kind: str
    message: str
    severity: str = Severity.WARNING
    details: dict = dataclasses.field(default_factory=dict)

    @property
    def dedupe_key(self) -> str:
        return f"rule:{self.kind}"


REMINDER_WINDOW = dt.timedelta(hours=1)


def _orders(where, limit: int = SHOWN) -> tuple[int, list[str]]:
    query = PaymentOrder.select(PaymentOrder.out_trade_no).where(where)
    return query.count(), [o for (o,) in query.order_by(PaymentOrder.created_at).limit(limit).tuples()]


def stuck_orders(now: dt.datetime) -> Finding | None:
    count, sample = _orders(PaymentOrder.status.in_(OrderStatus.OPEN)
                            & (PaymentOrder.created_at < now - TERMINAL_WITHIN))
    if count:
        return Finding("order_stuck", f"{count} 笔支付订单超过 24 小时 4 分钟仍未终结", Severity.CRITICAL,
                       {"count": count, "out_trade_nos": sample})
    return None


def unknown_orders(now: dt.datetime) -> Finding | None:
    count, sample = _orders((PaymentOrder.status == OrderStatus.UNKNOWN)
                            & (PaymentOrder.updated_at < now - UNKNOWN_FOR))
    if count:
        return Finding("order_unknown", f"{count} 笔支付订单结果未知超过 15 分钟", Severity.WARNING,
                       {"count": count, "out_trade_nos": sample})
    return None


def janitor_stalled(now: dt.datetime) -> Finding | None:
    """Open orders whose next query is long overdue: the janitor is not running."""
    count, sample = _orders(PaymentOrder.status.in_(OrderStatus.OPEN)
                            & (PaymentOrder.next_query_at < now - JANITOR_LATE))
    if count:
        return Finding("janitor_stalled", f"订单巡检未按时执行：{count} 笔订单的查询已逾期超过 10 分钟",
                       Severity.CRITICAL, {"count": count, "out_trade_nos": sample})
    return None


def reconciliation_unresolved(now: dt.datetime) -> Finding | None:
    query = (ReconciliationItem.select(ReconciliationItem.kind, ReconciliationRun.bill_date)
             .join(ReconciliationRun).where(ReconciliationItem.resolved_at.is_null()))
    count = query.count()
    if not count:
        return None
    dates = sorted({str(d) for _, d in query.tuples()})
    return Finding("reconciliation_unresolved", f"{count} 项对账差异待处理", Severity.WARNING,
                   {"count": count, "dates": dates[-SHOWN:]})


def outbox_backlog(now: dt.datetime) -> Finding | None:
    count = outbox.backlog(now, OUTBOX_LATE)
    if count:
        return Finding("outbox_backlog", f"{count} 项后续任务超过 15 分钟未完成（队列或工作进程异常？）",
                       Severity.CRITICAL, {"count": count})
    return None


def signature_failures(count: int, threshold: int) -> Finding | None:
    if threshold > 0 and count >= threshold:
        return Finding("signature_failures", f"5 分钟内 {count} 次微信回调签名验证失败", Severity.CRITICAL,
                       {"count": count, "threshold": threshold})
    return None


def reminder_failures(now: dt.datetime) -> Finding | None:
    """More than 20% of at least 20 reminder sends in the last hour failed at WeChat."""
    from templates_msg.reminders import failure_rate

    stats = failure_rate(now - REMINDER_WINDOW, now)
    if stats["attempts"] >= 20 and stats["rate_bp"] > 2_000:
        return Finding("reminder_failures",
                       f"最近 1 小时缴费提醒发送失败 {stats['failed']}/{stats['attempts']} 次",
                       Severity.WARNING, stats)
    return None


DATABASE_RULES = (stuck_orders, unknown_orders, janitor_stalled, reconciliation_unresolved, outbox_backlog,
                  reminder_failures)


def evaluate(now: dt.datetime, *, signature_failure_count: int = 0,
             signature_failure_threshold: int = 0) -> list[Finding]:
    findings = [rule(now) for rule in DATABASE_RULES]
    findings.append(signature_failures(signature_failure_count, signature_failure_threshold))
    return [f for f in findings if f is not None]


def raise_findings(findings: list[Finding]) -> list[Alert]:
    return [raise_alert(f.kind, f.message, severity=f.severity, details=f.details,
                        dedupe_key=f.dedupe_key) for f in findings]
