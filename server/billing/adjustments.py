"""Adjustments: waivers, discounts, corrections and voids against issued bills.

An issued bill's amount and basis are never edited; what changes is its
``adjusted_fen``, the sum of its approved adjustments.  A request at or above
the approval threshold waits for a second staff member.  No adjustment may
leave the bill owing less than nothing (balance < 0).
"""
from __future__ import annotations

from server import audit
from server.billing.models import Adjustment, AdjustmentKind, AdjustmentStatus, Bill, BillStatus
from server.db import for_update, transaction
from server.errors import Conflict, Forbidden, NotFound, ValidationError
from server.ledger.posting import derive_status, lock_bill
from server.money import format_yuan
from server.timeutil import utcnow

_KIND_ZH = {AdjustmentKind.WAIVER: "减免", AdjustmentKind.DISCOUNT: "优惠",
            AdjustmentKind.CORRECTION: "更正", AdjustmentKind.VOID: "作废"}
_STATUS_ZH = {AdjustmentStatus.APPROVED: "批准", AdjustmentStatus.REJECTED: "驳回"}


def _check_amount(bill: Bill, kind: str, amount_fen: int | None) -> int:
    """The signed amount this adjustment would apply to ``bill`` as it is now."""
    if bill.status == BillStatus.VOID:
        raise Conflict(f"账单 {bill.id} 已作废，不能再调整", code="BILL_VOID")
    balance = bill.balance_fen
    if kind == AdjustmentKind.VOID:
        if bill.paid_fen != 0:
            raise Conflict(f"账单已缴 {format_yuan(bill.paid_fen)} 元，不能作废；请先退款",
                           code="BILL_HAS_PAYMENTS", details={"paid_fen": bill.paid_fen})
        whole = -bill.total_due_fen
        if amount_fen is not None and amount_fen != whole:
            raise ValidationError(f"作废须取消账单全部应缴金额 {format_yuan(-whole)} 元，请不要填写其他金额",
                                  details={"amount_fen": f"应为 {whole}（或不填）"})
        return whole
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen == 0:
        raise ValidationError("调整金额须为不等于零的整数（单位：分）",
                              details={"amount_fen": repr(amount_fen)})
    if kind in (AdjustmentKind.WAIVER, AdjustmentKind.DISCOUNT) and amount_fen > 0:
        raise ValidationError(f"{_KIND_ZH.get(kind, kind)}是减少应缴金额，调整金额须为负数",
                              details={"amount_fen": amount_fen})
    if balance + amount_fen < 0:
        raise ValidationError(f"调整后账单应缴余额将小于零：当前余额 {format_yuan(balance)} 元，"
                              f"调整 {format_yuan(amount_fen)} 元；请减小调整金额",
                              code="BALANCE_NEGATIVE",
                              details={"balance_fen": balance, "amount_fen": amount_fen})
    return amount_fen


def _apply(bill: Bill, adjustment: Adjustment, actor: audit.Actor) -> None:
    """Add an approved adjustment to the bill, with its audit record (in the
    caller's transaction, with the bill locked)."""
    before = {"adjusted_fen": bill.adjusted_fen, "status": bill.status}
    bill.adjusted_fen += adjustment.amount_fen
    if adjustment.kind == AdjustmentKind.VOID:
        bill.status = BillStatus.VOID
    else:
        bill.status = derive_status(bill)
    Bill.update(adjusted_fen=Bill.adjusted_fen + adjustment.amount_fen, status=bill.status) \
        .where(Bill.id == bill.id).execute()
    audit.record(actor, f"adjustment.{adjustment.kind}", "bill", bill.id, before=before,
                 after={"adjusted_fen": bill.adjusted_fen, "status": bill.status,
                        "adjustment_id": adjustment.id, "amount_fen": adjustment.amount_fen},
                 community_id=bill.community_id)


def request_adjustment(bill_id: int, kind: str, amount_fen: int | None, reason: str,
                       actor: audit.Actor, approval_threshold_fen: int) -> Adjustment:
    """Request an adjustment.  Below the threshold (by absolute value) it is
    approved at once; at or above it waits for ``approve_adjustment`` by
    another staff member.  For a void pass ``amount_fen=None``: it is minus the
    bill's whole remaining total."""
    if kind not in AdjustmentKind.ALL:
        raise ValidationError(f"调整类型应为{'、'.join(_KIND_ZH[k] for k in AdjustmentKind.ALL)}之一",
                              details={"kind": kind})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("请填写调整原因", details={"reason": "必填"})
    if len(reason) > 255:
        raise ValidationError(f"调整原因最多 255 个字，现有 {len(reason)} 个字",
                              details={"reason": "最多 255 个字"})
    with transaction():
        bill = lock_bill(bill_id)
        amount = _check_amount(bill, kind, amount_fen)
        immediate = abs(amount) < approval_threshold_fen
        adjustment = Adjustment.create(
            bill=bill, kind=kind, amount_fen=amount, reason=reason,
            status=AdjustmentStatus.APPROVED if immediate else AdjustmentStatus.PENDING,
            requested_by=actor.staff_id,
            decided_by=actor.staff_id if immediate else None,
            decided_at=utcnow() if immediate else None,
            decision_note="below the approval threshold" if immediate else "")
        audit.record(actor, "adjustment.request", "adjustment", adjustment.id,
                     after={"bill_id": bill.id, "kind": kind, "amount_fen": amount, "reason": reason,
                            "status": adjustment.status}, community_id=bill.community_id)
        if immediate:
            _apply(bill, adjustment, actor)
    return adjustment


