"""Refunds: per bill of a payment, never more than that bill received from it.

request → (second staff member) approve → sent to WeChat, or paid out at the
counter for offline payments → success | abnormal | closed.  The amount is
reserved from the moment of the request, checked under a lock on the payment
row, so two clicks can never refund more than was paid (R14).  Each request
has a deterministic ``out_refund_no``: every retry, query or callback is about
the same refund at WeChat.
"""
from __future__ import annotations

import base64
import hashlib
import logging

import peewee as pw

from payments import exceptions as wx
from payments.models import Channel, OrderStatus, PaymentOrder
from payments.states import transition
from server import audit
from server.alerts import Severity, raise_alert
from server.config import REFUND_NO_PREFIX_RE, Config, ConfigError
from server.db import for_update, transaction
from server.errors import Conflict, Forbidden, NotFound, ValidationError
from server.ledger import posting
from server.ledger.models import Allocation, Payment, Refund, RefundStatus
from server.money import format_yuan
from server.timeutil import utcnow

log = logging.getLogger(__name__)


def refund_no_prefix(config=None) -> str:
    """This installation's tag in ``out_refund_no``: ``WECHATPAY_REFUND_NO_PREFIX``, or
    (unset) 6 characters derived from ``SECRET_KEY``, which each installation generates
    for itself on first run.  ``config`` defaults to the app's (or the environment's)."""
    config = _current_config() if config is None else config
    explicit = (getattr(config, "WECHATPAY_REFUND_NO_PREFIX", "") or "").strip()
    if explicit:
        if not REFUND_NO_PREFIX_RE.match(explicit):
            raise ConfigError(f"WECHATPAY_REFUND_NO_PREFIX must be 1-8 of [0-9A-Za-z], not {explicit!r}")
        return explicit
    secret = (getattr(config, "SECRET_KEY", "") or "").encode()
    return base64.b32encode(hashlib.sha256(b"wuyepay/out_refund_no\0" + secret).digest()).decode()[:6]


def _current_config():
    from flask import current_app, has_app_context

    if has_app_context() and "wuyepay_config" in current_app.extensions:
        return current_app.extensions["wuyepay_config"]
    return Config.from_env()


def out_refund_no(payment_id: int, bill_id: int, request_key: str, prefix: str | None = None) -> str:
    """``RF<prefix>_<payment>B<bill>_<20 hex>``: 1-64 of [0-9A-Za-z_] (WeChat: 1-64 of
    [0-9a-zA-Z_-|*@]).  Deterministic: the same request is the same refund at WeChat, so a
    retry can never refund twice; the prefix keeps installations sharing a merchant id apart.
    Very long ids drop the readable part: the digest covers them anyway."""
    prefix = refund_no_prefix() if prefix is None else prefix
    if not REFUND_NO_PREFIX_RE.match(prefix):
        raise ValueError(f"refund number prefix must be 1-8 of [0-9A-Za-z], not {prefix!r}")
    digest = hashlib.sha256(f"{prefix}:{payment_id}:{bill_id}:{request_key}".encode()).hexdigest()[:20].upper()
    number = f"RF{prefix}_{payment_id}B{bill_id}_{digest}"
    return number if len(number) <= 64 else f"RF{prefix}_{digest}"


def legacy_out_refund_no(payment_id: int, bill_id: int, request_key: str) -> str:
    """The number before installation prefixes: a retry of a request made then finds its refund."""
    digest = hashlib.sha256(f"{payment_id}:{bill_id}:{request_key}".encode()).hexdigest()[:20].upper()
    return f"RF{payment_id}B{bill_id}{digest}"[:64]


def refundable_fen(payment_id: int, bill_id: int) -> int:
    """What this payment paid to this bill, less every refund not failed or rejected."""
    allocated = (Allocation.select(pw.fn.SUM(Allocation.amount_fen))
                 .where(Allocation.payment == payment_id, Allocation.bill == bill_id).scalar()) or 0
    reserved = (Refund.select(pw.fn.SUM(Refund.amount_fen))
                .where(Refund.payment == payment_id, Refund.bill == bill_id,
                       Refund.status.in_(RefundStatus.RESERVED)).scalar()) or 0
    return allocated - reserved


