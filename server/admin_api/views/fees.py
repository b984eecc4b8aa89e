"""``/fee-items`` and ``/standards`` (versioned 收费标准: draft → publish) and the
meter-reading grid ``GET /meter-readings``."""
from __future__ import annotations

import functools

from flask import current_app

from server.admin_api import lists
from server.admin_api.blueprint import bp
from server.admin_api.contract import MANAGE, WRITE, StaffContext, staff_operation
from server.admin_api.schemas.common import Note
from server.admin_api.schemas.setup import (FeeItemBody, FeeItemOut, FeeItemQuery, FeeItemsOut, GridOut,
                                            GridQuery, StandardDetailOut, StandardFields, StandardOut,
                                            StandardPatch)
from server.billing import standards
from server.errors import DomainError


def _chinese(fn):
    """The domain's refusal with the staff pages' Chinese message, its details kept."""
    from server.admin.pages.fees import chinese

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DomainError as exc:
            exc.message = chinese(exc).message
            raise

    return wrapper


@bp.get("/fee-items")
@staff_operation("Fee items with every version of their standard", tag="fees", query=FeeItemQuery,
                 response=FeeItemsOut)
def list_fee_items(staff: StaffContext, query: FeeItemQuery):
    return lists.fee_items(staff.scope(query.community_id), limit=query.limit, after_id=query.after_id)


@bp.post("/fee-items")
@staff_operation("Create a fee item (物业费, 停车费 …)", tag="fees", roles=WRITE, body=FeeItemBody,
                 response=FeeItemOut, status=201, errors=(409,))
def create_fee_item(staff: StaffContext, body: FeeItemBody):
    """409 ``FEE_ITEM_EXISTS`` when the community has that code already."""
    staff.check(body.community_id)
    item = _chinese(standards.create_fee_item)(body.community_id, body.code, body.name, staff.actor)
    return lists.fee_item_dict(item, []), 201


@bp.post("/fee-items/<int:item_id>/standards")
@staff_operation("Add a draft version of the item's standard", tag="fees", roles=WRITE,
                 body=StandardFields, response=StandardOut, status=201)
def create_standard(staff: StaffContext, item_id: int, body: StandardFields):
    """A draft bills nobody; publish it (a manager) to take effect from ``effective_from``."""
    lists.fee_item_in_scope(item_id, staff.community_ids)
    standard = _chinese(standards.create_standard)(item_id, staff.actor, **body.model_dump())
    return lists.standard_dict(standard), 201


@bp.get("/standards/<int:standard_id>")
@staff_operation("One version of a fee standard, with its fee item", tag="fees",
                 response=StandardDetailOut)
def get_standard(staff: StaffContext, standard_id: int):
    return lists.standard_detail(standard_id, staff.community_ids)


@bp.patch("/standards/<int:standard_id>")
@staff_operation("Change a draft standard (published versions are never edited)", tag="fees",
                 roles=WRITE, body=StandardPatch, response=StandardOut, errors=(409,))
def update_standard(staff: StaffContext, standard_id: int, body: StandardPatch):
    """409 ``STANDARD_PUBLISHED``: create a new version instead."""
    lists.standard_in_scope(standard_id, staff.community_ids)
    changes = body.model_dump(exclude_unset=True)
    return lists.standard_dict(_chinese(standards.update_draft)(standard_id, staff.actor, **changes))


@bp.post("/standards/<int:standard_id>/publish")
@staff_operation("Publish a draft standard", tag="fees", roles=MANAGE, body=Note, response=StandardOut,
                 errors=(409,))
def publish_standard(staff: StaffContext, standard_id: int, body: Note):
    """Its ``effective_from`` must be after every published version's (422 otherwise); from
    that date it supersedes them.  409 ``STANDARD_PUBLISHED`` when published already."""
    lists.standard_in_scope(standard_id, staff.community_ids)
    return lists.standard_dict(_chinese(standards.publish_standard)(standard_id, staff.actor))


@bp.get("/meter-readings")
@staff_operation("The reading grid of a metered item and period: one row per meter", tag="bills",
                 query=GridQuery, response=GridOut)
def reading_grid(staff: StaffContext, query: GridQuery):
    """Each meter's previous reading, this period's if recorded, and its anomaly flag
    (usage far from the house's recent months).  Record readings with ``POST /meter-readings``."""
    item = lists.fee_item_in_scope(query.fee_item_id, staff.community_ids)
    factor = current_app.extensions["wuyepay_config"].METER_ANOMALY_FACTOR
    return lists.reading_grid(item, query.period, query.building_id, factor, limit=query.limit,
                              after_id=query.after_id)
