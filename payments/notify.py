"""WeChat Pay callbacks: verify → persist → decrypt → apply → record the outcome.

Nothing in a callback is believed before its signature verifies with the key
chosen by ``Wechatpay-Serial`` and its timestamp is within 300 s; a callback
that fails is answered 401 and leaves no trace in the database (R3).  A
verified one is stored first (UNIQUE on WeChat's notification id, so a
redelivery is one row) and then acknowledged whatever applying it gives:
WeChat retries only what it could change, i.e. when we could not store it (R15).
"""
from __future__ import annotations

import dataclasses
import json
import logging

import peewee as pw
from playhouse.pool import MaxConnectionsExceeded

from payments import exceptions as wx
from payments.models import NotifyEvent
from payments.settlement import credit_wechat_transaction
from server.alerts import Severity, raise_alert
from server.timeutil import utcnow

log = logging.getLogger(__name__)
_KEPT_HEADERS = ("Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial",
                 "Wechatpay-Signature", "Wechatpay-Signature-Type", "Request-ID")


@dataclasses.dataclass
class Answer:
    status: int
    body: dict | None = None

    @classmethod
    def ok(cls) -> "Answer":
        return cls(204)

    @classmethod
    def fail(cls, status: int, message: str) -> "Answer":
        return cls(status, {"code": "FAIL", "message": message})


@dataclasses.dataclass
class Merchant:
    mchid: str
    appid: str


FINAL = ("applied", "already_applied", "rejected", "ignored", "not_paid")


def receive(headers, body: bytes, verifier, merchant: Merchant, *, on_signature_failure=None,
            dispatch=None) -> Answer:
    """Handle one callback and say what to answer WeChat.

    Without ``dispatch`` the stored event is applied before answering.  With it,
    ``dispatch(event_id)`` hands the stored event to background work (a job
    calling :func:`apply_event`) and WeChat is answered at once (R15: verify,
    store, acknowledge); an event the dispatcher loses is still applied by the
    sweeper (:func:`reprocess_pending`), since it stays ``received``.
    """
    try:
        verifier.verify(headers, body)
    except wx.VerificationError as exc:
        log.warning("rejected WeChat Pay callback: %s (serial %s)", type(exc).__name__,
                    headers.get("Wechatpay-Serial", "-"))
        if on_signature_failure is not None:
            on_signature_failure(exc)
        return Answer.fail(401, "签名验证失败")
    try:
        envelope = json.loads(body)
        notification_id = str(envelope["id"])
        event_type = str(envelope.get("event_type", ""))
    except (ValueError, KeyError, TypeError):
        return Answer.fail(400, "通知格式错误")
    try:
        event, fresh = _persist(notification_id, event_type, headers, body)
    except (pw.DatabaseError, MaxConnectionsExceeded) as exc:  # database down, or no connection free
        log.error("could not store callback %s: %s", notification_id, exc)
        return Answer.fail(500, "系统繁忙，请稍后重试")
    if not fresh and event.status in FINAL:
        return Answer.ok()
    if dispatch is not None:
        try:
            dispatch(event.id)
        except Exception:  # stored: the sweeper applies it
            log.exception("could not hand callback %s to the background", notification_id)
        return Answer.ok()
    try:
        process(event, verifier, merchant)
    except Exception:  # stored: the sweeper re-processes it; WeChat need not resend
        log.exception("processing callback %s failed; it stays queued", notification_id)
        try:
            _mark(event, "failed", "processing error; will be retried")
        except pw.DatabaseError:  # left "received", which the sweeper also picks up
            log.error("could not mark callback %s as failed", notification_id)
    return Answer.ok()


def _persist(notification_id, event_type, headers, body) -> tuple[NotifyEvent, bool]:
    kept = {name: headers.get(name) for name in _KEPT_HEADERS if headers.get(name)}
    try:
        return NotifyEvent.create(notification_id=notification_id, event_type=event_type,
                                  headers=kept, body=body.decode("utf-8", "replace"),
                                  verified=True, status="received"), True
    except pw.IntegrityError:
        return NotifyEvent.get(NotifyEvent.notification_id == notification_id), False


def _mark(event: NotifyEvent, status: str, result: str, out_trade_no: str | None = None) -> None:
    """Record the outcome.  ``applied`` is final: a redelivery of the same event that
    was processed concurrently (and found the money already booked) must not
    overwrite the record of which event booked it."""
    fields = {"status": status, "result": result[:255], "processed_at": utcnow()}
    if out_trade_no:
        fields["out_trade_no"] = out_trade_no
    (NotifyEvent.update(**fields)
     .where(NotifyEvent.id == event.id, NotifyEvent.status != "applied")
     .execute())
    for key, value in fields.items():
        setattr(event, key, value)


def process(event: NotifyEvent, verifier, merchant: Merchant) -> str:
    """Decrypt a stored (already verified) callback and apply it.  Idempotent."""
    envelope = json.loads(event.body)
    resource = envelope.get("resource") or {}
    try:
        data = json.loads(verifier.decrypt(resource))
    except (wx.DecryptError, ValueError) as exc:
        raise_alert("notify_decrypt_failed", f"微信回调 {event.notification_id} 无法解密：{exc}",
                    severity=Severity.CRITICAL, dedupe_key="notify_decrypt_failed")
        _mark(event, "undecryptable", str(exc))
        return event.status
    if event.event_type == "TRANSACTION.SUCCESS":
        result = credit_wechat_transaction(data, mchid=merchant.mchid, appid=merchant.appid,
                                           source="notify")
        note = "; ".join(result.problems) or result.outcome.value
        _mark(event, result.outcome.value, note, data.get("out_trade_no"))
    elif event.event_type.startswith("REFUND."):
        from payments.refunds import apply_refund_result

        outcome = apply_refund_result(data, source="notify", mchid=merchant.mchid)
        _mark(event, outcome, outcome, data.get("out_trade_no"))
    else:
        _mark(event, "ignored", f"event type {event.event_type!r} is not handled")
    return event.status


def apply_event(event_id: int, verifier, merchant: Merchant) -> str:
    """Apply one stored callback unless it already was (what a dispatched job runs)."""
    event = NotifyEvent.get_or_none(NotifyEvent.id == event_id)
    if event is None or event.status in FINAL:
        return event.status if event is not None else "missing"
    return process(event, verifier, merchant)


def reprocess_pending(verifier, merchant: Merchant, limit: int = 100) -> int:
    """Apply stored callbacks that were not processed (crash, error): the sweeper's job."""
    pending = (NotifyEvent.select()
               .where(NotifyEvent.status.in_(("received", "failed")))
               .order_by(NotifyEvent.id).limit(limit))
    count = 0
    for event in pending:
        try:
            process(event, verifier, merchant)
            count += 1
        except Exception:
            log.exception("re-processing callback %s failed", event.notification_id)
    return count
