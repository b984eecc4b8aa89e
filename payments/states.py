"""The order state machine: every status change goes through ``transition``.

    created ─prepay ok─▶ paying ─paid─▶ paid ─refund─▶ partially_refunded ─▶ refunded
       │                   │  ▲
       │ timeout/5xx       │  └─ query says NOTPAY ─┐
       ▼                   ▼                         │
    unknown ──query──▶ paid | paying | closed ◀──────┘ (expired/cancelled, closed at WeChat)

``closed → paid`` exists only for money WeChat took after we closed the order
(the owner paid between our query and our close): it is credited and flagged,
never dropped.  Nothing ever leaves ``paid`` except towards refunds.
"""
from __future__ import annotations

from payments.models import OrderBill, OrderStatus, PaymentOrder
from server.timeutil import utcnow

S = OrderStatus
ALLOWED: dict[str, frozenset[str]] = {
    S.CREATED: frozenset({S.PAYING, S.UNKNOWN, S.PAID, S.CLOSED}),
    S.PAYING: frozenset({S.PAID, S.UNKNOWN, S.CLOSED}),
    S.UNKNOWN: frozenset({S.PAYING, S.PAID, S.CLOSED}),
    S.CLOSED: frozenset({S.PAID}),
    S.PAID: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.PARTIALLY_REFUNDED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.REFUNDED: frozenset(),
}


class IllegalTransition(Exception):
    pass


def transition(order: PaymentOrder, to: str, *, expect: tuple[str, ...] | None = None,
               **fields) -> bool:
    """Move ``order`` to ``to`` iff it is still in one of ``expect`` (default:
    every state from which ``to`` is legal).  A conditional UPDATE, so of two
    racing callers exactly one wins; returns whether this caller did.

    Leaving the open states releases the order's bills (``open_bill`` cleared).
    """
    sources = expect or tuple(s for s, targets in ALLOWED.items() if to in targets)
    illegal = [s for s in sources if to not in ALLOWED[s]]
    if illegal:
        raise IllegalTransition(f"{illegal} → {to}")
    now = utcnow()
    changed = (PaymentOrder.update(status=to, updated_at=now, **fields)
               .where(PaymentOrder.id == order.id, PaymentOrder.status.in_(sources))
               .execute())
    if not changed:
        return False
    if to not in S.OPEN:
        (OrderBill.update(open_bill=None)
         .where(OrderBill.order == order.id, OrderBill.open_bill.is_null(False))
         .execute())
    order.status = to
    order.updated_at = now
    for key, value in fields.items():
        setattr(order, key, value)
    return True
