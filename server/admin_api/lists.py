"""What the staff API reads beyond bills and payments: counter receipts, WeChat
orders, bindings, fee items and standards, the reading grid, reminders, tasks and
the audit log.  Plain functions (no Flask) over the same queries the staff pages
use; every list is a fixed number of queries and keyset-paginated by ascending id;
a record outside ``community_ids`` is "not found", like one that does not exist.
"""
from __future__ import annotations

from payments import queries as pay_queries
from payments.models import Channel, PaymentOrder
from server import audit
from server.admin_api.queries import keyset
from server.billing import queries as billing_queries
from server.billing.models import FeeItem, FeeStandard, Meter
from server.errors import NotFound
from server.owners import bindings as binding_service
from server.owners.models import BindingCode
from server.property.models import Binding, Building, House, Owner
from server.tasks import queries as task_queries
from server.tasks.models import AdminTask
from templates_msg import queries as reminder_queries
from templates_msg.models import ReminderLog


def _page(rows, next_id, to_dict) -> dict:
    return {"items": [to_dict(r) for r in rows], "next_after_id": next_id}


# --- offline receipts and WeChat orders ---------------------------------------------------

def _lines(order_ids: list[int]) -> dict[int, list[dict]]:
    return {order_id: [{"bill_id": ln.bill_id, "amount_fen": ln.amount_fen, "house_label": ln.house_label,
                        "period": ln.bill.period, "fee_item_name": ln.bill.fee_item.name}
                       for ln in lines]
            for order_id, lines in pay_queries.order_lines(order_ids).items()}


def order_dict(o: PaymentOrder, lines: list[dict]) -> dict:
    pay = getattr(o, "pay", None)
    return {"id": o.id, "out_trade_no": o.out_trade_no, "community_id": o.community_id,
            "channel": o.channel, "status": o.status, "total_fen": o.total_fen,
            "voucher_no": o.voucher_no, "payer_name": o.payer_name, "received_on": o.received_on,
            "operator_id": o.operator_id, "approved_by": o.approved_by_id,
            "transaction_id": o.transaction_id, "created_at": o.created_at, "paid_at": o.paid_at,
            "expires_at": o.expires_at, "closed_at": o.closed_at, "last_queried_at": o.last_queried_at,
            "last_error": o.last_error, "payment_id": pay.id if pay and pay.id else None,
            "receipt_no": pay.receipt_no if pay and pay.id else None, "lines": lines}


def _orders_page(query, limit: int, after_id: int | None) -> dict:
    rows, next_id = keyset(query, PaymentOrder, limit, after_id)
    lines = _lines([o.id for o in rows])
    return {"items": [order_dict(o, lines[o.id]) for o in rows], "next_after_id": next_id}


def offline_orders(community_ids: list[int], *, limit: int, after_id: int | None, **filters) -> dict:
    return _orders_page(pay_queries.offline_payments(community_ids, **filters), limit, after_id)


def wechat_orders(community_ids: list[int], *, limit: int, after_id: int | None, **filters) -> dict:
    return _orders_page(pay_queries.wechat_orders(community_ids, **filters), limit, after_id)


def order_in_scope(order_id: int, community_ids: list[int], *, offline: bool) -> PaymentOrder:
    """An offline receipt (``offline``) or a WeChat order, else NotFound."""
    order = PaymentOrder.get_or_none(PaymentOrder.id == order_id)
    channels = Channel.OFFLINE if offline else (Channel.WECHAT,)
    if order is None or order.channel not in channels or order.community_id not in community_ids:
        raise NotFound("收款不存在" if offline else "订单不存在")
    return order


def order_detail(order_id: int, community_ids: list[int], *, offline: bool) -> dict:
    order_in_scope(order_id, community_ids, offline=offline)
    order = pay_queries.order_detail(order_id)
    result = order_dict(order, _lines([order_id])[order_id])
    if not offline:
        result["events"] = [{"received_at": e.received_at, "event_type": e.event_type, "status": e.status}
                            for e in pay_queries.notify_events(order.out_trade_no)]
    result["history"] = [history_dict(h) for h in pay_queries.audit_rows("payment_order", [order_id])]
    return result


