"""Opening, answering and closing disputes, and the hold they put on a bill.

Every change locks the bill row first, so the hold and the set of open
disputes always agree: the first open dispute sets ``bill.on_hold`` (late
fees stop, reminders skip it) and closing the last one lifts it, in the same
transaction as the dispute change and each with an audit record.
"""
from __future__ import annotations

import datetime as dt

from server import audit, outbox
from server.billing.models import Adjustment, Bill, FeeItem
from server.db import for_update, transaction
from server.disputes.models import (Dispute, DisputeMessage, DisputeReason, DisputeStatus,
                                    MessageAuthor)
from server.errors import Conflict, NotFound, ValidationError
from server.property.models import Binding, BindingStatus
from server.timeutil import utcnow

MAX_TEXT = 2000
# Outbox kinds consumed by ``jobs.notifications``: the owner's dispute_reply message.
REPLIED, RESOLVED = "dispute.replied", "dispute.resolved"


def _owner_actor(owner_id: int) -> audit.Actor:
    return audit.Actor("owner", owner_id)


def _clean_text(text: str, *, required: bool = True) -> str:
    text = (text or "").strip()
    if required and not text:
        raise ValidationError("请填写内容", details={"text": "必填"})
    if len(text) > MAX_TEXT:
        raise ValidationError(f"内容太长：最多 {MAX_TEXT} 个字，现有 {len(text)} 个字",
                              details={"text": f"最多 {MAX_TEXT} 个字"})
    return text


def _locked_bill(bill_id: int) -> Bill:
    return for_update(Bill.select().where(Bill.id == bill_id)).get()


def _set_hold(bill: Bill, hold: bool, actor: audit.Actor, dispute_id: int) -> None:
    if bool(bill.on_hold) == hold:
        return
    Bill.update(on_hold=hold).where(Bill.id == bill.id).execute()
    audit.record(actor, "bill.hold" if hold else "bill.release", "bill", bill.id,
                 before={"on_hold": not hold}, after={"on_hold": hold},
                 community_id=bill.community_id, note=f"dispute {dispute_id}")
    bill.on_hold = hold


def _release_if_settled(bill: Bill, actor: audit.Actor, dispute_id: int) -> None:
    still_open = (Dispute.select().where(Dispute.bill == bill.id,
                                         Dispute.status.in_(DisputeStatus.ACTIVE)).exists())
    if not still_open:
        _set_hold(bill, False, actor, dispute_id)


def open_dispute(owner_id: int, bill_id: int, reason: str, text: str, *,
                 now: dt.datetime | None = None) -> Dispute:
    if reason not in DisputeReason.ALL:
        raise ValidationError("请选择异议原因：金额有误、读数有误、已缴过、不是我的房屋/费用、服务质量或其他",
                              details={"reason": f"应为 {', '.join(DisputeReason.ALL)} 之一"})
    text = _clean_text(text)
    now = now or utcnow()
    actor = _owner_actor(owner_id)
    with transaction():
        visible = (Bill.select(Bill.id)
                   .join(Binding, on=((Binding.house == Bill.house) & (Binding.owner == owner_id)
                                      & (Binding.status == BindingStatus.ACTIVE)))
                   .where(Bill.id == bill_id).exists())
        if not visible:
            raise NotFound("账单不存在", code="BILL_NOT_FOUND")
        bill = _locked_bill(bill_id)
        existing = (Dispute.select().where(Dispute.bill == bill.id, Dispute.owner == owner_id,
                                           Dispute.status.in_(DisputeStatus.ACTIVE)).first())
        if existing is not None:
            raise Conflict("该账单已有处理中的异议", code="DISPUTE_ALREADY_OPEN",
                           details={"dispute_id": existing.id})
        dispute = Dispute.create(bill=bill.id, owner=owner_id, reason=reason, text=text,
                                 status=DisputeStatus.OPEN, created_at=now, updated_at=now)
        audit.record(actor, "dispute.open", "dispute", dispute.id, community_id=bill.community_id,
                     after={"bill_id": bill.id, "reason": reason, "status": dispute.status})
        _set_hold(bill, True, actor, dispute.id)
    return dispute


def _locked_dispute(dispute_id: int, owner_id: int | None = None) -> tuple[Dispute, Bill]:
    query = Dispute.select().where(Dispute.id == dispute_id)
    if owner_id is not None:
        query = query.where(Dispute.owner == owner_id)
    dispute = query.first()
    if dispute is None:
        raise NotFound("异议不存在", code="DISPUTE_NOT_FOUND")
    bill = _locked_bill(dispute.bill_id)         # bill first, then the dispute: one lock order
    dispute = for_update(Dispute.select().where(Dispute.id == dispute_id)).get()
    return dispute, bill


def _add_message(dispute: Dispute, bill: Bill, author: str, text: str, actor: audit.Actor,
                 status: str, now: dt.datetime, staff_id: int | None = None) -> DisputeMessage:
    if dispute.status not in DisputeStatus.ACTIVE:
        raise Conflict("该异议已结束，不能再回复或处理", code="DISPUTE_CLOSED")
    message = DisputeMessage.create(dispute=dispute.id, author=author, staff=staff_id,
                                    text=text, created_at=now)
    before = dispute.status
    Dispute.update(status=status, updated_at=now).where(Dispute.id == dispute.id).execute()
    audit.record(actor, f"dispute.{author}_message", "dispute", dispute.id,
                 before={"status": before}, after={"status": status, "message_id": message.id},
                 community_id=bill.community_id)
    return message


