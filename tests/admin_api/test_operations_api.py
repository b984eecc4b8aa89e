"""The staff API's operations matching the staff pages: the counter (approval, cash close,
receipts), WeChat orders, property set-up, bindings, fee standards, the reading grid,
imports, reminders, tasks and the audit log; and the Idempotency-Key race."""
from __future__ import annotations

import datetime as dt
import threading

import peewee as pw
import pytest
import time_machine

from payments.models import PaymentOrder
from server import db as dbmod
from server.admin_api import actions
from server.audit import Actor, AuditLog
from server.billing.models import FeeStandard
from server.ledger.models import Payment
from server.property.models import Binding, House
from tests import factories as f

V1 = "/api/admin/v1"


def test_a_large_offline_receipt_is_approved_by_another_then_the_day_closes(api, world):
    a, order = world.a, world.a.pending_order
    listed = api.get(f"{V1}/offline-payments?status=created", headers=world.headers("viewer_a")).get_json()
    assert [o["id"] for o in listed["items"]] == [order.id]
    assert listed["items"][0]["lines"][0]["amount_fen"] == 5_000
    day = {"community_id": a.community.id, "date": "2026-01-21"}
    refused = api.post(f"{V1}/cash-close", json=day, headers=world.headers("cashier_a"))
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "PENDING_APPROVALS"
    approved = api.post(f"{V1}/offline-payments/{order.id}/approve", json={}, headers=world.headers("manager_a"))
    assert approved.status_code == 200 and approved.get_json()["status"] == "paid"
    receipt_no = approved.get_json()["payment"]["receipt_no"]
    receipt = api.get(f"{V1}/receipts/{receipt_no}", headers=world.headers("viewer_a")).get_json()
    assert receipt["amount_fen"] == 5_000 and receipt["payer_name"] == "王五" and receipt["cashier"] == "cashier_a"
    summary = api.get(f"{V1}/cash-close", query_string=day, headers=world.headers("cashier_a")).get_json()
    assert (summary["count"], summary["total_fen"], summary["pending"], summary["close"]) == (1, 5_000, 0, None)
    closed = api.post(f"{V1}/cash-close", json=day, headers=world.headers("cashier_a"))
    assert closed.status_code == 201 and closed.get_json()["totals"] == {"pos": 5_000}
    again = api.post(f"{V1}/cash-close", json=day, headers=world.headers("cashier_a"))
    assert again.get_json()["error"]["code"] == "CASH_DAY_CLOSED"
    other = dict(day, operator_id=world.staff["manager_a"].id)
    assert api.get(f"{V1}/cash-close", query_string=other, headers=world.headers("cashier_a")).status_code == 403
    row = AuditLog.get(AuditLog.action == "cash.close")
    assert row.actor_id == "cashier_a" and row.after["totals"] == {"pos": 5_000}


def test_a_rejected_receipt_releases_its_bill_and_cannot_be_approved_later(api, world):
    order = world.b.pending_order
    rejected = api.post(f"{V1}/offline-payments/{order.id}/reject", json={"note": "凭证不清"},
                        headers=world.headers("manager_b"))
    assert rejected.status_code == 200 and rejected.get_json()["status"] == "closed"
    late = api.post(f"{V1}/offline-payments/{order.id}/approve", json={}, headers=world.headers("manager_b"))
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "OFFLINE_PAYMENT_REJECTED"
    row = AuditLog.get(AuditLog.action == "offline_payment.reject")
    assert (row.actor_id, row.note) == ("manager_b", "凭证不清")
    assert Payment.select().where(Payment.order == order.id).count() == 0


class StubClient:
    mchid, appid = "1900000109", "wxappid"

    def __init__(self):
        self.calls = []

    def query_by_out_trade_no(self, no):
        self.calls.append(("query", no))
        return {"out_trade_no": no, "trade_state": "NOTPAY" if len(self.calls) < 3 else "CLOSED"}

    def close(self, no):
        self.calls.append(("close", no))


def test_wechat_orders_are_listed_queried_and_an_expired_one_closed(api, world, monkeypatch):
    stub = StubClient()
    monkeypatch.setattr("server.admin_api.views.orders._client", lambda: stub)
    order, h = world.a.wechat_order, world.headers("cashier_a")
    listed = api.get(f"{V1}/orders?status=paying", headers=world.headers("viewer_a")).get_json()
    assert [o["out_trade_no"] for o in listed["items"]] == ["WX1"]
    asked = api.post(f"{V1}/orders/{order.id}/query", json={}, headers=h)
    assert asked.status_code == 200 and asked.get_json()["last_queried_at"] is not None
    closed = api.post(f"{V1}/orders/{order.id}/close", json={}, headers=h)
    assert closed.status_code == 200 and closed.get_json()["status"] == "closed"
    actions_seen = [e["action"] for e in closed.get_json()["history"]]
    assert actions_seen[0] == "order.query" and actions_seen[-1] == "order.close_requested"
    again = api.post(f"{V1}/orders/{order.id}/close", json={}, headers=h)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "ORDER_NOT_OPEN"


