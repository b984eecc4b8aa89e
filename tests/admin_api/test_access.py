"""Who may use the staff API: token lifecycle, roles, community scope, input validation."""
from __future__ import annotations

import datetime as dt
import hashlib
import re

import click
from click.testing import CliRunner

from server.audit import Actor, AuditLog
from server.billing.models import Adjustment, Bill
from server.ledger.models import Payment, Refund
from server.staff import cli as staff_cli
from server.staff import tokens
from server.staff.models import StaffApiToken, StaffUser
from tests.admin_api.conftest import bearer, token_for

A_ONLY = "cashier_a"


def test_a_valid_token_acts_as_its_staff_member_and_only_its_hash_is_stored(api, world):
    token = world.tokens["manager_a"]
    assert token.startswith("wyp_") and len(token) >= 40
    response = api.get("/api/admin/v1/communities", headers=world.headers("manager_a"))
    assert response.status_code == 200
    assert [c["id"] for c in response.get_json()["items"]] == [world.a.community.id]
    row = StaffApiToken.get(StaffApiToken.staff == world.staff["manager_a"])
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.last_used_at is not None
    assert not StaffApiToken.select().where(StaffApiToken.token_hash == token).exists()
    issued = AuditLog.get(AuditLog.action == "staff_token.issue", AuditLog.entity_id == str(row.id))
    assert token not in str(issued.after) and issued.after["staff_id"] == world.staff["manager_a"].id


def test_expired_revoked_inactive_and_unknown_tokens_get_401(api, world):
    def status(token):
        response = api.get("/api/admin/v1/communities", headers=bearer(token))
        return response.status_code, response.get_json()["error"]["code"]

    user = world.staff["cashier_a"]
    expired = token_for(user)
    StaffApiToken.update(expires_at=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)).where(
        StaffApiToken.token_hash == tokens.hash_token(expired)).execute()
    assert status(expired) == (401, "TOKEN_EXPIRED")

    revoked = token_for(user)
    row = StaffApiToken.get(StaffApiToken.token_hash == tokens.hash_token(revoked))
    tokens.revoke_token(row.id, Actor.staff(world.staff["admin"]))
    assert status(revoked) == (401, "TOKEN_REVOKED")
    revoke_audit = AuditLog.get(AuditLog.action == "staff_token.revoke")
    assert revoke_audit.actor_id == "boss" and revoke_audit.before["revoked_at"] is None
    assert revoke_audit.after["revoked_at"] is not None

    assert status("wyp_" + "x" * 43) == (401, "TOKEN_INVALID")
    response = api.get("/api/admin/v1/communities")
    assert response.status_code == 401 and "Bearer" in response.headers["WWW-Authenticate"]

    still_good = world.tokens["cashier_a"]
    assert api.get("/api/admin/v1/communities", headers=bearer(still_good)).status_code == 200
    StaffUser.update(active=False).where(StaffUser.id == user.id).execute()
    assert status(still_good) == (401, "STAFF_INACTIVE")
    refusals = {a.after["reason"] for a in AuditLog.select().where(AuditLog.action == "staff_token.refused")}
    assert refusals == {"expired", "revoked", "inactive"}


def test_the_cli_issues_a_token_that_works_and_revokes_it(api, world, database, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database.test_url)
    group = click.Group("wuyepay")
    staff_cli.register(group)
    result = CliRunner().invoke(group, ["staff", "token", "create", "--username", "viewer_a",
                                        "--name", "ERP", "--days", "7"])
    assert result.exit_code == 0, result.output
    token = re.search(r"^(wyp_\S+)$", result.output, re.M).group(1)
    token_id = int(re.search(r"token (\d+)", result.output).group(1))
    assert api.get("/api/admin/v1/houses", headers=bearer(token)).status_code == 200
    result = CliRunner().invoke(group, ["staff", "token", "revoke", str(token_id)])
    assert result.exit_code == 0, result.output
    assert api.get("/api/admin/v1/houses", headers=bearer(token)).status_code == 401


WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def _routes(app, methods: set[str]) -> list[tuple[str, str]]:
    """(method, rule) of every staff API route answering one of ``methods``."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/admin/v1"):
            found += [(m, rule.rule) for m in sorted(rule.methods & methods)]
    return sorted(found)


def _fill(rule: str, value) -> str:
    return re.sub(r"<(?:\w+:)?\w+>", str(value), rule)


def test_a_viewer_gets_403_on_every_write_and_nothing_changes(api, api_app, world):
    counts = (Bill.select().count(), Payment.select().count(), Refund.select().count(),
              Adjustment.select().count())
    audits = AuditLog.select().count()
    routes = _routes(api_app, WRITES)
    assert len(routes) == 34
    for method, rule in routes:
        response = api.open(_fill(rule, "houses" if "<kind>" in rule else 1), method=method, json={},
                            headers=world.headers("viewer_a"))
        assert response.status_code == 403, (method, rule)
        assert response.get_json()["error"]["code"] == "FORBIDDEN"
    assert (Bill.select().count(), Payment.select().count(), Refund.select().count(),
            Adjustment.select().count()) == counts
    assert AuditLog.select().count() == audits


def _records_of(side) -> dict:
    """The id to put in a route's path, by the route's first segment."""
    return {"houses": side.estate.houses[0].id, "bills": side.bills[0].id, "payments": side.payment.id,
            "refunds": side.refund.id, "billing-runs": side.run_id, "adjustments": side.adjustment.id,
            "disputes": side.dispute.id, "alerts": side.alert.id, "reconciliation": side.recon_item.id,
            "offline-payments": side.pending_order.id, "orders": side.wechat_order.id,
            "bindings": side.binding.id, "binding-codes": side.binding_code.id,
            "fee-items": side.estate.items["WYF"].id, "standards": side.standard.id,
            "tasks": side.task.id, "reminder-policies": side.community.id,
            "receipts": side.payment.receipt_no, "imports": "houses"}


# Bodies that pass validation, so that the answer is about scope (422 comes before 404).
VALID_BODIES = {
    "/reconciliation/": {"note": "x"}, "/reply": {"text": "x"}, "<int:house_id>/binding-codes": {"role": "owner"},
    "/fee-items/<int:item_id>/standards": {"method": "fixed", "unit_price": "1", "effective_from": "2027-01-01"},
    "/reminder-policies/": {"due_soon_days": 3, "overdue_every_days": 7, "overdue_max": 3},
}


def test_every_route_with_an_id_answers_404_for_another_communitys_record(api, api_app, world):
    """A's staff (a manager, who may use every route but admin-only ones) get 404 on each
    of B's records on every route that names one, reading or writing; nothing changes."""
    b_ids = _records_of(world.b)
    before = AuditLog.select().count()
    checked = 0
    for method, rule in _routes(api_app, WRITES | {"GET"}):
        if "<" not in rule:
            continue
        segment = rule.split("/")[4]
        path = _fill(rule, b_ids[segment])
        if segment == "imports":
            path += f"?community_id={world.b.community.id}"
        body = next((v for k, v in VALID_BODIES.items() if k in rule), {})
        for who in ("manager_a", "cashier_a") if method == "GET" else ("manager_a",):
            response = api.open(path, method=method, json=body, data=None,
                                headers={**world.headers(who), "Idempotency-Key": "k-404"})
            assert response.status_code == 404, (who, method, path, response.get_json())
            checked += 1
    assert checked >= 40
    assert AuditLog.select().count() == before


def test_a_cashier_gets_403_on_approvals_issuing_and_resolving(api, world):
    a = world.a
    for path in (f"/api/admin/v1/adjustments/{a.adjustment.id}/approve",
                 f"/api/admin/v1/refunds/{a.refund.id}/approve",
                 f"/api/admin/v1/refunds/{a.refund.id}/reject",
                 "/api/admin/v1/billing-runs",
                 f"/api/admin/v1/reconciliation/items/{a.recon_item.id}/resolve",
                 f"/api/admin/v1/disputes/{a.dispute.id}/resolve"):
        assert api.post(path, json={}, headers=world.headers(A_ONLY)).status_code == 403, path
    assert api.get("/api/admin/v1/reconciliation/runs", headers=world.headers(A_ONLY)).status_code == 403


