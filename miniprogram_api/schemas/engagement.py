"""Disputes and reminder subscriptions."""
from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import Field, WithJsonSchema

from miniprogram_api.schemas.common import QueryArgs, RequestBody, ResponseModel, Text, Timestamp

DisputeReason = Literal["amount_wrong", "reading_wrong", "already_paid", "not_my_house",
                        "service_quality", "other"]
DisputeStatus = Literal["open", "answered", "resolved", "withdrawn"]
TEMPLATE_ID = r"^[A-Za-z0-9_\-]+$"
TemplateId = Annotated[str, Field(min_length=1, max_length=64, pattern=TEMPLATE_ID)]
SubscribeResult = Literal["accept", "reject", "ban", "filter"]


class DisputeBody(RequestBody):
    reason: DisputeReason
    text: Text(2000, 1) = Field(description="what is wrong, in the owner's words")


class MessageBody(RequestBody):
    text: Text(2000, 1)


class DisputeQuery(QueryArgs):
    status: Optional[DisputeStatus] = None


class MessageOut(ResponseModel):
    id: int
    author: Literal["owner", "staff"]
    text: str
    created_at: Timestamp


class DisputeBill(ResponseModel):
    id: int
    period: str
    house_id: int
    fee_item: str
    on_hold: bool


class DisputeOut(ResponseModel):
    id: int
    status: DisputeStatus = Field(description="open and answered hold the bill")
    reason: DisputeReason
    text: str
    bill: DisputeBill
    resolution: str = Field(description="staff's closing note")
    adjustment_id: Optional[int] = Field(description="the adjustment that settled it, if any")
    created_at: Timestamp
    updated_at: Timestamp
    closed_at: Optional[Timestamp]
    messages: list[MessageOut]


class DisputesOut(ResponseModel):
    disputes: list[DisputeOut]


# pydantic would describe the key pattern as patternProperties, which leaves keys that do
# not match it unconstrained; say exactly what is accepted instead.
_RESULTS_SCHEMA = {
    "type": "object", "minProperties": 1, "maxProperties": 3,
    "propertyNames": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": TEMPLATE_ID},
    "additionalProperties": {"type": "string", "enum": ["accept", "reject", "ban", "filter"]},
    "description": "the template ids of one wx.requestSubscribeMessage call and their results "
                   "(drop its errMsg key)",
}


class SubscribeBody(RequestBody):
    results: Annotated[dict[TemplateId, SubscribeResult],
                       Field(min_length=1, max_length=3), WithJsonSchema(_RESULTS_SCHEMA)]


class SubscriptionOut(ResponseModel):
    kind: Literal["bill_issued", "due_soon", "overdue", "payment_success", "dispute_reply"]
    title: str
    template_id: str
    remaining: int = Field(description="one-time sends still allowed")
    accepted: int
    rejected: int
    banned: int
    filtered: int
    sent: int
    last_result: Optional[SubscribeResult]
    updated_at: Optional[Timestamp]


class SubscriptionsOut(ResponseModel):
    subscriptions: list[SubscriptionOut]