def history_dict(h) -> dict:
    return {"id": h.id, "at": h.at, "actor_type": h.actor_type, "actor_id": h.actor_id,
            "action": h.action, "entity": h.entity, "entity_id": h.entity_id,
            "community_id": h.community_id, "before": h.before, "after": h.after, "note": h.note}


# --- bindings ----------------------------------------------------------------------------

def binding_dict(b: Binding) -> dict:
    return {"id": b.id, "house_id": b.house_id, "community_id": b.house.community_id,
            "house_label": pay_queries.house_label(b.house), "owner_id": b.owner_id,
            "owner_nickname": b.owner.nickname, "owner_phone": b.owner.phone, "role": b.role,
            "verified_by": b.verified_by, "status": b.status, "created_at": b.created_at,
            "decided_at": b.decided_at}


def bindings(community_ids: list[int], *, pending: bool, limit: int, after_id: int | None) -> dict:
    query = binding_service.binding_requests(community_ids, pending=pending)
    return _page(*keyset(query, Binding, limit, after_id), binding_dict)


def binding_in_scope(binding_id: int, community_ids: list[int]) -> None:
    row = (Binding.select(Binding.id, House.community).join(House)
           .where(Binding.id == binding_id).first())
    if row is None or row.house.community_id not in community_ids:
        raise NotFound("绑定申请不存在")


def binding_detail(binding_id: int) -> dict:
    return binding_dict(Binding.select(Binding, Owner, House, Building).join(Owner)
                        .switch(Binding).join(House).join(Building).where(Binding.id == binding_id).get())


def code_dict(row: BindingCode, code: str | None = None) -> dict:
    return {"id": row.id, "house_id": row.house_id, "role": row.role, "expires_at": row.expires_at,
            "created_by": row.created_by_id, "created_at": row.created_at, "used_at": row.used_at,
            "revoked_at": row.revoked_at, "code": code}


def code_in_scope(code_id: int, community_ids: list[int]) -> None:
    row = (BindingCode.select(BindingCode.id, House.community).join(House)
           .where(BindingCode.id == code_id).first())
    if row is None or row.house.community_id not in community_ids:
        raise NotFound("绑定码不存在")


# --- fee items and standards -------------------------------------------------------------

STANDARD_FIELDS = ("id", "fee_item_id", "version", "status", "method", "unit_price", "unit", "cycle",
                   "due_day", "late_fee_daily_rate", "late_fee_grace_days", "late_fee_cap_ratio",
                   "effective_from", "effective_to", "note", "created_by_id", "created_at", "published_at")


def standard_dict(s: FeeStandard) -> dict:
    return {name.removesuffix("_id") if name == "created_by_id" else name: getattr(s, name)
            for name in STANDARD_FIELDS}


def fee_item_dict(item: FeeItem, versions: list[FeeStandard]) -> dict:
    return {"id": item.id, "community_id": item.community_id, "code": item.code, "name": item.name,
            "active": item.active, "created_at": item.created_at,
            "standards": [standard_dict(s) for s in versions]}


def fee_items(community_ids: list[int], *, limit: int, after_id: int | None) -> dict:
    rows, next_id = keyset(FeeItem.select().where(FeeItem.community.in_(community_ids)), FeeItem,
                           limit, after_id)
    versions: dict[int, list] = {}
    for s in (FeeStandard.select().where(FeeStandard.fee_item.in_([i.id for i in rows] or [0]))
              .order_by(FeeStandard.version)):
        versions.setdefault(s.fee_item_id, []).append(s)
    return {"items": [fee_item_dict(i, versions.get(i.id, [])) for i in rows], "next_after_id": next_id}


def fee_item_in_scope(item_id: int, community_ids: list[int]) -> FeeItem:
    item = FeeItem.get_or_none(FeeItem.id == item_id)
    if item is None or item.community_id not in community_ids:
        raise NotFound("收费项目不存在")
    return item


