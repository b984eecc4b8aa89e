"""Background tasks, the audit log, imports and payment reminders."""
from __future__ import annotations

from server.admin_api.schemas.common import (Field, Id, Json, ListQuery, Literal, Period, QueryArgs,
                                             RequestBody, ResponseModel, Text, Timestamp, dt)
from server.admin_api.schemas.counter import HistoryOut


class TaskOut(ResponseModel):
    id: int
    kind: str = Field(description="billing_issue, import, reminder_campaign, …")
    kind_label: str
    label: str
    status: Literal["queued", "running", "done", "failed"]
    total: int | None
    done: int
    percent: int | None = Field(description="0–100 while known")
    result: dict[str, Json] | None = Field(description="what the finished task reports "
                                                       "(billing_issue: run_id, bills_created …)")
    error: str
    community_id: int | None
    created_by: str
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None


class TaskQuery(ListQuery):
    community_id: Id | None = None
    status: Literal["queued", "running", "done", "failed"] | None = None
    kind: Text(32) | None = None


class TasksOut(ResponseModel):
    items: list[TaskOut]
    next_after_id: int | None


class AuditQuery(ListQuery):
    community_id: Id | None = None
    actor_id: Text(64) | None = Field(None, description="a staff username, owner id …")
    action: Text(64) | None = Field(None, description="prefix, e.g. offline_payment.")
    entity: Text(32) | None = None
    entity_id: Text(64) | None = None
    since: dt.datetime | None = Field(None, description="ISO 8601 with a zone")
    until: dt.datetime | None = Field(None, description="exclusive")


class AuditsOut(ResponseModel):
    items: list[HistoryOut]
    next_after_id: int | None


class ImportQuery(QueryArgs):
    community_id: Id
    dry_run: bool = Field(True, description="true: check every row and write nothing")


class ImportMessageOut(ResponseModel):
    field: str
    text: str
    code: str | None = None


class ImportRowOut(ResponseModel):
    row: int
    status: str
    label: str
    key: Json = None
    messages: list[ImportMessageOut]


class ImportReportOut(ResponseModel):
    kind: str
    filename: str
    sha256: str
    dry_run: bool
    committed: bool
    has_errors: bool
    counts: dict[str, int]
    summary: str
    file_errors: list[str]
    notes: list[str]
    rows: list[ImportRowOut]
    rows_omitted: int


class ImportOut(ResponseModel):
    report: ImportReportOut | None = Field(description="the per-row report (files run in the request)")
    task: TaskOut | None = Field(description="a big file runs as a task (202): its result is the report")


class PolicyOut(ResponseModel):
    community_id: int
    due_soon_days: int = Field(description="N: the reminder N days before the due date")
    overdue_every_days: int = Field(description="K: an overdue reminder every K days")
    overdue_max: int = Field(description="M: at most M overdue reminders (0: none)")
    bill_issued_on: bool
    due_soon_on: bool
    due_day_on: bool


class PolicyBody(RequestBody):
    due_soon_days: int
    overdue_every_days: int
    overdue_max: int
    bill_issued_on: bool | None = Field(None, description="omit to keep the current switch")
    due_soon_on: bool | None = None
    due_day_on: bool | None = None


class ReminderLogQuery(ListQuery):
    community_id: Id | None = None
    stage: Literal["bill_issued", "due_soon", "due_day", "overdue", "campaign",
                   "payment_success"] | None = None
    result: Text(16) | None = None
    since: dt.date | None = Field(None, description="Shanghai day, inclusive")
    until: dt.date | None = None


class ReminderLogOut(ResponseModel):
    id: int
    bill_id: int
    community_id: int
    house_label: str
    fee_item_name: str
    period: str
    owner_id: int
    stage: str
    stage_label: str
    result: str
    errcode: int | None
    errmsg: str
    attempts: int
    sent_at: Timestamp


class ReminderLogsOut(ResponseModel):
    items: list[ReminderLogOut]
    next_after_id: int | None


class CampaignFilterFields(QueryArgs):
    community_id: Id | None = Field(None, description="default: every community you see")
    period: Period | None = None
    fee_item_id: Id | None = None
    min_overdue_days: int = Field(0, ge=0, le=3650, description="0: every open bill")


class CampaignBody(RequestBody):
    community_id: Id | None = None
    period: Period | None = None
    fee_item_id: Id | None = None
    min_overdue_days: int = Field(0, ge=0, le=3650)


class CampaignPreviewOut(ResponseModel):
    bills: int
    balance_fen: int
    owners: int
    owners_with_quota: int = Field(description="owners with a subscription message left")


class CampaignOut(ResponseModel):
    preview: CampaignPreviewOut
    task: TaskOut
