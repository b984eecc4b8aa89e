"""``/offline-payments``, ``/payments`` and ``/refunds``."""
from __future__ import annotations

import re

from flask import current_app, request

from server.admin_api import actions, queries
from server.admin_api.blueprint import bp
from server.admin_api.contract import MANAGE, WRITE, StaffContext, staff_operation
from server.admin_api.schemas.common import IDEMPOTENCY_HEADER, Decision
from server.admin_api.schemas.payments import (OfflinePaymentBody, OfflinePaymentOut, PaymentOut,
                                               PaymentQuery, PaymentsOut, RefundBody, RefundOut)
from server.errors import ValidationError
from server.timeutil import utcnow

_KEY = re.compile(r"^[!-~]{1,64}$")


def _idempotency_key() -> str:
    key = request.headers.get("Idempotency-Key", "")
    if not _KEY.match(key):
        raise ValidationError("缺少或无效的 Idempotency-Key", code="IDEMPOTENCY_KEY_REQUIRED",
                              details={"Idempotency-Key": "required: 1 to 64 visible ASCII characters"})
    return key


def _config():
    return current_app.extensions["wuyepay_config"]


@bp.post("/offline-payments")
@staff_operation("Record money taken at the counter (cash, bank transfer, POS)", tag="payments",
                 roles=WRITE, body=OfflinePaymentBody, response=OfflinePaymentOut, status=201,
                 more_statuses=(200,), errors=(409,), headers=[IDEMPOTENCY_HEADER])
def record_offline_payment(staff: StaffContext, body: OfflinePaymentBody):
    """201 with the new receipt; 200 with the same one when the Idempotency-Key was used before
    (by this staff member) for the same request: a retry never takes the money twice.  At or
    above the approval threshold the payment waits (``status`` created) for a second staff member."""
    key = _idempotency_key()
    staff.check(body.community_id)
    order, created = actions.record_offline_payment(
        key, body.community_id, [(a.bill_id, a.amount_fen) for a in body.allocations], body.channel,
        body.voucher_no, body.payer_name, staff.actor,
        approval_threshold_fen=_config().OFFLINE_PAYMENT_APPROVAL_THRESHOLD_FEN,
        received_on=body.received_on)
    return actions.offline_payment_dict(order), 201 if created else 200


@bp.get("/payments")
@staff_operation("Payments received, for an ERP's sync (updated_since)", tag="payments",
                 query=PaymentQuery, response=PaymentsOut)
def list_payments(staff: StaffContext, query: PaymentQuery):
    """Sync: call with ``updated_since`` = the previous answer's ``server_time``, following
    ``next_after_id`` until it is null."""
    if query.updated_since is not None and query.updated_since.tzinfo is None:
        raise ValidationError("updated_since 须带时区", details={"updated_since": "needs a UTC offset"})
    return queries.payments(staff.scope(query.community_id), channel=query.channel,
                            updated_since=query.updated_since, limit=query.limit,
                            after_id=query.after_id, now=utcnow())


@bp.get("/payments/<int:payment_id>")
@staff_operation("One payment with its allocations and refunds", tag="payments", response=PaymentOut)
def get_payment(staff: StaffContext, payment_id: int):
    return queries.payment_detail(payment_id, staff.community_ids)


@bp.post("/refunds")
@staff_operation("Request a refund of what a payment paid to a bill", tag="refunds", roles=WRITE,
                 body=RefundBody, response=RefundOut, status=201, errors=(409,),
                 headers=[IDEMPOTENCY_HEADER])
def request_refund(staff: StaffContext, body: RefundBody):
    """The same Idempotency-Key returns the same refund.  A second staff member approves."""
    from payments import refunds

    key = _idempotency_key()
    queries.payment_detail(body.payment_id, staff.community_ids)
    refund = refunds.request_refund(body.payment_id, body.bill_id, body.amount_fen, body.reason,
                                    staff.actor, request_key=f"api:{staff.user.id}:{key}")
    return queries.refund_detail(refund.id, staff.community_ids), 201


@bp.get("/refunds/<int:refund_id>")
@staff_operation("One refund and its status", tag="refunds", response=RefundOut)
def get_refund(staff: StaffContext, refund_id: int):
    return queries.refund_detail(refund_id, staff.community_ids)


def _pay_client():
    from payments.gateway import client_for

    try:
        return client_for(_config())
    except (ValueError, OSError):
        current_app.logger.error("WeChat Pay is not configured")
        return None


@bp.post("/refunds/<int:refund_id>/approve")
@staff_operation("Approve a refund (not your own) and carry it out", tag="refunds", roles=MANAGE,
                 body=Decision, response=RefundOut, errors=(409, 503))
def approve_refund(staff: StaffContext, refund_id: int, body: Decision):
    """Offline payments are refunded at the counter at once; WeChat refunds go to WeChat Pay."""
    refund = queries.refund_in_scope(refund_id, staff.community_ids)
    actions.approve_refund(refund, staff.actor, _pay_client)
    return queries.refund_detail(refund_id, staff.community_ids)


@bp.post("/refunds/<int:refund_id>/reject")
@staff_operation("Reject a refund request", tag="refunds", roles=MANAGE, body=Decision,
                 response=RefundOut)
def reject_refund(staff: StaffContext, refund_id: int, body: Decision):
    from payments import refunds

    queries.refund_in_scope(refund_id, staff.community_ids)
    refunds.reject_refund(refund_id, staff.actor, body.note)
    return queries.refund_detail(refund_id, staff.community_ids)