def test_a_cashier_of_a_gets_404_on_every_record_of_b(api, world):
    b, h = world.b, world.headers(A_ONLY)
    gets = [f"/api/admin/v1/houses/{b.estate.houses[0].id}", f"/api/admin/v1/bills/{b.bills[0].id}",
            f"/api/admin/v1/payments/{b.payment.id}", f"/api/admin/v1/refunds/{b.refund.id}",
            f"/api/admin/v1/billing-runs/{b.run_id}",
            f"/api/admin/v1/houses?community_id={b.community.id}",
            f"/api/admin/v1/bills?community_id={b.community.id}",
            f"/api/admin/v1/payments?community_id={b.community.id}",
            f"/api/admin/v1/disputes?community_id={b.community.id}",
            f"/api/admin/v1/reports/collection?community_id={b.community.id}&period=2026-01"]
    for path in gets:
        assert api.get(path, headers=h).status_code == 404, path
    run = {"community_id": b.community.id, "period": "2026-04"}
    posts = [
        ("/api/admin/v1/billing-runs/preview", run),
        ("/api/admin/v1/adjustments", {"bill_id": b.bills[1].id, "kind": "discount",
                                       "amount_fen": -100, "reason": "x"}),
        ("/api/admin/v1/offline-payments", {"community_id": b.community.id, "channel": "cash",
                                            "voucher_no": "V-x", "allocations": [
                                                {"bill_id": b.bills[1].id, "amount_fen": 100}]}),
        ("/api/admin/v1/refunds", {"payment_id": b.payment.id, "bill_id": b.bills[0].id,
                                   "amount_fen": 100, "reason": "x"}),
        (f"/api/admin/v1/disputes/{b.dispute.id}/reply", {"text": "hi"}),
        (f"/api/admin/v1/alerts/{b.alert.id}/acknowledge", {}),
    ]
    before = AuditLog.select().count()
    for path, body in posts:
        response = api.post(path, json=body, headers={**h, "Idempotency-Key": "k-404"})
        assert response.status_code == 404, (path, response.get_json())
    assert AuditLog.select().count() == before
    # Approvals and resolutions: a manager of A, same answer.
    m = world.headers("manager_a")
    for path in (f"/api/admin/v1/adjustments/{b.adjustment.id}/approve",
                 f"/api/admin/v1/adjustments/{b.adjustment.id}/reject",
                 f"/api/admin/v1/refunds/{b.refund.id}/approve",
                 f"/api/admin/v1/refunds/{b.refund.id}/reject",
                 f"/api/admin/v1/disputes/{b.dispute.id}/resolve",
                 f"/api/admin/v1/reconciliation/items/{b.recon_item.id}/resolve"):
        body = {"note": "x"} if "reconciliation" in path else {}
        assert api.post(path, json=body, headers=m).status_code == 404, path
    reading = {"readings": [{"house_id": b.estate.houses[0].id, "fee_item_id": b.estate.items["SF"].id,
                             "period": "2026-02", "current": "12.50"}]}
    response = api.post("/api/admin/v1/meter-readings", json=reading, headers=h)
    assert response.status_code == 422 and response.get_json()["error"]["details"] == {
        "readings.0": "房屋不存在"}


def test_lists_never_show_another_communitys_data(api, world):
    h, a, b = world.headers(A_ONLY), world.a, world.b

    def ids(path, key="id"):
        response = api.get(path, headers=h)
        assert response.status_code == 200, path
        return {item[key] for item in response.get_json()["items"]}

    assert ids("/api/admin/v1/communities") == {a.community.id}
    assert ids("/api/admin/v1/houses", "community_id") == {a.community.id}
    assert ids("/api/admin/v1/bills", "community_id") == {a.community.id}
    assert ids("/api/admin/v1/payments", "community_id") == {a.community.id}
    assert ids("/api/admin/v1/disputes", "community_id") == {a.community.id}
    assert ids("/api/admin/v1/alerts", "community_id") == {a.community.id}
    assert ids("/api/admin/v1/reconciliation/items") == {a.recon_item.id}
    boss = world.headers("admin")
    everything = api.get("/api/admin/v1/reconciliation/items", headers=boss).get_json()["items"]
    assert {i["community_id"] for i in everything} == {a.community.id, b.community.id}


def test_unknown_fields_and_wrong_types_get_422(api, world):
    h = {**world.headers("manager_a"), "Idempotency-Key": "k-422"}
    response = api.post("/api/admin/v1/billing-runs/preview",
                        json={"community_id": world.a.community.id, "period": "2026-04", "force": True},
                        headers=h)
    assert response.status_code == 422
    assert response.get_json()["error"]["details"] == {"force": "Extra inputs are not permitted"}
    response = api.post("/api/admin/v1/adjustments", json={
        "bill_id": world.a.bills[1].id, "kind": "discount", "amount_fen": "-1.5", "reason": "x"}, headers=h)
    assert response.status_code == 422 and "amount_fen" in response.get_json()["error"]["details"]
    assert api.get("/api/admin/v1/bills?colour=red", headers=h).status_code == 422
    assert api.get("/api/admin/v1/bills?limit=1000", headers=h).status_code == 422
    assert api.get("/api/admin/v1/bills/99999999999", headers=h).status_code == 404


def test_lists_page_by_ascending_id(api, world):
    h = world.headers("admin")
    first = api.get("/api/admin/v1/bills?limit=3", headers=h).get_json()
    assert len(first["items"]) == 3 and first["next_after_id"] == first["items"][-1]["id"]
    rest = api.get(f"/api/admin/v1/bills?limit=50&after_id={first['next_after_id']}", headers=h).get_json()
    assert rest["next_after_id"] is None
    all_ids = [i["id"] for i in first["items"] + rest["items"]]
    assert all_ids == sorted(all_ids) and len(all_ids) == Bill.select().count()


def test_houses_search_by_owner_name(api, world):
    house = world.a.estate.houses[1]
    type(house).update(owner_name="张三丰").where(type(house).id == house.id).execute()
    items = api.get("/api/admin/v1/houses?search=三丰", headers=world.headers("viewer_a")).get_json()["items"]
    assert [i["id"] for i in items] == [house.id]
    detail = api.get(f"/api/admin/v1/houses/{house.id}", headers=world.headers("viewer_a")).get_json()
    assert detail["open_bills"] == 2 and detail["outstanding_fen"] == 40_000
