"""The staff API's flows end to end over HTTP: billing runs, readings, adjustments,
offline payments (idempotent), refunds, the ERP's sync, disputes, alerts,
reconciliation, the collection report, and the OpenAPI document."""
from __future__ import annotations

import datetime as dt
import re

from openapi_spec_validator import validate

from server.audit import AuditLog
from server.billing.models import Adjustment, Bill, MeterReading
from server.ledger.models import Payment, Refund
from server.timeutil import utcnow
from tests import factories as f

V1 = "/api/admin/v1"


def test_a_billing_run_goes_from_preview_to_issue_and_repeating_bills_nobody_twice(api, world, inline_jobs):
    h, community = world.headers("manager_a"), world.a.community
    body = {"community_id": community.id, "period": "2026-03"}
    preview = api.post(f"{V1}/billing-runs/preview", json=body, headers=h)
    assert preview.status_code == 201, preview.get_json()
    planned = preview.get_json()
    assert planned["bills_new"] == 4 and Bill.select().where(Bill.period == "2026-03").count() == 0
    # 2 houses × (物业费 100 m² × 2.5 + 停车费 150); water has no readings yet.
    assert planned["total_fen"] == 2 * (25_000 + 15_000)
    issued = api.post(f"{V1}/billing-runs", json=body, headers=h)
    assert issued.status_code == 202, issued.get_json()
    task = api.get(f"{V1}/tasks/{issued.get_json()['id']}", headers=world.headers("viewer_a")).get_json()
    assert (task["kind"], task["status"], task["percent"], task["total"]) == ("billing_issue", "done", 100, 2)
    run = api.get(f"{V1}/billing-runs/{task['result']['run_id']}", headers=h).get_json()
    assert (run["status"], run["bills_created"], run["total_fen"]) == ("issued", 4, 80_000)
    again = api.post(f"{V1}/billing-runs", json=body, headers=h).get_json()
    assert (again["result"]["bills_created"], again["result"]["bills_existing"]) == (0, 4)
    assert Bill.select().where(Bill.period == "2026-03").count() == 4
    assert api.get(f"{V1}/tasks/{task['id']}", headers=world.headers("cashier_b")).status_code == 404
    got = api.get(f"{V1}/billing-runs/{run['id']}", headers=world.headers("viewer_a")).get_json()
    assert got["created_by"] == world.staff["manager_a"].id
    audit = AuditLog.get(AuditLog.action == "billing_run.issue", AuditLog.entity_id == str(run["id"]))
    assert (audit.actor_type, audit.actor_id) == ("staff", "manager_a")


def test_meter_readings_are_saved_all_or_nothing(api, world):
    h, estate = world.headers("cashier_a"), world.a.estate
    water = estate.items["SF"].id
    good = {"house_id": estate.houses[0].id, "fee_item_id": water, "period": "2026-02", "current": "12.50"}
    bad = {"house_id": estate.houses[1].id, "fee_item_id": estate.items["WYF"].id, "period": "2026-02",
           "current": "3"}
    response = api.post(f"{V1}/meter-readings", json={"readings": [good, bad]}, headers=h)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "READINGS_REJECTED" and list(error["details"]) == ["readings.1"]
    assert MeterReading.select().count() == 0
    second = dict(bad, fee_item_id=water, current="8")
    response = api.post(f"{V1}/meter-readings", json={"readings": [good, second]}, headers=h)
    assert response.status_code == 201
    assert [(r["current"], r["usage"]) for r in response.get_json()["items"]] == [
        ("12.50", "12.50"), ("8.00", "8.00")]
    audit = AuditLog.select().where(AuditLog.action == "meter_reading.record")
    assert {a.actor_id for a in audit} == {"cashier_a"} and audit.count() == 2
    response = api.post(f"{V1}/meter-readings", json={"readings": [dict(good, current=12.5)]}, headers=h)
    assert response.status_code == 422  # a float reading is refused: exact decimals are strings


def test_a_large_adjustment_waits_for_a_manager_and_is_audited_before_and_after(api, api_app, world):
    api_app.extensions["wuyepay_config"].ADJUSTMENT_APPROVAL_THRESHOLD_FEN = 10_000
    bill = world.a.bills[3]
    body = {"bill_id": bill.id, "kind": "discount", "amount_fen": -15_000, "reason": "车位维修"}
    adj = api.post(f"{V1}/adjustments", json=body, headers=world.headers("cashier_a")).get_json()
    assert adj["status"] == "pending" and f.reload(bill).adjusted_fen == 0
    own = api.post(f"{V1}/adjustments/{adj['id']}/approve", json={}, headers=world.headers("manager_a"))
    assert own.status_code == 200 and own.get_json()["status"] == "approved"
    assert own.get_json()["decided_by"] == world.staff["manager_a"].id
    assert f.reload(bill).adjusted_fen == -15_000
    audit = AuditLog.get(AuditLog.action == "adjustment.discount", AuditLog.entity_id == str(bill.id))
    assert audit.actor_id == "manager_a"
    assert audit.before == {"adjusted_fen": 0, "status": "unpaid"}
    assert audit.after["adjusted_fen"] == -15_000
    again = api.post(f"{V1}/adjustments/{adj['id']}/reject", json={}, headers=world.headers("manager_a"))
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "ALREADY_DECIDED"