def standard_in_scope(standard_id: int, community_ids: list[int]) -> FeeStandard:
    standard = (FeeStandard.select(FeeStandard, FeeItem).join(FeeItem)
                .where(FeeStandard.id == standard_id).first())
    if standard is None or standard.fee_item.community_id not in community_ids:
        raise NotFound("收费标准不存在")
    return standard


def standard_detail(standard_id: int, community_ids: list[int]) -> dict:
    standard = standard_in_scope(standard_id, community_ids)
    item = standard.fee_item
    return {**standard_dict(standard), "fee_item": {
        "id": item.id, "community_id": item.community_id, "code": item.code, "name": item.name,
        "active": item.active}}


def reading_grid(item: FeeItem, period: str, building_id: int | None, factor, *, limit: int,
                 after_id: int | None) -> dict:
    """The reading grid of a metered item and period, one row per active meter (by meter id)."""
    query = billing_queries.grid_meters(item.community_id, item.id, building_id)
    meters, next_id = keyset(query, Meter, limit, after_id)
    rows = billing_queries.reading_grid(meters, item.id, period, factor)
    return {"fee_item_id": item.id, "period": period, "next_after_id": next_id, "items": [
        {"meter_id": r.meter.id, "house_id": r.house.id, "house_label": pay_queries.house_label(r.house),
         "previous": r.previous, "previous_on": r.previous_on, "previous_period": r.previous_period,
         "swapped": r.swapped, "reading_id": r.reading.id if r.reading else None,
         "current": r.reading.current if r.reading else None,
         "usage": r.reading.usage if r.reading else None, "anomaly": r.anomaly} for r in rows]}


# --- reminders, tasks and the audit log ---------------------------------------------------

def reminder_log(community_ids: list[int], *, limit: int, after_id: int | None, **filters) -> dict:
    query = reminder_queries.log_entries(community_ids, **filters)
    return _page(*keyset(query, ReminderLog, limit, after_id), lambda e: {
        "id": e.id, "bill_id": e.bill_id, "community_id": e.bill.community_id,
        "house_label": e.bill.house.label, "fee_item_name": e.bill.fee_item.name, "period": e.bill.period,
        "owner_id": e.owner_id, "stage": e.stage, "stage_label": reminder_queries.stage_label(e.stage),
        "result": e.result, "errcode": e.errcode, "errmsg": e.errmsg, "attempts": e.attempts,
        "sent_at": e.sent_at})


def task_dict(t: AdminTask) -> dict:
    return {"id": t.id, "kind": t.kind, "kind_label": task_queries.kind_label(t), "label": t.label,
            "status": t.status, "total": t.total, "done": t.done, "percent": t.percent(),
            "result": t.result if isinstance(t.result, dict) else None, "error": t.error,
            "community_id": t.community_id, "created_by": t.created_by, "created_at": t.created_at,
            "started_at": t.started_at, "finished_at": t.finished_at}


def task_in_scope(task_id: int, community_ids: list[int], *, all_communities: bool,
                  staff_id: int) -> dict:
    """As /admin/tasks: a community's task for who sees it; a task of no community for
    admins and for the staff member who started it."""
    task = AdminTask.get_or_none(AdminTask.id == task_id)
    if task is None or (task.community_id is None and not (all_communities or task.staff_id == staff_id)) \
            or (task.community_id is not None and task.community_id not in community_ids):
        raise NotFound("任务不存在")
    return task_dict(task)


def tasks(community_ids: list[int], *, all_communities: bool, staff_id: int, status: str, kind: str,
          limit: int, after_id: int | None) -> dict:
    query = task_queries.visible(community_ids, include_global=all_communities, staff_id=staff_id,
                                 status=status, kind=kind)
    return _page(*keyset(query, AdminTask, limit, after_id), task_dict)


def audit_rows(community_ids: list[int], *, include_global: bool, limit: int, after_id: int | None,
               **filters) -> dict:
    query = audit.search(community_ids, include_global=include_global, **filters)
    return _page(*keyset(query, audit.AuditLog, limit, after_id), history_dict)