def test_property_is_set_up_and_house_data_changed_with_an_audit_trail(api, world):
    boss, m = world.headers("admin"), world.headers("manager_a")
    created = api.post(f"{V1}/communities", json={"name": "新园", "code": "XY"}, headers=boss)
    assert created.status_code == 201
    assert api.post(f"{V1}/communities", json={"name": "x", "code": "XZ"}, headers=m).status_code == 403
    dup = api.post(f"{V1}/communities", json={"name": "新园", "code": "XY"}, headers=boss)
    assert dup.status_code == 409
    building = api.post(f"{V1}/buildings", json={"community_id": world.a.community.id, "name": "9栋"},
                        headers=m)
    assert building.status_code == 201 and building.get_json()["name"] == "9栋"
    house = world.a.estate.houses[0]
    changed = api.patch(f"{V1}/houses/{house.id}", json={"floor_area": "88.50", "owner_phone": "13800000000"},
                        headers=m)
    assert changed.status_code == 200 and changed.get_json()["floor_area"] == "88.50"
    row = AuditLog.get(AuditLog.action == "house.update")
    assert row.before["floor_area"] == "100.00" and row.after["floor_area"] == "88.50"
    bad = api.patch(f"{V1}/houses/{house.id}", json={"owner_phone": "123"}, headers=m)
    assert bad.status_code == 422 and f.reload(house).owner_phone == "13800000000"


def test_binding_requests_are_decided_and_codes_shown_once_then_revoked(api, world):
    m, a = world.headers("manager_a"), world.a
    pending = api.get(f"{V1}/bindings", headers=m).get_json()["items"]
    assert [b["id"] for b in pending] == [a.binding.id]
    approved = api.post(f"{V1}/bindings/{a.binding.id}/approve", json={"note": "核实"}, headers=m)
    assert approved.get_json()["status"] == "active"
    twice = api.post(f"{V1}/bindings/{a.binding.id}/reject", json={}, headers=m)
    assert twice.status_code == 409 and Binding.get_by_id(a.binding.id).status == "active"
    issued = api.post(f"{V1}/houses/{a.estate.houses[1].id}/binding-codes", json={"role": "owner"},
                      headers=world.headers("cashier_a"))
    code = issued.get_json()
    assert issued.status_code == 201 and len(code["code"]) >= 8
    revoked = api.post(f"{V1}/binding-codes/{code['id']}/revoke", json={}, headers=world.headers("cashier_a"))
    assert revoked.get_json()["revoked_at"] is not None and revoked.get_json()["code"] is None
    assert api.post(f"{V1}/binding-codes/{code['id']}/revoke", json={},
                    headers=world.headers("cashier_a")).status_code == 409


def test_a_standard_is_drafted_edited_published_and_then_never_edited(api, world):
    item = world.a.estate.items["TCF"]
    c, m = world.headers("cashier_a"), world.headers("manager_a")
    draft = api.post(f"{V1}/fee-items/{item.id}/standards", headers=c, json={
        "method": "fixed", "unit_price": "180.00", "effective_from": "2027-01-01"})
    assert draft.status_code == 201 and draft.get_json()["status"] == "draft"
    sid = draft.get_json()["id"]
    edited = api.patch(f"{V1}/standards/{sid}", json={"unit_price": "175.5"}, headers=c)
    assert edited.get_json()["unit_price"] == "175.5000"
    assert api.post(f"{V1}/standards/{sid}/publish", json={}, headers=c).status_code == 403
    published = api.post(f"{V1}/standards/{sid}/publish", json={}, headers=m)
    assert published.get_json()["status"] == "published"
    frozen = api.patch(f"{V1}/standards/{sid}", json={"unit_price": "1"}, headers=c)
    assert frozen.status_code == 409 and FeeStandard.get_by_id(sid).unit_price == 175.5
    float_price = api.post(f"{V1}/fee-items/{item.id}/standards", headers=c, json={
        "method": "fixed", "unit_price": 180.5, "effective_from": "2027-02-01"})
    assert float_price.status_code == 422
    new_item = api.post(f"{V1}/fee-items", json={"community_id": world.a.community.id, "code": "DT",
                                                 "name": "电梯费"}, headers=c)
    assert new_item.status_code == 201
    items = api.get(f"{V1}/fee-items", headers=c).get_json()["items"]
    assert {i["code"] for i in items} == {"WYF", "TCF", "SF", "DT"}
    tcf = next(i for i in items if i["code"] == "TCF")
    assert [s["version"] for s in tcf["standards"]] == [1, 2]
    row = AuditLog.get(AuditLog.action == "fee_standard.publish")
    assert (row.before["status"], row.after["status"]) == ("draft", "published")