def test_the_requester_cannot_approve_their_own_adjustment(api, api_app, world):
    api_app.extensions["wuyepay_config"].ADJUSTMENT_APPROVAL_THRESHOLD_FEN = 10_000
    body = {"bill_id": world.a.bills[3].id, "kind": "discount", "amount_fen": -15_000, "reason": "x"}
    adj = api.post(f"{V1}/adjustments", json=body, headers=world.headers("manager_a")).get_json()
    refused = api.post(f"{V1}/adjustments/{adj['id']}/approve", json={}, headers=world.headers("manager_a"))
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "SECOND_APPROVER_REQUIRED"
    assert Adjustment.get_by_id(adj["id"]).status == "pending"


def _offline(world, bill, key, voucher="V-api-1", amount=15_000):
    return {"community_id": world.a.community.id, "channel": "cash", "voucher_no": voucher,
            "payer_name": "李四", "allocations": [{"bill_id": bill.id, "amount_fen": amount}]}, key


def test_an_offline_payment_posted_twice_with_one_idempotency_key_is_taken_once(api, world):
    bill = world.a.bills[1]
    body, key = _offline(world, bill, "erp-42")
    h = {**world.headers("cashier_a"), "Idempotency-Key": key}
    payments_before = Payment.select().count()
    first = api.post(f"{V1}/offline-payments", json=body, headers=h)
    assert first.status_code == 201, first.get_json()
    second = api.post(f"{V1}/offline-payments", json=body, headers=h)
    assert second.status_code == 200
    assert first.get_json() == second.get_json()
    assert Payment.select().count() == payments_before + 1
    paid = first.get_json()
    assert paid["status"] == "paid" and paid["payment"]["amount_fen"] == 15_000
    assert f.reload(bill).paid_fen == 15_000
    changed = api.post(f"{V1}/offline-payments", json=dict(body, voucher_no="V-other"), headers=h)
    assert changed.status_code == 409 and changed.get_json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    keyless = api.post(f"{V1}/offline-payments", json=body, headers=world.headers("cashier_a"))
    assert keyless.status_code == 422
    assert keyless.get_json()["error"]["code"] == "IDEMPOTENCY_KEY_REQUIRED"
    booked = AuditLog.get(AuditLog.action == "offline_payment.book",
                          AuditLog.entity_id == str(paid["payment"]["id"]))
    assert (booked.actor_type, booked.actor_id) == ("staff", "cashier_a")
    assert booked.after["amount_fen"] == 15_000
    assert Payment.select().count() == payments_before + 1


def test_a_refund_is_requested_by_a_cashier_and_carried_out_on_a_managers_approval(api, world):
    a = world.a
    h = {**world.headers("cashier_a"), "Idempotency-Key": "refund-1"}
    body = {"payment_id": a.payment.id, "bill_id": a.bills[0].id, "amount_fen": 2_000, "reason": "多缴"}
    first = api.post(f"{V1}/refunds", json=body, headers=h)
    assert first.status_code == 201 and first.get_json()["status"] == "pending_approval"
    assert api.post(f"{V1}/refunds", json=body, headers=h).get_json()["id"] == first.get_json()["id"]
    too_much = api.post(f"{V1}/refunds", json=dict(body, amount_fen=30_000),
                        headers={**h, "Idempotency-Key": "refund-2"})
    assert too_much.status_code == 409 and too_much.get_json()["error"]["code"] == "REFUND_EXCEEDS_PAID"
    refund_id = first.get_json()["id"]
    approved = api.post(f"{V1}/refunds/{refund_id}/approve", json={}, headers=world.headers("manager_a"))
    assert approved.status_code == 200 and approved.get_json()["status"] == "success"
    assert f.reload(a.bills[0]).paid_fen == 25_000 - 2_000
    got = api.get(f"{V1}/refunds/{refund_id}", headers=world.headers("viewer_a")).get_json()
    assert got["approved_by"] == world.staff["manager_a"].id
    rejected = api.post(f"{V1}/refunds/{a.refund.id}/reject", json={"note": "不退"},
                        headers=world.headers("manager_a"))
    assert rejected.get_json()["status"] == "rejected"


