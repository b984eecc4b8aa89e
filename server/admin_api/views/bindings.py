"""``/bindings`` (owners' requests for a house, decided by staff; unbinding) and binding codes."""
from __future__ import annotations

from server.admin_api import lists, queries
from server.admin_api.blueprint import bp
from server.admin_api.contract import MANAGE, WRITE, StaffContext, staff_operation
from server.admin_api.schemas.common import Decision
from server.admin_api.schemas.setup import (BindingCodeBody, BindingCodeOut, BindingOut, BindingQuery,
                                            BindingsOut)
from server.owners import bindings


@bp.get("/bindings")
@staff_operation("Binding requests: pending, or decided by staff", tag="property", query=BindingQuery,
                 response=BindingsOut)
def list_bindings(staff: StaffContext, query: BindingQuery):
    return lists.bindings(staff.scope(query.community_id), pending=query.status == "pending",
                          limit=query.limit, after_id=query.after_id)


def _decide(staff: StaffContext, binding_id: int, approve: bool, note: str) -> dict:
    lists.binding_in_scope(binding_id, staff.community_ids)
    bindings.staff_decide_binding(binding_id, approve, staff.actor, note=note)
    return lists.binding_detail(binding_id)


@bp.post("/bindings/<int:binding_id>/approve")
@staff_operation("Approve a pending binding request", tag="property", roles=MANAGE, body=Decision,
                 response=BindingOut, errors=(409,))
def approve_binding(staff: StaffContext, binding_id: int, body: Decision):
    """409 ``BINDING_NOT_PENDING`` for a request decided already."""
    return _decide(staff, binding_id, True, body.note)


@bp.post("/bindings/<int:binding_id>/reject")
@staff_operation("Reject a pending binding request", tag="property", roles=MANAGE, body=Decision,
                 response=BindingOut, errors=(409,))
def reject_binding(staff: StaffContext, binding_id: int, body: Decision):
    return _decide(staff, binding_id, False, body.note)


@bp.post("/bindings/<int:binding_id>/unbind")
@staff_operation("Unbind an owner from a house (an active or pending binding)", tag="property",
                 roles=WRITE, body=Decision, response=BindingOut, errors=(409,))
def unbind(staff: StaffContext, binding_id: int, body: Decision):
    """As the house page's 解除绑定: the binding is revoked (audited before and after), the
    owner no longer sees the house.  409 ``BINDING_NOT_ACTIVE`` when revoked or rejected already."""
    lists.binding_in_scope(binding_id, staff.community_ids)
    bindings.staff_unbind(binding_id, staff.actor, note=body.note)
    return lists.binding_detail(binding_id)


@bp.post("/houses/<int:house_id>/binding-codes")
@staff_operation("Issue a one-time binding code for a house", tag="property", roles=WRITE,
                 body=BindingCodeBody, response=BindingCodeOut, status=201)
def issue_binding_code(staff: StaffContext, house_id: int, body: BindingCodeBody):
    """The plain ``code`` is in this answer only: the server keeps its hash.  Hand it to the
    resident, who types it in the mini-program before it expires."""
    queries.house_detail(house_id, staff.community_ids)
    code, row = bindings.issue_binding_code(house_id, body.role, staff.actor)
    return lists.code_dict(row, code), 201


@bp.post("/binding-codes/<int:code_id>/revoke")
@staff_operation("Revoke an unused binding code", tag="property", roles=WRITE, body=Decision,
                 response=BindingCodeOut, errors=(409,))
def revoke_binding_code(staff: StaffContext, code_id: int, body: Decision):
    """409 ``BINDING_CODE_USED`` or ``BINDING_CODE_REVOKED``."""
    lists.code_in_scope(code_id, staff.community_ids)
    return lists.code_dict(bindings.staff_revoke_binding_code(code_id, staff.actor))
