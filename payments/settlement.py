"""Crediting a WeChat payment: exactly once, whoever sees it first.

The callback, the active query, the janitor and the daily reconciliation all
call ``credit_wechat_transaction`` with WeChat's transaction object (already
authenticated by the caller).  Inside one transaction it locks the order row,
moves the order to ``paid`` with a conditional update, records the Payment
(UNIQUE ``transaction_id`` and ``order`` as the backstop), allocates it to the
order's bills, numbers the receipt and writes the audit record.  A repeat finds
the order already paid with the same transaction id and changes nothing; it
never raises "already paid" from inside the transaction (RELIABILITY.md R5).

Money is never dropped: a payment for an order we had closed, or more than the
bills still ask for, is recorded and flagged for review (refund or
re-allocation) with an alert (R6).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import logging

from payments.models import Channel, OrderBill, OrderStatus, PaymentOrder
from payments.states import transition
from server import audit, outbox
from server.alerts import Severity, raise_alert
from server.billing.models import Bill, BillStatus
from server.db import for_update, transaction
from server.ledger import posting
from server.ledger.models import Payment
from server.ledger.receipts import next_receipt_no
from server.money import format_yuan
from server.timeutil import SHANGHAI, local_today, utcnow

log = logging.getLogger(__name__)


class Outcome(enum.Enum):
    APPLIED = "applied"                  # money recorded now
    ALREADY_APPLIED = "already_applied"  # a repeat: nothing changed
    NOT_PAID = "not_paid"                # WeChat says the order is not (yet) paid
    REJECTED = "rejected"                # does not match our records: alerted, not applied


@dataclasses.dataclass
class CreditResult:
    outcome: Outcome
    order: PaymentOrder | None = None
    payment: Payment | None = None
    problems: list[str] = dataclasses.field(default_factory=list)


def mismatches(txn: dict, order: PaymentOrder, *, mchid: str, appid: str) -> list[str]:
    """Every way the transaction disagrees with our order (R4)."""
    problems = []
    if str(txn.get("mchid")) != str(mchid):
        problems.append(f"商户号 {txn.get('mchid')!r} 与本商户不符")
    if appid and str(txn.get("appid")) != str(appid):
        problems.append(f"AppID {txn.get('appid')!r} 与本小程序不符")
    amount = txn.get("amount") or {}
    total = amount.get("total")
    if isinstance(total, bool) or not isinstance(total, int) or total != order.total_fen:
        problems.append(f"支付金额 {total!r} 分与订单金额 {order.total_fen} 分不符")
    if amount.get("currency", "CNY") != "CNY":
        problems.append(f"币种 {amount.get('currency')!r} 不是人民币")
    if not txn.get("transaction_id"):
        problems.append("缺少微信支付订单号")
    return problems


def _success_time(txn: dict) -> dt.datetime:
    """WeChat's RFC3339 ``success_time``; one without an offset is Beijing time (a
    naive datetime would be refused by the database layer and fail the credit)."""
    raw = txn.get("success_time")
    try:
        when = dt.datetime.fromisoformat(raw) if raw else None
    except (TypeError, ValueError):
        when = None
    if when is None:
        return utcnow()
    return when if when.tzinfo is not None else when.replace(tzinfo=SHANGHAI)


def credit_wechat_transaction(txn: dict, *, mchid: str, appid: str, source: str) -> CreditResult:
    """Apply an authenticated WeChat transaction object (query result or decrypted callback)."""
    out_trade_no = txn.get("out_trade_no")
    order = PaymentOrder.get_or_none(PaymentOrder.out_trade_no == out_trade_no)
    if order is None:
        raise_alert("payment_unknown_order", f"微信支付报告了一笔本系统没有的订单 {out_trade_no} 的付款",
                    severity=Severity.CRITICAL, dedupe_key=f"unknown_order:{out_trade_no}",
                    details={"out_trade_no": out_trade_no, "transaction_id": txn.get("transaction_id"),
                             "source": source})
        return CreditResult(Outcome.REJECTED, problems=["订单号不存在"])
    state = txn.get("trade_state")
    if state not in ("SUCCESS", "REFUND"):
        return CreditResult(Outcome.NOT_PAID, order=order)
    problems = mismatches(txn, order, mchid=mchid, appid=appid)
    if problems:
        raise_alert("payment_mismatch", f"订单 {out_trade_no} 的微信支付结果与本地记录不符，未入账",
                    severity=Severity.CRITICAL, dedupe_key=f"mismatch:{out_trade_no}",
                    community_id=order.community_id,
                    details={"out_trade_no": out_trade_no, "problems": problems, "source": source,
                             "transaction_id": txn.get("transaction_id")})
        return CreditResult(Outcome.REJECTED, order=order, problems=problems)
    result = _apply(order.id, txn, source)
    # Alert once, when the money is booked; a repeat must change nothing (R5).
    if result.outcome is Outcome.APPLIED and result.payment.needs_review:
        raise_alert("payment_needs_review",
                    f"订单 {out_trade_no} 收款需复核：{result.payment.review_reason}",
                    dedupe_key=f"review:{out_trade_no}", community_id=order.community_id,
                    details={"payment_id": result.payment.id, "reason": result.payment.review_reason})
    return result


def _apply(order_id: int, txn: dict, source: str) -> CreditResult:
    transaction_id = txn["transaction_id"]
    with transaction():
        order = for_update(PaymentOrder.select().where(PaymentOrder.id == order_id)).get()
        if order.transaction_id == transaction_id:
            return CreditResult(Outcome.ALREADY_APPLIED, order=order,
                                payment=Payment.get_or_none(Payment.order == order.id))
        if order.transaction_id:  # paid already under another transaction: never overwrite
            raise_alert("payment_duplicate_transaction",
                        f"订单 {order.out_trade_no} 出现第二笔微信交易 {transaction_id}",
                        severity=Severity.CRITICAL, dedupe_key=f"dup_txn:{transaction_id}",
                        community_id=order.community_id,
                        details={"first": order.transaction_id, "second": transaction_id})
            return CreditResult(Outcome.REJECTED, order=order, problems=["订单出现第二笔微信交易"])
        was_closed = order.status == OrderStatus.CLOSED
        paid_at = _success_time(txn)
        if not transition(order, OrderStatus.PAID, transaction_id=transaction_id, paid_at=paid_at):
            return CreditResult(Outcome.REJECTED, order=order, problems=[f"订单状态为 {order.status}，不能入账"])
        payment = _record_payment(order, transaction_id, paid_at, was_closed, source)
        audit.record(audit.Actor("wechat", source), "payment.credit", "payment", payment.id,
                     after={"out_trade_no": order.out_trade_no, "transaction_id": transaction_id,
                            "amount_fen": payment.amount_fen, "receipt_no": payment.receipt_no,
                            "needs_review": payment.needs_review, "reason": payment.review_reason},
                     community_id=order.community_id)
        outbox.add("payment.credited", {"payment_id": payment.id, "order_id": order.id,
                                        "out_trade_no": order.out_trade_no, "amount_fen": payment.amount_fen,
                                        "community_id": order.community_id, "source": source},
                   dedupe_key=f"payment.credited:{payment.id}")
    log.info("credited order %s (%s) from %s", order.out_trade_no, payment.receipt_no, source)
    return CreditResult(Outcome.APPLIED, order=order, payment=payment)


def allocation_plan(order: PaymentOrder) -> list[tuple[int, int]]:
    """What each bill of the order can take now: the amount asked at creation,
    cut to what the bill still owes (another payment may have come first)."""
    plan = []
    lines = OrderBill.select().where(OrderBill.order == order.id).order_by(OrderBill.bill)
    for line in lines:
        bill = posting.lock_bill(line.bill_id)
        if bill.status not in BillStatus.OPEN:
            continue
        amount = min(line.amount_fen, bill.balance_fen)
        if amount > 0:
            plan.append((bill.id, amount))
    return plan


def _record_payment(order: PaymentOrder, transaction_id: str, paid_at: dt.datetime,
                    was_closed: bool, source: str) -> Payment:
    plan = allocation_plan(order)
    unallocated = order.total_fen - sum(amount for _, amount in plan)
    reasons = []
    if was_closed:
        reasons.append("订单关闭后才付款")
    if unallocated:
        reasons.append(f"{format_yuan(unallocated)} 元未能入账（账单已缴清或已作废），请核对后退款")
    community = order.community
    payment = Payment.create(
        community=community, order=order, channel=Channel.WECHAT, amount_fen=order.total_fen,
        transaction_id=transaction_id, received_at=paid_at,
        receipt_no=next_receipt_no(community, local_today(paid_at)),
        needs_review=bool(reasons), review_reason="；".join(reasons),
        raw={"source": source})
    if plan:
        posting.allocate_payment(payment, plan, audit.Actor("wechat", source))
    return payment


def bills_of(order: PaymentOrder) -> list[Bill]:
    return list(Bill.select().join(OrderBill, on=(OrderBill.bill == Bill.id))
                .where(OrderBill.order == order.id).order_by(Bill.id))
