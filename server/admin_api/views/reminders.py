"""``/reminder-policies``, ``/reminder-log`` and ``/reminder-campaigns`` (payment reminders)."""
from __future__ import annotations

import dataclasses

from flask import current_app

from server import tasks
from server.admin_api import lists
from server.admin_api.blueprint import bp
from server.admin_api.contract import MANAGE, StaffContext, staff_operation
from server.admin_api.schemas.system import (CampaignBody, CampaignFilterFields, CampaignOut,
                                             CampaignPreviewOut, PolicyBody, PolicyOut, ReminderLogQuery,
                                             ReminderLogsOut)
from server.billing.models import FeeItem
from server.errors import ValidationError
from server.tasks.models import AdminTask
from server.timeutil import local_today, utcnow
from templates_msg import queries, reminders

CAMPAIGN = "reminder_campaign"


def _policy(community_id: int) -> dict:
    return {"community_id": community_id, **dataclasses.asdict(reminders.policy_for(community_id))}


@bp.get("/reminder-policies/<int:community_id>")
@staff_operation("A community's reminder timing and stage switches", tag="reminders",
                 response=PolicyOut)
def get_policy(staff: StaffContext, community_id: int):
    staff.check(community_id)
    return _policy(community_id)


@bp.put("/reminder-policies/<int:community_id>")
@staff_operation("Set a community's reminder timing and stage switches", tag="reminders", roles=MANAGE,
                 body=PolicyBody, response=PolicyOut)
def set_policy(staff: StaffContext, community_id: int, body: PolicyBody):
    """Audited before and after; the same values again change nothing.  ``overdue_max`` 0 turns
    overdue reminders off; a switch false turns its stage off, omitted keeps it."""
    staff.check(community_id)
    reminders.set_policy(community_id, staff.actor, **body.model_dump())
    return _policy(community_id)


@bp.get("/reminder-log")
@staff_operation("Reminders sent (or not) to owners, with their result", tag="reminders",
                 query=ReminderLogQuery, response=ReminderLogsOut)
def reminder_log(staff: StaffContext, query: ReminderLogQuery):
    return lists.reminder_log(staff.scope(query.community_id), stage=query.stage or "",
                              result=query.result or "", since=query.since, until=query.until,
                              limit=query.limit, after_id=query.after_id)


def _filter(staff: StaffContext, f) -> reminders.CampaignFilter:
    ids = tuple(staff.scope(f.community_id))
    if f.fee_item_id is not None:
        item = FeeItem.get_or_none(FeeItem.id == f.fee_item_id)
        if item is None or item.community_id not in ids:
            raise ValidationError("收费项目不属于所选小区", details={"fee_item_id": "not in the communities"})
    return reminders.CampaignFilter(ids, f.period or "", f.fee_item_id, f.min_overdue_days)


def _preview(flt: reminders.CampaignFilter) -> dict:
    config = current_app.extensions["wuyepay_config"]
    return queries.campaign_preview(flt, local_today(utcnow()), config=config)


@bp.get("/reminder-campaigns/preview")
@staff_operation("What a manual reminder campaign would reach", tag="reminders",
                 query=CampaignFilterFields, response=CampaignPreviewOut)
def preview_campaign(staff: StaffContext, query: CampaignFilterFields):
    return _preview(_filter(staff, query))


@bp.post("/reminder-campaigns")
@staff_operation("Start a manual reminder campaign (a task)", tag="reminders", roles=MANAGE,
                 body=CampaignBody, response=CampaignOut, status=202, errors=(409,))
def start_campaign(staff: StaffContext, body: CampaignBody):
    """Sends through the same path as the scheduled reminders: subscription quota, at most one
    message per bill, owner and day.  409 ``QUIET_HOURS`` between 21:00 and 08:00."""
    flt = _filter(staff, body)
    reminders.check_campaign_time(utcnow())
    preview = _preview(flt)
    only = flt.community_ids[0] if len(flt.community_ids) == 1 else None
    task = tasks.start(CAMPAIGN, {"filter": flt.as_params()}, staff.actor, community_id=only,
                       label="缴费提醒活动")
    return {"preview": preview, "task": lists.task_dict(AdminTask.get_by_id(task.id))}, 202
