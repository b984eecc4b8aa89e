"""Itemized bills grouped by period, bill history, fee standards, constant query counts."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from server.billing.models import Adjustment, Bill, LateFeeAccrual, Method
from server.ledger.models import Allocation, Refund
from server.timeutil import local_today
from tests import factories
from tests.miniprogram_api.conftest import bind
from tests.miniprogram_api.helpers import count_queries


def _money(fen: int) -> dict:
    sign = "-" if fen < 0 else ""
    return {"fen": fen, "yuan": f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"}


@pytest.fixture
def household(estate, login):
    """An owner bound to house 0, with January and February bills."""
    owner = login()
    house = estate.houses[0]
    bind(owner.owner_id, house)
    wyf, tcf, sf = estate.items["WYF"], estate.items["TCF"], estate.items["SF"]
    jan_wyf = factories.bill(house, wyf, period="2026-01", amount_fen=25_000, method=Method.PER_AREA,
                             quantity=Decimal("100.00"), unit="m²·月", unit_price=Decimal("2.5000"),
                             adjusted_fen=-1_000, late_fee_fen=300, paid_fen=5_000,
                             status="partially_paid")
    jan_tcf = factories.bill(house, tcf, period="2026-01", amount_fen=15_000, paid_fen=15_000,
                             status="paid")
    reading = factories.reading(house, sf, "2026-02", "10", "22")
    feb_sf = factories.bill(house, sf, period="2026-02", amount_fen=4_920, method=Method.METERED,
                            quantity=Decimal("12"), unit="m³", unit_price=Decimal("4.1"),
                            meter_reading=reading, previous_reading=Decimal("10"),
                            current_reading=Decimal("22"))
    return owner, house, {"jan_wyf": jan_wyf, "jan_tcf": jan_tcf, "feb_sf": feb_sf}


def test_bills_are_grouped_by_period_with_totals(api, household):
    owner, house, bills = household
    response = api.get(f"/api/v1/houses/{house.id}/bills", headers=owner.headers)
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert data["house"]["id"] == house.id and data["house"]["floor_area"] == "100.00"
    assert [p["period"] for p in data["periods"]] == ["2026-02", "2026-01"]
    jan = data["periods"][1]
    assert jan["totals"] == {"amount": _money(40_000), "adjustments_total": _money(-1_000),
                             "late_fee": _money(300), "paid": _money(20_000), "balance": _money(19_300)}
    assert data["totals"]["balance"] == _money(19_300 + 4_920)
    assert data["totals"]["amount"]["yuan"] == "449.20"


def test_every_line_shows_its_basis_standard_and_state(api, household):
    owner, house, bills = household
    data = api.get(f"/api/v1/houses/{house.id}/bills", headers=owner.headers).get_json()
    lines = {b["id"]: b for p in data["periods"] for b in p["bills"]}
    water = lines[bills["feb_sf"].id]
    assert water["fee_item"]["name"] == "水费"
    assert water["basis"] == {"method": "metered", "quantity": "12.0000", "unit": "m³",
                              "unit_price": "4.1000", "months": 1, "previous_reading": "10.00",
                              "current_reading": "22.00"}
    assert water["standard"]["unit_price"] == "4.1000" and water["standard"]["version"] == 1
    assert water["amount"] == _money(4_920) and water["balance"] == _money(4_920)
    assert water["due_date"] == "2026-02-15" and water["status"] == "unpaid"
    expected_overdue = max((local_today() - dt.date(2026, 2, 15)).days, 0)
    assert water["overdue_days"] == expected_overdue
    assert water["on_hold"] is False and water["open_order"] is None
    paid = lines[bills["jan_tcf"].id]
    assert paid["balance"] == _money(0) and paid["overdue_days"] == 0


def test_bills_filter_by_status_and_period(api, household):
    owner, house, bills = household
    url = f"/api/v1/houses/{house.id}/bills"
    open_ids = {b["id"] for p in api.get(url + "?status=open", headers=owner.headers).get_json()["periods"]
                for b in p["bills"]}
    assert open_ids == {bills["jan_wyf"].id, bills["feb_sf"].id}
    jan = api.get(url + "?period=2026-01&status=paid", headers=owner.headers).get_json()
    assert [b["id"] for p in jan["periods"] for b in p["bills"]] == [bills["jan_tcf"].id]


def test_a_bill_shows_its_history(api, household):
    owner, house, bills = household
    bill = bills["jan_wyf"]
    Adjustment.create(bill=bill, kind="discount", amount_fen=-1_000, reason="老人优惠", status="approved",
                      decided_at=dt.datetime(2026, 1, 20, tzinfo=dt.timezone.utc))
    Adjustment.create(bill=bill, kind="waiver", amount_fen=-300, reason="pending", status="pending")
    payment = factories.payment(house.community, 5_000)
    Allocation.create(payment=payment, bill=bill, amount_fen=5_000)
    Refund.create(payment=payment, bill=bill, out_refund_no="R1", amount_fen=100, reason="多收",
                  status="pending_approval")
    for day, fen in ((dt.date(2026, 2, 1), 150), (dt.date(2026, 2, 2), 150), (dt.date(2026, 2, 3), 0)):
        LateFeeAccrual.create(bill=bill, accrual_date=day, amount_fen=fen)
    api.post(f"/api/v1/bills/{bill.id}/disputes", json={"reason": "amount_wrong", "text": "面积不对"},
             headers=owner.headers)
    response = api.get(f"/api/v1/bills/{bill.id}", headers=owner.headers)
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert [(a["kind"], a["amount"]["fen"]) for a in data["adjustments"]] == [("discount", -1_000)]
    assert [(p["amount"]["fen"], p["channel"]) for p in data["payments"]] == [(5_000, "cash")]
    assert data["refunds"] == []                      # not yet approved: not shown to the owner
    assert data["late_fee_days"] == {"days": 2, "first": "2026-02-01", "last": "2026-02-02",
                                     "total": _money(300)}
    assert [d["reason"] for d in data["disputes"]] == ["amount_wrong"]
    assert data["on_hold"] is True and data["reminders"] == []


def test_fee_standards_show_current_and_upcoming_versions(api, estate, login):
    owner = login()
    bind(owner.owner_id, estate.houses[0])
    wyf = estate.items["WYF"]
    future = local_today() + dt.timedelta(days=40)
    factories.standard(wyf, Method.PER_AREA, "2.8000", effective_from=future)
    factories.standard(wyf, Method.PER_AREA, "9.9900", effective_from=future + dt.timedelta(days=1),
                       status="draft")
    response = api.get(f"/api/v1/communities/{estate.community.id}/fee-standards", headers=owner.headers)
    assert response.status_code == 200, response.get_json()
    items = {i["fee_item"]["code"]: i for i in response.get_json()["items"]}
    assert set(items) == {"WYF", "TCF", "SF"}
    assert items["WYF"]["current"]["unit_price"] == "2.5000"
    assert [(s["unit_price"], s["effective_from"]) for s in items["WYF"]["upcoming"]] == [
        ("2.8000", future.isoformat())]
    assert items["TCF"]["upcoming"] == [] and items["TCF"]["current"]["method"] == "fixed"


def test_fee_standards_of_a_community_without_my_house_are_404(api, estate, login):
    owner = login()
    response = api.get(f"/api/v1/communities/{estate.community.id}/fee-standards", headers=owner.headers)
    assert response.status_code == 404


def _house_with_bills(estate, owner, n: int):
    house = factories.house(estate.community)
    bind(owner.owner_id, house)
    items = [estate.items["WYF"], estate.items["TCF"]]
    for i in range(n):
        factories.bill(house, items[i % 2], period=f"{2024 + i // 24}-{(i // 2) % 12 + 1:02d}",
                       amount_fen=1_000 + i)
    return house


def test_listing_bills_takes_the_same_number_of_queries_for_1_or_20_bills(api, estate, login):
    owner = login()
    small, large = _house_with_bills(estate, owner, 1), _house_with_bills(estate, owner, 20)
    counts = []
    for house, n in ((small, 1), (large, 20)):
        with count_queries() as queries:
            data = api.get(f"/api/v1/houses/{house.id}/bills", headers=owner.headers).get_json()
        assert sum(len(p["bills"]) for p in data["periods"]) == n
        counts.append(len(queries))
    assert 2 <= counts[0] == counts[1] <= 3, counts


def test_listing_houses_takes_the_same_number_of_queries_for_1_or_20_houses(api, estate, login):
    counts = []
    for n in (1, 20):
        owner = login()
        for _ in range(n):
            _house_with_bills(estate, owner, 2)
        with count_queries() as queries:
            data = api.get("/api/v1/houses", headers=owner.headers).get_json()
        assert len(data["houses"]) == n and all(h["open_bills"] == 2 for h in data["houses"])
        counts.append(len(queries))
    assert 2 <= counts[0] == counts[1] <= 3, counts


def test_bill_detail_queries_do_not_grow_with_its_history(api, household):
    owner, house, bills = household
    bill = bills["jan_wyf"]
    counts = []
    for _ in range(2):
        with count_queries() as queries:
            assert api.get(f"/api/v1/bills/{bill.id}", headers=owner.headers).status_code == 200
        counts.append(len(queries))
        for k in range(5):
            Adjustment.create(bill=bill, kind="discount", amount_fen=-1, reason=f"r{k}", status="approved")
            Allocation.create(payment=factories.payment(house.community, 1), bill=bill, amount_fen=1)
    assert 5 <= counts[0] == counts[1] <= 8, counts


def test_bill_amounts_are_never_floats(api, household):
    owner, house, _ = household
    body = api.get(f"/api/v1/houses/{house.id}/bills", headers=owner.headers).get_data(as_text=True)
    import json

    def walk(value):
        assert not isinstance(value, float), value
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
    walk(json.loads(body))
    assert Bill.select().count() == 3
