"""Creating payment orders for an owner's unpaid bills.

An order snapshots what each bill owed at creation; a bill is in at most one
open order (the UNIQUE ``order_bill.open_bill`` index decides, not a
pre-check); the same ``Idempotency-Key`` with the same bills returns the same
order, with different bills it is refused with 409.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import string

import peewee as pw

from payments.models import Channel, OrderBill, OrderStatus, PaymentOrder
from server import audit
from server.billing.models import Bill, BillStatus
from server.db import transaction
from server.errors import Conflict, NotFound, ValidationError
from server.property.models import Binding, BindingStatus
from server.timeutil import SHANGHAI, utcnow

MAX_BILLS_PER_ORDER = 60
DEFAULT_EXPIRY = dt.timedelta(minutes=15)
_ALPHABET = string.ascii_uppercase + string.digits


def new_out_trade_no(now: dt.datetime | None = None) -> str:
    """``WY`` + Shanghai time to the second + 12 random chars: 28 chars of [0-9A-Z]."""
    stamp = (now or utcnow()).astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S")
    return "WY" + stamp + "".join(secrets.choice(_ALPHABET) for _ in range(12))


def request_hash(bill_ids: list[int]) -> str:
    return hashlib.sha256(",".join(str(i) for i in sorted(bill_ids)).encode()).hexdigest()


def owner_bills(owner_id: int, bill_ids: list[int]) -> list[Bill]:
    """The owner's bills among ``bill_ids``; any other id is "not found" (never "forbidden",
    which would confirm that someone else's bill exists)."""
    bills = list(Bill.select().join(Binding, on=(Binding.house == Bill.house))
                 .where(Bill.id.in_(bill_ids), Binding.owner == owner_id,
                        Binding.status == BindingStatus.ACTIVE))
    found = {b.id for b in bills}
    missing = [i for i in bill_ids if i not in found]
    if missing:
        raise NotFound("账单不存在", code="BILL_NOT_FOUND", details={"bill_ids": missing})
    return bills


def _validate_ids(bill_ids) -> list[int]:
    if not isinstance(bill_ids, list) or not bill_ids:
        raise ValidationError("请选择要缴纳的账单", details={"bill_ids": "至少一个"})
    if len(set(bill_ids)) != len(bill_ids):
        raise ValidationError("账单重复", details={"bill_ids": "重复的账单"})
    if len(bill_ids) > MAX_BILLS_PER_ORDER:
        raise ValidationError(f"一次最多缴纳 {MAX_BILLS_PER_ORDER} 笔账单",
                              details={"bill_ids": f"最多 {MAX_BILLS_PER_ORDER} 个"})
    return bill_ids


def _existing_for_key(owner_id: int, key: str, digest: str) -> PaymentOrder | None:
    order = PaymentOrder.get_or_none(PaymentOrder.owner == owner_id,
                                     PaymentOrder.idempotency_key == key)
    if order is not None and order.request_hash != digest:
        raise Conflict("同一个 Idempotency-Key 已用于不同的账单", code="IDEMPOTENCY_KEY_REUSED",
                       details={"out_trade_no": order.out_trade_no})
    return order


def _open_order_holding(bill_ids: list[int]) -> OrderBill | None:
    return (OrderBill.select(OrderBill, PaymentOrder).join(PaymentOrder)
            .where(OrderBill.open_bill.in_(bill_ids)).first())


def create_order(owner_id: int, bill_ids: list[int], idempotency_key: str | None = None,
                 *, now: dt.datetime | None = None,
                 expiry: dt.timedelta = DEFAULT_EXPIRY) -> tuple[PaymentOrder, bool]:
    """Create (or return the existing) order; returns ``(order, created)``."""
    bill_ids = _validate_ids(bill_ids)
    digest = request_hash(bill_ids)
    now = now or utcnow()
    if idempotency_key:
        existing = _existing_for_key(owner_id, idempotency_key, digest)
        if existing is not None:
            return existing, False
    bills = owner_bills(owner_id, bill_ids)
    if len({b.community_id for b in bills}) != 1:
        raise ValidationError("不同小区的账单请分开缴纳", code="MIXED_COMMUNITIES")
    unpayable = [b.id for b in bills if b.status not in BillStatus.OPEN or b.balance_fen <= 0]
    if unpayable:
        raise Conflict("账单已缴清或已作废", code="BILL_NOT_PAYABLE", details={"bill_ids": unpayable})
    holder = _open_order_holding(bill_ids)
    if holder is not None:
        return _same_open_order_or_conflict(holder, owner_id, digest)
    try:
        with transaction():
            order = _insert_order(owner_id, bills, idempotency_key, digest, now, expiry)
    except pw.IntegrityError:
        # Lost a race: either our own retry (same key) or another order took a bill.
        if idempotency_key:
            existing = _existing_for_key(owner_id, idempotency_key, digest)
            if existing is not None:
                return existing, False
        holder = _open_order_holding(bill_ids)
        if holder is not None:
            return _same_open_order_or_conflict(holder, owner_id, digest)
        raise
    return order, True


def _same_open_order_or_conflict(holder: OrderBill, owner_id: int, digest: str):
    order = holder.order
    if order.owner_id == owner_id and order.request_hash == digest:
        return order, False
    raise Conflict("账单正在另一笔支付中，请先完成或取消该支付", code="BILL_IN_OPEN_ORDER",
                   details={"bill_id": holder.bill_id, "out_trade_no": order.out_trade_no})


def _insert_order(owner_id, bills, key, digest, now, expiry) -> PaymentOrder:
    total = sum(b.balance_fen for b in bills)
    first = bills[0]
    items = sorted({b.fee_item.name for b in bills})
    description = f"物业缴费-{'、'.join(items)}"[:40]
    order = PaymentOrder.create(
        out_trade_no=new_out_trade_no(now), community=first.community_id,
        house=first.house_id if len({b.house_id for b in bills}) == 1 else None,
        owner=owner_id, channel=Channel.WECHAT, total_fen=total, description=description,
        status=OrderStatus.CREATED, idempotency_key=key, request_hash=digest,
        created_at=now, updated_at=now, expires_at=now + expiry)
    OrderBill.insert_many([
        {"order": order.id, "bill": b.id, "amount_fen": b.balance_fen, "open_bill": b.id}
        for b in bills
    ]).execute()
    audit.record(audit.Actor("owner", owner_id), "order.create", "payment_order", order.id,
                 after={"out_trade_no": order.out_trade_no, "total_fen": total,
                        "bills": {b.id: b.balance_fen for b in bills}},
                 community_id=first.community_id)
    return order