def test_one_standard_is_shown_with_its_fee_item(api, world):
    standard, item = world.a.standard, world.a.estate.items["WYF"]
    got = api.get(f"{V1}/standards/{standard.id}", headers=world.headers("viewer_a"))
    assert got.status_code == 200
    body = got.get_json()
    assert (body["id"], body["status"], body["method"], body["unit_price"]) == (
        standard.id, "draft", "per_area", "2.8000")
    assert body["fee_item"] == {"id": item.id, "community_id": world.a.community.id, "code": "WYF",
                                "name": item.name, "active": True}


def test_billing_runs_are_listed_by_period_and_paged(api, world):
    from server.billing import runs

    a, h = world.a, world.headers("manager_a")
    later = runs.preview_run(a.community.id, "2026-04", Actor.staff(world.staff["manager_a"])).run_id
    first = api.get(f"{V1}/billing-runs?limit=1", headers=h).get_json()
    assert [r["id"] for r in first["items"]] == [a.run_id] and first["next_after_id"] == a.run_id
    rest = api.get(f"{V1}/billing-runs?after_id={a.run_id}", headers=h).get_json()
    assert [r["id"] for r in rest["items"]] == [later] and rest["next_after_id"] is None
    april = api.get(f"{V1}/billing-runs?period=2026-04", headers=h).get_json()["items"]
    assert [(r["id"], r["period"], r["status"]) for r in april] == [(later, "2026-04", "previewed")]
    b_only = api.get(f"{V1}/billing-runs?community_id={world.b.community.id}",
                     headers=world.headers("admin")).get_json()["items"]
    assert [r["id"] for r in b_only] == [world.b.run_id]


def test_the_front_desk_unbinds_an_owner_audited_as_on_the_house_page(api, world):
    a, m = world.a, world.headers("manager_a")
    binding = a.binding.id
    assert api.post(f"{V1}/bindings/{binding}/approve", json={}, headers=m).status_code == 200
    refused = api.post(f"{V1}/bindings/{binding}/unbind", json={}, headers=world.headers("viewer_a"))
    assert refused.status_code == 403 and Binding.get_by_id(binding).status == "active"
    done = api.post(f"{V1}/bindings/{binding}/unbind", json={"note": "已搬走"},
                    headers=world.headers("cashier_a"))
    assert done.status_code == 200 and done.get_json()["status"] == "revoked"
    row = AuditLog.get(AuditLog.action == "binding.revoke", AuditLog.entity_id == str(binding))
    assert (row.actor_id, row.note, row.community_id) == ("cashier_a", "已搬走", a.community.id)
    assert (row.before["status"], row.after["status"]) == ("active", "revoked")
    again = api.post(f"{V1}/bindings/{binding}/unbind", json={}, headers=m)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "BINDING_NOT_ACTIVE"


def test_the_reading_grid_shows_each_meter_with_its_previous_reading(api, world):
    estate = world.a.estate
    f.reading(estate.houses[0], estate.items["SF"], "2026-01", 0, 10)
    grid = api.get(f"{V1}/meter-readings", query_string={"fee_item_id": estate.items["SF"].id,
                                                         "period": "2026-02"},
                   headers=world.headers("viewer_a")).get_json()
    assert [(r["house_id"], r["previous"], r["current"]) for r in grid["items"]] == [
        (estate.houses[0].id, "10.00", None), (estate.houses[1].id, "0.00", None)]


def test_an_import_is_checked_row_by_row_and_refused_whole(api, world):
    h = world.headers("cashier_a")
    good = "楼栋,单元,房号,面积,业主姓名,手机号,状态\n1栋,1,901,90.5,赵六,13900000001,occupied\n"
    bad = good + "1栋,1,902,abc,钱七,13900000002,occupied\n"
    url = f"{V1}/imports/houses?community_id={world.a.community.id}"
    before = House.select().count()
    refused = api.post(url + "&dry_run=false", data={"file": (__import__("io").BytesIO(bad.encode()), "h.csv")},
                       headers=h, content_type="multipart/form-data")
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "IMPORT_REJECTED"
    assert list(refused.get_json()["error"]["details"]) == ["row.3"]
    assert House.select().count() == before
    checked = api.post(url, data={"file": (__import__("io").BytesIO(good.encode()), "h.csv")}, headers=h,
                       content_type="multipart/form-data").get_json()["report"]
    assert checked["dry_run"] and not checked["committed"] and House.select().count() == before
    done = api.post(url + "&dry_run=false", data={"file": (__import__("io").BytesIO(good.encode()), "h.csv")},
                    headers=h, content_type="multipart/form-data").get_json()["report"]
    assert done["committed"] and House.select().count() == before + 1