def request_refund(payment_id: int, bill_id: int, amount_fen: int, reason: str, actor: audit.Actor,
                   *, request_key: str, prefix: str | None = None) -> Refund:
    """Reserve a refund.  The same ``request_key`` (a form's one-time token) returns the same refund.

    ``prefix``: this installation's refund-number tag (default :func:`refund_no_prefix`)."""
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        raise ValidationError("退款金额必须为正整数（分）", details={"amount_fen": repr(amount_fen)})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("请填写退款原因", details={"reason": "必填"})
    if not request_key:
        raise ValidationError("缺少本次退款申请的标识，请刷新页面后重新提交", details={"request_key": "必填"})
    number = out_refund_no(payment_id, bill_id, request_key, prefix)
    # The same request made before numbers carried a prefix keeps its (legacy) number.
    numbers = (number, legacy_out_refund_no(payment_id, bill_id, request_key))
    existing = Refund.get_or_none(Refund.out_refund_no.in_(numbers))
    if existing is not None:
        return existing
    try:
        with transaction():
            payment = for_update(Payment.select().where(Payment.id == payment_id)).first()
            if payment is None:
                raise NotFound("收款记录不存在", code="PAYMENT_NOT_FOUND")
            # A second click that waited for our lock finds the first click's refund
            # here; checking the amount first would refuse it as "exceeds paid".
            existing = Refund.get_or_none(Refund.out_refund_no.in_(numbers))
            if existing is not None:
                return existing
            available = refundable_fen(payment.id, bill_id)
            if amount_fen > available:
                raise Conflict(f"退款金额 {format_yuan(amount_fen)} 元超过可退金额 "
                               f"{format_yuan(max(available, 0))} 元",
                               code="REFUND_EXCEEDS_PAID",
                               details={"refundable_fen": max(available, 0), "requested_fen": amount_fen})
            refund = Refund.create(payment=payment, bill=bill_id, out_refund_no=number,
                                   amount_fen=amount_fen, reason=reason[:80],
                                   status=RefundStatus.PENDING_APPROVAL, requested_by=actor.staff_id)
            audit.record(actor, "refund.request", "refund", refund.id, community_id=payment.community_id,
                         after={"payment_id": payment.id, "bill_id": bill_id, "amount_fen": amount_fen,
                                "reason": reason, "out_refund_no": number})
    except pw.IntegrityError:  # the same request from a second click, committed first
        return Refund.get(Refund.out_refund_no == number)
    return refund


def approve_refund(refund_id: int, actor: audit.Actor, client=None) -> Refund:
    """Approve (a different staff member) and carry the refund out."""
    with transaction():
        refund = for_update(Refund.select().where(Refund.id == refund_id)).first()
        if refund is None:
            raise NotFound("退款不存在", code="REFUND_NOT_FOUND")
        if refund.status != RefundStatus.PENDING_APPROVAL:
            return refund
        if actor.staff_id is not None and actor.staff_id == refund.requested_by_id:
            raise Forbidden("退款需由另一名工作人员审批", code="SECOND_APPROVER_REQUIRED")
        Refund.update(status=RefundStatus.PROCESSING, approved_by=actor.staff_id, updated_at=utcnow()) \
            .where(Refund.id == refund.id).execute()
        audit.record(actor, "refund.approve", "refund", refund.id,
                     community_id=refund.payment.community_id)
    refund = Refund.get_by_id(refund_id)
    if refund.payment.channel != Channel.WECHAT:
        posting.apply_refund_success(refund, actor)  # paid out at the counter
        _update_order_refund_state(refund.payment)
        return Refund.get_by_id(refund_id)
    return submit_refund(refund, client)


def reject_refund(refund_id: int, actor: audit.Actor, note: str = "") -> Refund:
    with transaction():
        changed = (Refund.update(status=RefundStatus.REJECTED, approved_by=actor.staff_id,
                                 updated_at=utcnow())
                   .where(Refund.id == refund_id, Refund.status == RefundStatus.PENDING_APPROVAL)
                   .execute())
        if changed:
            audit.record(actor, "refund.reject", "refund", refund_id, note=note)
    return Refund.get_by_id(refund_id)