def test_an_erp_syncs_new_and_changed_payments_with_updated_since(api, world):
    h = world.headers("manager_a")
    full = api.get(f"{V1}/payments", headers=h).get_json()
    assert [p["id"] for p in full["items"]] == [world.a.payment.id]
    since = full["server_time"]
    quiet = api.get(f"{V1}/payments", query_string={"updated_since": since}, headers=h).get_json()
    assert quiet["items"] == []
    # A refund changes the old payment; a new receipt is taken.
    later = utcnow() + dt.timedelta(seconds=1)
    Refund.update(updated_at=later).where(Refund.id == world.a.refund.id).execute()
    body, key = _offline(world, world.a.bills[3], "erp-sync", voucher="V-sync")
    new = api.post(f"{V1}/offline-payments", json=body, headers={**h, "Idempotency-Key": key}).get_json()
    synced = api.get(f"{V1}/payments", query_string={"updated_since": since}, headers=h).get_json()
    assert [p["id"] for p in synced["items"]] == [world.a.payment.id, new["payment"]["id"]]
    assert synced["items"][0]["refunds"][0]["id"] == world.a.refund.id
    naive = api.get(f"{V1}/payments?updated_since=2026-01-01T00:00:00", headers=h)
    assert naive.status_code == 422


def test_a_bill_shows_its_basis_and_history(api, world):
    bill = world.a.bills[0]
    detail = api.get(f"{V1}/bills/{bill.id}", headers=world.headers("viewer_a")).get_json()
    assert detail["basis"]["unit_price"] == "250.0000" and detail["basis"]["quantity"] == "1.0000"
    assert detail["paid_fen"] == 25_000 and detail["balance_fen"] == 0
    assert [p["amount_fen"] for p in detail["payments"]] == [25_000]
    assert [r["status"] for r in detail["refunds"]] == ["pending_approval"]
    assert [(h["action"], h["actor_id"]) for h in detail["history"]] == [("bill.allocate", "cashier_a")]
    assert detail["history"][0]["after"]["paid_fen"] == 25_000
    listed = api.get(f"{V1}/bills", query_string={"status": "paid"}, headers=world.headers("viewer_a"))
    assert [b["id"] for b in listed.get_json()["items"]] == [bill.id]


def test_disputes_alerts_and_reconciliation_are_worked_through_the_api(api, world):
    a, m = world.a, world.headers("manager_a")
    reply = api.post(f"{V1}/disputes/{a.dispute.id}/reply", json={"text": "已核实"},
                     headers=world.headers("cashier_a"))
    assert reply.status_code == 200 and reply.get_json()["status"] == "answered"
    assert reply.get_json()["messages"][-1]["text"] == "已核实"
    resolved = api.post(f"{V1}/disputes/{a.dispute.id}/resolve", json={"resolution": "金额无误"}, headers=m)
    assert resolved.get_json()["status"] == "resolved"
    again = api.post(f"{V1}/disputes/{a.dispute.id}/resolve", json={}, headers=m)
    assert again.status_code == 409
    ack = api.post(f"{V1}/alerts/{a.alert.id}/acknowledge", json={"note": "看到了"},
                   headers=world.headers("cashier_a"))
    assert ack.get_json()["acknowledged_by"] == "cashier_a"
    open_alerts = api.get(f"{V1}/alerts?acknowledged=false", headers=m).get_json()["items"]
    assert open_alerts == []
    done = api.post(f"{V1}/reconciliation/items/{a.recon_item.id}/resolve", json={"note": "已补录"},
                    headers=m)
    assert done.status_code == 200 and done.get_json()["resolved_by"] == "manager_a"
    empty = api.post(f"{V1}/reconciliation/items/{a.recon_item.id}/resolve", json={"note": " "},
                     headers=m)
    assert empty.status_code == 422
    runs = api.get(f"{V1}/reconciliation/runs", headers=world.headers("admin")).get_json()["items"]
    assert len(runs) == 1 and runs[0]["status"] == "done"


def test_the_collection_report_gives_fen_and_basis_points(api, world):
    response = api.get(f"{V1}/reports/collection",
                       query_string={"period": "2026-01"},
                       headers=world.headers("viewer_a"))
    report = response.get_json()
    # A: 2 houses × 400.00 due; 250.00 paid.
    assert (report["total"]["due_fen"], report["total"]["paid_fen"]) == (80_000, 25_000)
    assert report["total"]["rate_by_amount_bp"] == 3125 and report["total"]["houses_paid"] == 0
    assert [c["label"] for c in report["by_community"]] == [world.a.community.name]


def test_the_openapi_document_is_valid_and_lists_every_route(api, api_app, world):
    doc = api.get(f"{V1}/openapi.json").get_json()
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    routes: dict[str, set] = {}
    for rule in api_app.url_map.iter_rules():
        if rule.rule.startswith(V1) and not rule.rule.endswith(("/openapi.json", "/docs")):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            routes.setdefault(path, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    assert {p: set(ms) for p, ms in doc["paths"].items()} == routes
    offline = doc["paths"][f"{V1}/offline-payments"]["post"]
    assert {"200", "201", "401", "403", "409", "422"} <= set(offline["responses"])
    assert offline["security"] == [{"bearerAuth": []}]
    assert any(p["name"] == "Idempotency-Key" and p["required"] for p in offline["parameters"])
    page = api.get(f"{V1}/docs").get_data(as_text=True)
    assert "WuyePay staff API" in page and "/api/admin/v1/offline-payments" in page and "cdn" not in page