@time_machine.travel(dt.datetime(2026, 2, 10, 3, 0, tzinfo=dt.timezone.utc), tick=False)
def test_reminder_policy_is_set_and_a_campaign_starts_as_a_task(api, world, held_jobs):
    m, cid = world.headers("manager_a"), world.a.community.id
    policy = {"due_soon_days": 5, "overdue_every_days": 10, "overdue_max": 2, "due_day_on": False}
    saved = api.put(f"{V1}/reminder-policies/{cid}", json=policy, headers=m).get_json()
    assert (saved["due_soon_days"], saved["due_day_on"], saved["bill_issued_on"]) == (5, False, True)
    row = AuditLog.get(AuditLog.action == "reminder_policy.update")
    assert row.before["due_soon_days"] == 3 and row.after["due_day_on"] is False
    preview = api.get(f"{V1}/reminder-campaigns/preview", headers=m).get_json()
    assert preview["bills"] >= 1 and preview["owners"] == 0
    started = api.post(f"{V1}/reminder-campaigns", json={"community_id": cid}, headers=m)
    assert started.status_code == 202
    task = started.get_json()["task"]
    assert task["kind"] == "reminder_campaign" and task["status"] == "queued" and len(held_jobs.enqueued) == 1
    assert api.get(f"{V1}/tasks/{task['id']}", headers=world.headers("viewer_a")).status_code == 200
    with time_machine.travel(dt.datetime(2026, 2, 10, 14, 0, tzinfo=dt.timezone.utc), tick=False):
        quiet = api.post(f"{V1}/reminder-campaigns", json={"community_id": cid}, headers=m)
    assert quiet.status_code == 409 and quiet.get_json()["error"]["code"] == "QUIET_HOURS"


def test_new_lists_never_show_another_communitys_data(api, world):
    h, a, b = world.headers("cashier_a"), world.a, world.b
    for path, key in (("offline-payments", "community_id"), ("orders", "community_id"),
                      ("bindings", "community_id"), ("fee-items", "community_id"), ("tasks", "community_id"),
                      ("audit", "community_id"), ("billing-runs", "community_id")):
        items = api.get(f"{V1}/{path}", headers=h).get_json()["items"]
        assert items and {i[key] for i in items} == {a.community.id}, path
        assert api.get(f"{V1}/{path}?community_id={b.community.id}", headers=h).status_code == 404
    everything = api.get(f"{V1}/audit?limit=200", headers=world.headers("admin")).get_json()["items"]
    assert {None, a.community.id, b.community.id} <= {i["community_id"] for i in everything}
    assert api.get(f"{V1}/cash-close?community_id={b.community.id}", headers=h).status_code == 404
    assert api.post(f"{V1}/cash-close", json={"community_id": b.community.id, "date": "2026-01-21"},
                    headers=h).status_code == 404


# --- the Idempotency-Key, enforced by the database ------------------------------------------

def test_the_database_refuses_a_second_offline_order_with_the_same_key(api, world):
    order = world.a.pending_order
    PaymentOrder.update(idempotency_key="erp-1").where(PaymentOrder.id == order.id).execute()
    twin = world.b.pending_order
    with pytest.raises(pw.IntegrityError), dbmod.database.atomic():
        PaymentOrder.update(idempotency_key="erp-1", operator=order.operator_id).where(
            PaymentOrder.id == twin.id).execute()
    # Another staff member may use the same key.
    PaymentOrder.update(idempotency_key="erp-1").where(PaymentOrder.id == twin.id).execute()


def test_two_identical_requests_racing_make_one_payment_and_both_get_it(api_app, world, monkeypatch):
    """Both requests pass the look-up before either writes (on PostgreSQL, truly at once)."""
    bill, cashier = world.a.bills[1], world.staff["cashier_a"]
    barrier = threading.Barrier(2)
    lookup = actions.existing_offline_order

    def both_miss(staff_id, key):
        found = lookup(staff_id, key)
        if getattr(local, "first", True):
            local.first = False
            barrier.wait(timeout=30)   # both threads saw no order: both go on to insert
        return found

    local = threading.local()
    monkeypatch.setattr(actions, "existing_offline_order", both_miss)
    results, errors = [None, None], []

    def worker(i):
        try:
            with dbmod.database.connection_context():
                results[i] = actions.record_offline_payment(
                    "erp-race", world.a.community.id, [(bill.id, 15_000)], "cash", "V-race", "李四",
                    Actor.staff(cashier), approval_threshold_fen=10**9)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sorted(created for _, created in results) == [False, True]
    assert results[0][0].id == results[1][0].id
    assert Payment.select().where(Payment.order == results[0][0].id).count() == 1
    assert f.reload(bill).paid_fen == 15_000
    assert AuditLog.select().where(AuditLog.action == "offline_payment.book").count() == 3