def owner_message(owner_id: int, dispute_id: int, text: str, *,
                  now: dt.datetime | None = None) -> DisputeMessage:
    """The owner adds to the conversation; the dispute waits for staff again."""
    text, now = _clean_text(text), now or utcnow()
    with transaction():
        dispute, bill = _locked_dispute(dispute_id, owner_id)
        return _add_message(dispute, bill, MessageAuthor.OWNER, text, _owner_actor(owner_id),
                            DisputeStatus.OPEN, now)


def reply_to_dispute(dispute_id: int, actor: audit.Actor, text: str, *,
                     now: dt.datetime | None = None) -> DisputeMessage:
    """Staff answer; the owner sees it in ``GET /api/v1/disputes``."""
    text, now = _clean_text(text), now or utcnow()
    with transaction():
        dispute, bill = _locked_dispute(dispute_id)
        message = _add_message(dispute, bill, MessageAuthor.STAFF, text, actor,
                               DisputeStatus.ANSWERED, now, staff_id=actor.staff_id)
        outbox.add(REPLIED, {"dispute_id": dispute.id, "message_id": message.id},
                   dedupe_key=f"{REPLIED}:{message.id}")
        return message


def _close(dispute: Dispute, bill: Bill, status: str, actor: audit.Actor, now: dt.datetime,
           **fields) -> Dispute:
    if dispute.status not in DisputeStatus.ACTIVE:
        raise Conflict("该异议已结束，不能再回复或处理", code="DISPUTE_CLOSED")
    before = dispute.status
    for name, value in dict(status=status, updated_at=now, closed_at=now, **fields).items():
        setattr(dispute, name, value)
    dispute.save()
    audit.record(actor, f"dispute.{status}", "dispute", dispute.id, before={"status": before},
                 after={"status": status, "adjustment_id": dispute.adjustment_id},
                 community_id=bill.community_id, note=dispute.resolution)
    _release_if_settled(bill, actor, dispute.id)
    return dispute


def resolve_dispute(dispute_id: int, actor: audit.Actor, resolution: str = "", *,
                    adjustment_id: int | None = None, now: dt.datetime | None = None) -> Dispute:
    """Staff close a dispute, optionally pointing at the adjustment that settled it."""
    resolution, now = _clean_text(resolution, required=False), now or utcnow()
    with transaction():
        dispute, bill = _locked_dispute(dispute_id)
        if adjustment_id is not None and not (Adjustment.select().where(
                Adjustment.id == adjustment_id, Adjustment.bill == bill.id).exists()):
            raise ValidationError(f"调整 {adjustment_id} 不是该异议账单的调整，请选择该账单的调整",
                                  details={"adjustment_id": "不是该账单的调整"})
        closed = _close(dispute, bill, DisputeStatus.RESOLVED, actor, now, resolution=resolution,
                        adjustment=adjustment_id, resolved_by=actor.staff_id)
        outbox.add(RESOLVED, {"dispute_id": dispute.id}, dedupe_key=f"{RESOLVED}:{dispute.id}")
        return closed


def withdraw_dispute(owner_id: int, dispute_id: int, *, now: dt.datetime | None = None) -> Dispute:
    now = now or utcnow()
    with transaction():
        dispute, bill = _locked_dispute(dispute_id, owner_id)
        return _close(dispute, bill, DisputeStatus.WITHDRAWN, _owner_actor(owner_id), now)


def owner_disputes(owner_id: int, *, dispute_id: int | None = None,
                   status: str | None = None) -> list[dict]:
    """The owner's disputes, newest first, each with its bill and messages.  Two queries."""
    query = (Dispute.select(Dispute, Bill, FeeItem).join(Bill).join(FeeItem)
             .where(Dispute.owner == owner_id).order_by(Dispute.created_at.desc(), Dispute.id.desc()))
    if dispute_id is not None:
        query = query.where(Dispute.id == dispute_id)
    if status:
        query = query.where(Dispute.status == status)
    disputes = list(query)
    messages: dict[int, list[dict]] = {d.id: [] for d in disputes}
    if disputes:
        for m in (DisputeMessage.select().where(DisputeMessage.dispute.in_(list(messages)))
                  .order_by(DisputeMessage.created_at, DisputeMessage.id)):
            messages[m.dispute_id].append({"id": m.id, "author": m.author, "text": m.text,
                                           "created_at": m.created_at})
    return [{"id": d.id, "status": d.status, "reason": d.reason, "text": d.text,
             "bill": {"id": d.bill.id, "period": d.bill.period, "house_id": d.bill.house_id,
                      "fee_item": d.bill.fee_item.name, "on_hold": bool(d.bill.on_hold)},
             "resolution": d.resolution, "adjustment_id": d.adjustment_id,
             "created_at": d.created_at, "updated_at": d.updated_at, "closed_at": d.closed_at,
             "messages": messages[d.id]} for d in disputes]


def owner_dispute(owner_id: int, dispute_id: int) -> dict:
    found = owner_disputes(owner_id, dispute_id=dispute_id)
    if not found:
        raise NotFound("异议不存在", code="DISPUTE_NOT_FOUND")
    return found[0]
