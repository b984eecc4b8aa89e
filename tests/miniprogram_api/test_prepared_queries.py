"""server.owners.prepared: SQL generated once per shape, real values substituted, rows converted."""
from __future__ import annotations

from decimal import Decimal

import pytest

from server.billing.models import Bill
from server.owners import prepared
from tests import factories
from tests.miniprogram_api.helpers import count_queries


@pytest.fixture
def bills(estate):
    house = estate.houses[0]
    return [factories.bill(house, estate.items["WYF"], period=p, amount_fen=100 * n)
            for n, p in enumerate(("2026-01", "2026-02", "2026-03"), 1)]


def test_the_query_is_built_once_and_answers_for_each_set_of_values(bills):
    built = []

    def build(house_id, period):
        built.append((house_id, period))
        return (Bill.select(Bill.id, Bill.unit_price)
                .where(Bill.house == house_id, Bill.period == period).tuples())

    key = ("test-built-once", id(bills))
    house_id = bills[0].house_id
    answers = [list(prepared.run(key, build, house_id=house_id, period=p))
               for p in ("2026-01", "2026-03", "2099-01")]
    assert [[row[0] for row in rows] for rows in answers] == [[bills[0].id], [bills[2].id], []]
    assert len(built) == 1 and built[0][0] != house_id               # built with markers, once
    assert isinstance(answers[0][0][1], Decimal)                      # fields' python_value applied


def test_each_run_is_one_logged_statement_with_the_real_values(bills):
    key = ("test-logged", id(bills))

    def build(house_id):
        return Bill.select(Bill.id).where(Bill.house == house_id).tuples()

    prepared.run(key, build, house_id=bills[0].house_id)
    with count_queries() as queries:
        rows = list(prepared.run(key, build, house_id=bills[0].house_id))
    assert len(queries) == 1 and sorted(r[0] for r in rows) == sorted(b.id for b in bills)


def test_a_value_the_query_does_not_use_exactly_once_is_refused(bills):
    with pytest.raises(RuntimeError, match="used once"):
        prepared.run(("test-unused", id(bills)), lambda house_id, period: Bill.select().where(
            Bill.house == house_id), house_id=1, period="2026-01")
    with pytest.raises(RuntimeError, match="used once"):
        prepared.run(("test-twice", id(bills)), lambda house_id: Bill.select().where(
            (Bill.house == house_id) | (Bill.community == house_id)), house_id=1)


def test_values_of_another_type_than_compiled_are_refused(bills):
    key = ("test-types", id(bills))

    def build(house_id):
        return Bill.select(Bill.id).where(Bill.house == house_id)

    prepared.run(key, build, house_id=1)
    with pytest.raises(TypeError):
        prepared.run(key, build, house_id="1 OR 1=1")
    with pytest.raises(TypeError):
        prepared.run(("test-float", id(bills)), build, house_id=1.5)
