"""The staff API's changes that take more than one domain call (no Flask):
a batch of meter readings saved all or nothing, an offline payment made
idempotent by the client's ``Idempotency-Key``, and the shapes of run results.

Every change goes through the domain services, which audit it.
"""
from __future__ import annotations

import datetime as dt
from typing import Callable

from payments import offline
from payments.models import Channel, OrderBill, PaymentOrder
from server import audit, db, tasks
from server.admin_api.queries import _payment_dicts
from server.billing import meters, runs
from server.billing.models import FeeItem
from server.errors import Conflict, DomainError, Unavailable, ValidationError
from server.ledger.models import Payment
from server.property.models import House


def preview_dict(p: runs.RunPreview) -> dict:
    return {"run_id": p.run_id, "community_id": p.community_id, "period": p.period, "houses": p.houses,
            "bills_planned": p.bills_planned, "already_billed": p.already_billed,
            "bills_new": p.bills_new, "total_fen": p.total_fen,
            "totals": [{"code": t.code, "name": t.name, "bills": t.bills, "total_fen": t.total_fen}
                       for t in p.totals.values()],
            "problem_counts": dict(p.problem_counts),
            "problems": [problem.as_dict() for problem in p.problems]}


ISSUE_TASK = "billing_issue"


def start_issue(community_id: int, period: str, actor: audit.Actor, label: str):
    """Issue a period as a task (``server.billing.runs.issue_task``), as the staff page
    does: idempotent by community and period, bills that exist are never made twice."""
    return tasks.start(ISSUE_TASK, {"community_id": community_id, "period": period}, actor,
                       community_id=community_id, label=label)


# --- meter readings ---------------------------------------------------------------------

def record_readings(rows: list[dict], actor: audit.Actor, community_ids: list[int],
                    today: dt.date) -> list:
    """Record every reading or none: a refused row rolls the whole batch back, and
    the error lists each refused row as ``readings.<index>``."""
    house_ids = {r["house_id"] for r in rows}
    item_ids = {r["fee_item_id"] for r in rows}
    houses = {h.id: h.community_id for h in House.select(House.id, House.community)
              .where(House.id.in_(house_ids))}
    items = {i.id: i.community_id for i in FeeItem.select(FeeItem.id, FeeItem.community)
             .where(FeeItem.id.in_(item_ids))}
    errors: dict[str, str] = {}
    for n, row in enumerate(rows):
        community = houses.get(row["house_id"])
        if community is None or community not in community_ids:
            errors[f"readings.{n}"] = "房屋不存在"
        elif items.get(row["fee_item_id"]) != community:
            errors[f"readings.{n}"] = "收费项目不属于该房屋的小区"
    if errors:
        raise ValidationError("读数有误，整批未保存", code="READINGS_REJECTED", details=errors)
    saved = []
    with db.transaction():
        for n, row in enumerate(rows):
            try:
                with db.transaction():
                    saved.append(meters.record_reading(
                        row["house_id"], row["fee_item_id"], row["period"], row["current"],
                        row.get("read_on") or today, actor, source="api"))
            except DomainError as exc:
                errors[f"readings.{n}"] = exc.message
        if errors:
            # Leaving the block by an exception rolls back every reading of the batch.
            raise ValidationError("读数有误，整批未保存", code="READINGS_REJECTED", details=errors)
    return saved


# --- offline payments -------------------------------------------------------------------

def offline_payment_dict(order: PaymentOrder) -> dict:
    lines = order.lines.order_by(OrderBill.bill)
    payment = Payment.get_or_none(Payment.order == order.id)
    return {"order_id": order.id, "out_trade_no": order.out_trade_no, "status": order.status,
            "community_id": order.community_id, "channel": order.channel,
            "voucher_no": order.voucher_no, "total_fen": order.total_fen,
            "allocations": [{"bill_id": line.bill_id, "amount_fen": line.amount_fen} for line in lines],
            "payment": _payment_dicts([payment])[0] if payment else None}


def _same_request(order: PaymentOrder, community_id: int, voucher_no: str,
                  allocations: list[tuple[int, int]]) -> bool:
    lines = sorted((line.bill_id, line.amount_fen) for line in order.lines)
    return (order.community_id == community_id and order.voucher_no == voucher_no.strip()
            and lines == sorted(allocations))


def existing_offline_order(staff_id: int, key: str) -> PaymentOrder | None:
    return offline.order_with_key(staff_id, key)


def _replay(order: PaymentOrder, community_id: int, voucher_no: str,
            allocations: list[tuple[int, int]]) -> tuple[PaymentOrder, bool]:
    if not _same_request(order, community_id, voucher_no, allocations):
        raise Conflict("同一个 Idempotency-Key 已用于不同的收款", code="IDEMPOTENCY_KEY_REUSED")
    return order, False


def record_offline_payment(key: str, community_id: int, allocations: list[tuple[int, int]],
                           channel: str, voucher_no: str, payer_name: str, actor: audit.Actor, *,
                           approval_threshold_fen: int,
                           received_on: dt.date | None = None) -> tuple[PaymentOrder, bool]:
    """(the order, whether it was created now).  The same ``key`` from the same staff
    member returns the first order, never a second payment; the same key with a
    different request is a Conflict.  The key is stored on the order in its creating
    transaction and a UNIQUE index (migration 0007) refuses a second order with it, so
    two concurrent identical requests make one payment and both answer with it."""
    if not key or len(key) > 64:
        raise ValidationError("缺少 Idempotency-Key", code="IDEMPOTENCY_KEY_REQUIRED",
                              details={"Idempotency-Key": "1 to 64 visible characters"})
    existing = existing_offline_order(actor.staff_id, key)
    if existing is not None:
        return _replay(existing, community_id, voucher_no, allocations)
    try:
        order = offline.record_offline_payment(
            community_id, allocations, channel, voucher_no, payer_name, actor,
            approval_threshold_fen=approval_threshold_fen, received_on=received_on,
            idempotency_key=key)
    except DomainError as exc:
        # The same request may have won a race meanwhile: the unique index refused this one
        # (IDEMPOTENCY_KEY_USED), or it saw the bills paid by it.  Answer with that order.
        first = (PaymentOrder.get_by_id(exc.details["order_id"]) if exc.code == "IDEMPOTENCY_KEY_USED"
                 else existing_offline_order(actor.staff_id, key))
        if first is None:
            raise
        return _replay(first, community_id, voucher_no, allocations)
    return order, True


def approve_refund(refund, actor: audit.Actor, client_factory: Callable):
    """Approve a refund; a WeChat refund needs the merchant's client (503 without it)."""
    from payments import refunds

    client = None
    if refund.payment.channel == Channel.WECHAT:
        client = client_factory()
        if client is None:
            raise Unavailable("微信支付暂未开通，无法退款", code="PAYMENTS_UNAVAILABLE")
    return refunds.approve_refund(refund.id, actor, client=client)

