"""``/disputes`` and ``/subscriptions``."""
from __future__ import annotations

from flask import current_app

from miniprogram_api.blueprint import bp
from miniprogram_api.contract import operation
from miniprogram_api.schemas.engagement import (DisputeBody, DisputeOut, DisputeQuery, DisputesOut,
                                                MessageBody, SubscribeBody, SubscriptionsOut)
from server.disputes import services as disputes
from templates_msg import subscriptions


@bp.post("/bills/<int:bill_id>/disputes")
@operation("Question a bill (费用异议)", tag="disputes", body=DisputeBody, response=DisputeOut,
           status=201, errors=(409,))
def open_dispute(owner_id: int, bill_id: int, body: DisputeBody):
    """While the dispute is open the bill is on hold: no late fee, no reminders.
    DISPUTE_ALREADY_OPEN (409) if this owner already has one open on the bill."""
    dispute = disputes.open_dispute(owner_id, bill_id, body.reason, body.text)
    return disputes.owner_dispute(owner_id, dispute.id)


@bp.get("/disputes")
@operation("My disputes with their messages", tag="disputes", query=DisputeQuery,
           response=DisputesOut)
def list_disputes(owner_id: int, query: DisputeQuery):
    return {"disputes": disputes.owner_disputes(owner_id, status=query.status)}


@bp.get("/disputes/<int:dispute_id>")
@operation("One of my disputes", tag="disputes", response=DisputeOut)
def get_dispute(owner_id: int, dispute_id: int):
    return disputes.owner_dispute(owner_id, dispute_id)


@bp.post("/disputes/<int:dispute_id>/messages")
@operation("Add to a dispute's conversation", tag="disputes", body=MessageBody, response=DisputeOut,
           status=201, errors=(409,))
def add_dispute_message(owner_id: int, dispute_id: int, body: MessageBody):
    disputes.owner_message(owner_id, dispute_id, body.text)
    return disputes.owner_dispute(owner_id, dispute_id)


@bp.post("/disputes/<int:dispute_id>/withdraw")
@operation("Withdraw a dispute", tag="disputes", response=DisputeOut, errors=(409,))
def withdraw_dispute(owner_id: int, dispute_id: int):
    """The bill's hold is lifted when no other dispute remains open on it."""
    disputes.withdraw_dispute(owner_id, dispute_id)
    return disputes.owner_dispute(owner_id, dispute_id)


@bp.get("/subscriptions")
@operation("Reminder templates and my remaining one-time sends", tag="subscriptions",
           response=SubscriptionsOut)
def list_subscriptions(owner_id: int):
    return {"subscriptions": subscriptions.owner_subscriptions(owner_id, config=current_app.config)}


@bp.post("/subscriptions")
@operation("Report the result of wx.requestSubscribeMessage", tag="subscriptions",
           body=SubscribeBody, response=SubscriptionsOut, errors=(404,))
def report_subscriptions(owner_id: int, body: SubscribeBody):
    """Each `accept` allows one more send of that template; other results allow none.
    404 UNKNOWN_TEMPLATE for an id that is not one of ours (see GET /subscriptions)."""
    subscriptions.record_results(owner_id, body.results, config=current_app.config)
    return {"subscriptions": subscriptions.owner_subscriptions(owner_id, config=current_app.config)}