def _decide(adj_id: int, actor: audit.Actor) -> tuple[Adjustment, Bill]:
    adjustment = Adjustment.get_or_none(Adjustment.id == adj_id)
    if adjustment is None:
        raise NotFound(f"调整申请 {adj_id} 不存在")
    bill = lock_bill(adjustment.bill_id)  # the bill first, always: one lock order
    adjustment = for_update(Adjustment.select().where(Adjustment.id == adj_id)).get()
    if adjustment.status != AdjustmentStatus.PENDING:
        raise Conflict(f"调整申请 {adj_id} 已经{_STATUS_ZH.get(adjustment.status, adjustment.status)}，"
                       "不能再审批", code="ALREADY_DECIDED")
    if actor.staff_id is None:
        raise Forbidden("只有工作人员可以审批调整申请")
    return adjustment, bill


def _close(adjustment: Adjustment, status: str, actor: audit.Actor, note: str) -> None:
    adjustment.status, adjustment.decided_by = status, actor.staff_id
    adjustment.decided_at, adjustment.decision_note = utcnow(), (note or "")[:255]
    updated = (Adjustment.update(status=status, decided_by=actor.staff_id,
                                 decided_at=adjustment.decided_at,
                                 decision_note=adjustment.decision_note)
               .where(Adjustment.id == adjustment.id,
                      Adjustment.status == AdjustmentStatus.PENDING).execute())
    if updated != 1:
        raise Conflict(f"调整申请 {adjustment.id} 刚被其他人处理过，请刷新后查看",
                       code="ALREADY_DECIDED")


def approve_adjustment(adj_id: int, actor: audit.Actor, note: str = "") -> Adjustment:
    """Approve a pending adjustment: a different staff member than the requester.
    The amount is checked again against the bill as it is now; a void whose
    bill has changed since the request (e.g. a late fee accrued) is refused."""
    with transaction():
        adjustment, bill = _decide(adj_id, actor)
        if adjustment.requested_by_id is not None and adjustment.requested_by_id == actor.staff_id:
            raise Forbidden("申请人不能审批自己的调整：金额达到审批线，需要另一位工作人员审批",
                            code="SECOND_APPROVER_REQUIRED")
        try:
            _check_amount(bill, adjustment.kind, adjustment.amount_fen)
        except ValidationError as exc:
            raise Conflict(f"申请之后账单已发生变化（如新增滞纳金或缴费）：{exc.message}；请驳回后重新申请",
                           code="BILL_CHANGED", details=exc.details) from None
        _close(adjustment, AdjustmentStatus.APPROVED, actor, note)
        _apply(bill, adjustment, actor)
    return adjustment


def reject_adjustment(adj_id: int, actor: audit.Actor, note: str = "") -> Adjustment:
    with transaction():
        adjustment, bill = _decide(adj_id, actor)
        _close(adjustment, AdjustmentStatus.REJECTED, actor, note)
        audit.record(actor, "adjustment.reject", "adjustment", adjustment.id,
                     before={"status": AdjustmentStatus.PENDING},
                     after={"status": AdjustmentStatus.REJECTED, "note": adjustment.decision_note},
                     community_id=bill.community_id)
    return adjustment


def resolve_dispute_with_adjustment(dispute_id: int, actor: audit.Actor, resolution: str, *,
                                    kind: str, amount_fen: int | None, reason: str,
                                    approval_threshold_fen: int):
    """Settle a dispute with an adjustment of its bill: the adjustment is requested first
    (approved at once below the threshold, else pending a second staff member), then the
    dispute is resolved pointing at it, so the bill's hold is lifted only after.  One
    transaction: when either is refused (e.g. the dispute was closed meanwhile) neither
    happens.  Returns (dispute, adjustment)."""
    from server.disputes.models import Dispute
    from server.disputes.services import resolve_dispute

    with transaction():
        dispute = Dispute.get_or_none(Dispute.id == dispute_id)
        if dispute is None:
            raise NotFound("异议不存在", code="DISPUTE_NOT_FOUND")
        adjustment = request_adjustment(dispute.bill_id, kind, amount_fen, reason, actor,
                                        approval_threshold_fen)
        dispute = resolve_dispute(dispute_id, actor, resolution, adjustment_id=adjustment.id)
    return dispute, Adjustment.get_by_id(adjustment.id)