def submit_refund(refund: Refund, client) -> Refund:
    """Send (or re-send, same parameters) a processing refund to WeChat."""
    payment = refund.payment
    try:
        answer = client.refund(refund.out_refund_no, refund.amount_fen, payment.amount_fen,
                               refund.reason, transaction_id=payment.transaction_id)
    except wx.NotEnough:
        raise_alert("refund_not_enough", f"退款 {refund.out_refund_no} 因商户余额不足暂未受理",
                    dedupe_key="refund_not_enough", community_id=payment.community_id)
        return refund
    except (wx.OutcomeUnknown, wx.NetworkError, wx.RateLimited) as exc:
        log.warning("refund %s outcome unknown (%s): will query", refund.out_refund_no, exc)
        return refund
    apply_refund_result(answer, source="submit")
    return Refund.get_by_id(refund.id)


def sync_refund(refund: Refund, client) -> Refund:
    answer = client.query_refund(refund.out_refund_no)
    apply_refund_result(answer, source="query")
    return Refund.get_by_id(refund.id)


def apply_refund_result(data: dict, *, source: str, mchid: str | None = None) -> str:
    """Apply a refund object or refund notification (``status`` or ``refund_status``)."""
    number = data.get("out_refund_no")
    refund = Refund.get_or_none(Refund.out_refund_no == number)
    if refund is None or (mchid and data.get("mchid") and str(data["mchid"]) != str(mchid)):
        raise_alert("refund_unknown", f"微信退款结果无法对应本地退款 {number}", severity=Severity.CRITICAL,
                    dedupe_key=f"refund_unknown:{number}", details={"out_refund_no": number, "source": source})
        return "rejected"
    status = data.get("refund_status") or data.get("status")
    refund_id = data.get("refund_id")
    amount = (data.get("amount") or {}).get("refund")
    if amount is not None and amount != refund.amount_fen:
        # Like a payment (R4): what WeChat reports must match what we asked for.
        raise_alert("refund_mismatch",
                    f"微信退款 {number} 的金额 {amount!r} 与本地 {refund.amount_fen} 不符，未处理",
                    severity=Severity.CRITICAL, dedupe_key=f"refund_mismatch:{number}",
                    community_id=refund.payment.community_id,
                    details={"out_refund_no": number, "reported_fen": amount, "source": source})
        return "rejected"
    if status == "SUCCESS":
        try:
            applied = posting.apply_refund_success(refund, audit.Actor("wechat", source), refund_id=refund_id)
        except Conflict as exc:
            # WeChat paid out a refund we never sent (not approved, rejected, closed):
            # for a person to untangle.  Raising would leave the callback failing forever.
            raise_alert("refund_unexpected", f"微信退款 {number} 成功，但本地退款状态为 {refund.status}：{exc}",
                        severity=Severity.CRITICAL, dedupe_key=f"refund_unexpected:{number}",
                        community_id=refund.payment.community_id,
                        details={"out_refund_no": number, "status": refund.status, "source": source})
            return "rejected"
        _update_order_refund_state(refund.payment)
        return "applied" if applied else "already_applied"
    if status in ("ABNORMAL", "CLOSED"):
        new = RefundStatus.ABNORMAL if status == "ABNORMAL" else RefundStatus.CLOSED
        with transaction():
            changed = (Refund.update(status=new, refund_id=refund_id or refund.refund_id, updated_at=utcnow())
                       .where(Refund.id == refund.id,
                              Refund.status.in_((RefundStatus.PROCESSING, RefundStatus.ABNORMAL)))
                       .execute())
            if changed:
                audit.record(audit.Actor("wechat", source), f"refund.{new}", "refund", refund.id,
                             community_id=refund.payment.community_id)
        if changed and new == RefundStatus.ABNORMAL:
            raise_alert("refund_abnormal", f"退款 {number} 异常（如用户银行卡已注销），需人工处理",
                        severity=Severity.CRITICAL, dedupe_key=f"refund_abnormal:{number}",
                        community_id=refund.payment.community_id)
        return "applied" if changed else "already_applied"
    return "not_final"


def _update_order_refund_state(payment: Payment) -> None:
    if payment.order_id is None:
        return
    refunded = (Refund.select(pw.fn.SUM(Refund.amount_fen))
                .where(Refund.payment == payment.id, Refund.status == RefundStatus.SUCCESS).scalar()) or 0
    order = PaymentOrder.get_by_id(payment.order_id)
    target = OrderStatus.REFUNDED if refunded >= payment.amount_fen else OrderStatus.PARTIALLY_REFUNDED
    if refunded and order.status != target:
        with transaction():
            transition(order, target, expect=(OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED))
