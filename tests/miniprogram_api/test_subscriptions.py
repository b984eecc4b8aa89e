"""One-time subscription quotas: counted from accepts, spent per send, never below zero."""
from __future__ import annotations

import threading

import peewee
import pytest

from server import db as dbmod
from server.property.models import Owner
from templates_msg import registry, subscriptions
from templates_msg.models import Subscription

BILL_ISSUED = registry.template_for("bill_issued").template_id
OVERDUE = registry.template_for("overdue").template_id
DUE_SOON = registry.template_for("due_soon").template_id


def _report(api, owner, results):
    return api.post("/api/v1/subscriptions", json={"results": results}, headers=owner.headers)


def _remaining(data, template_id):
    return next(s["remaining"] for s in data["subscriptions"] if s["template_id"] == template_id)


def test_two_accepts_allow_two_sends(api, login):
    owner = login()
    _report(api, owner, {BILL_ISSUED: "accept"})
    data = _report(api, owner, {BILL_ISSUED: "accept", OVERDUE: "reject"}).get_json()
    assert _remaining(data, BILL_ISSUED) == 2
    assert _remaining(data, OVERDUE) == 0
    assert subscriptions.consume_quota(owner.owner_id, BILL_ISSUED)
    assert subscriptions.consume_quota(owner.owner_id, BILL_ISSUED)
    assert not subscriptions.consume_quota(owner.owner_id, BILL_ISSUED)


def test_a_reject_allows_none_and_keeps_earlier_accepts(api, login):
    owner = login()
    data = _report(api, owner, {OVERDUE: "reject"}).get_json()
    assert _remaining(data, OVERDUE) == 0
    assert not subscriptions.consume_quota(owner.owner_id, OVERDUE)
    _report(api, owner, {DUE_SOON: "accept"})
    data = _report(api, owner, {DUE_SOON: "reject"}).get_json()
    entry = next(s for s in data["subscriptions"] if s["template_id"] == DUE_SOON)
    counts = (entry["remaining"], entry["accepted"], entry["rejected"], entry["last_result"])
    assert counts == (1, 1, 1, "reject")


def test_listing_shows_every_template_we_send(api, login):
    owner = login()
    data = api.get("/api/v1/subscriptions", headers=owner.headers).get_json()
    assert {s["kind"] for s in data["subscriptions"]} == {
        "bill_issued", "due_soon", "overdue", "payment_success", "dispute_reply"}
    assert all(s["remaining"] == 0 and s["last_result"] is None for s in data["subscriptions"])


def test_template_ids_come_from_configuration(make_api, sandbox):
    app = make_api()
    app.config["WECHAT_TEMPLATE_OVERDUE"] = "tmplFromConfig123"
    client = app.test_client()
    code = sandbox.login_code()
    token = client.post("/api/v1/auth/login", json={"code": code}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    data = client.post("/api/v1/subscriptions", json={"results": {"tmplFromConfig123": "accept"}},
                       headers=headers).get_json()
    assert _remaining(data, "tmplFromConfig123") == 1


def test_a_template_that_is_not_ours_is_404(api, login):
    response = _report(api, login(), {"SBX_NOT_OURS_0000": "accept"})
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "UNKNOWN_TEMPLATE"
    assert "results.SBX_NOT_OURS_0000" in response.get_json()["error"]["details"]


@pytest.mark.parametrize("results, field", [
    ({BILL_ISSUED: "maybe"}, f"results.{BILL_ISSUED}"),
    ({}, "results"),
    ({BILL_ISSUED: "accept", OVERDUE: "accept", DUE_SOON: "accept",
      registry.template_for("payment_success").template_id: "accept"}, "results"),
])
def test_bad_subscription_reports_are_422(api, login, results, field):
    response = _report(api, login(), results)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["details"]
    assert Subscription.select().count() == 0


def test_consume_quota_never_goes_below_zero_under_concurrency(database):
    owner = Owner.create(openid="oCONCURRENT00000000000000001")
    for _ in range(3):
        subscriptions.record_results(owner.id, {BILL_ISSUED: "accept"})
    barrier = threading.Barrier(8)
    outcomes = []

    def spend():
        with dbmod.database.connection_context():
            barrier.wait()
            outcomes.append(subscriptions.consume_quota(owner.id, BILL_ISSUED))

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == [False] * 5 + [True] * 3
    row = Subscription.get(Subscription.owner == owner.id)
    assert (row.remaining, row.sent) == (0, 3)


def test_concurrent_accepts_are_all_counted(database):
    owner = Owner.create(openid="oCONCURRENT00000000000000002")
    barrier = threading.Barrier(6)

    def accept():
        with dbmod.database.connection_context():
            barrier.wait()
            subscriptions.record_results(owner.id, {OVERDUE: "accept"})

    threads = [threading.Thread(target=accept) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert Subscription.get(Subscription.owner == owner.id).remaining == 6


def test_the_database_refuses_a_negative_quota(database):
    owner = Owner.create(openid="oCONCURRENT00000000000000003")
    subscriptions.record_results(owner.id, {OVERDUE: "accept"})
    with pytest.raises(peewee.IntegrityError):
        with dbmod.transaction():
            Subscription.update(remaining=-1).where(Subscription.owner == owner.id).execute()


def test_release_and_clear_quota(database):
    owner = Owner.create(openid="oCONCURRENT00000000000000004")
    subscriptions.record_results(owner.id, {OVERDUE: "accept"})
    assert subscriptions.consume_quota(owner.id, OVERDUE)
    subscriptions.release_quota(owner.id, OVERDUE)          # WeChat failed for another reason
    assert Subscription.get(Subscription.owner == owner.id).remaining == 1
    subscriptions.clear_quota(owner.id, OVERDUE)            # WeChat said 43101
    assert Subscription.get(Subscription.owner == owner.id).remaining == 0
