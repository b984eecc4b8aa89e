"""Meter readings: usage, replacements, idempotence, anomalies."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from server.billing import meters
from server.billing.models import Meter, MeterReading, MeterStatus
from server.errors import Conflict, ValidationError
from server.property.models import HouseStatus
from tests import factories as f

D = Decimal


@pytest.fixture
def water(database):
    comm = f.community()
    item = f.fee_item(comm, "SF", "水费")
    house = f.house(comm)
    meters.install_meter(house.id, item.id, D("100.00"), dt.date(2025, 12, 1), serial="W1")
    return house, item, f.staff_actor()


def read(water, period, value):
    house, item, actor = water
    return meters.record_reading(house.id, item.id, period, D(value), dt.date(2026, 1, 28), actor)


def test_first_reading_counts_from_the_meter_start(water):
    reading = read(water, "2026-01", "112.50")
    assert (reading.previous, reading.current, reading.usage) == (D("100.00"), D("112.50"), D("12.50"))


def test_next_reading_counts_from_the_last_reading(water):
    read(water, "2026-01", "112.50")
    reading = read(water, "2026-02", "120")
    assert (reading.previous, reading.usage) == (D("112.50"), D("7.50"))


def test_a_reading_below_the_previous_one_is_refused(water):
    read(water, "2026-01", "112.50")
    with pytest.raises(ValidationError) as caught:
        read(water, "2026-02", "110")
    assert caught.value.code == "READING_DECREASED"
    assert MeterReading.select().count() == 1


def test_after_a_replacement_usage_spans_both_meters(water):
    house, item, actor = water
    read(water, "2026-01", "112.50")
    new = meters.replace_meter(house.id, item.id, D("118.00"), D("0.00"), dt.date(2026, 2, 10),
                               serial="W2", actor=actor)
    reading = read(water, "2026-02", "3.25")
    assert reading.meter_id == new.id
    assert reading.previous == D("112.50")
    assert reading.usage == D("5.50") + D("3.25")
    old = Meter.get_by_id(new.replaces_id)
    assert (old.status, old.final_reading) == (MeterStatus.REPLACED, D("118.00"))


def test_a_replacement_with_a_final_reading_below_the_last_reading_is_refused(water):
    house, item, actor = water
    read(water, "2026-01", "112.50")
    with pytest.raises(ValidationError):
        meters.replace_meter(house.id, item.id, D("110"), D("0"), dt.date(2026, 2, 10), actor=actor)


def test_the_same_reading_twice_returns_the_existing_one(water):
    first = read(water, "2026-01", "112.50")
    again = read(water, "2026-01", "112.5")
    assert again.id == first.id
    assert MeterReading.select().count() == 1


def test_a_different_value_for_a_period_already_read_is_a_conflict(water):
    read(water, "2026-01", "112.50")
    with pytest.raises(Conflict):
        read(water, "2026-01", "113")


def test_a_reading_before_a_later_one_is_refused(water):
    read(water, "2026-02", "112.50")
    with pytest.raises(ValidationError) as caught:
        read(water, "2026-01", "105")
    assert caught.value.code == "READING_OUT_OF_ORDER"


def test_a_house_without_a_meter_cannot_be_read(database):
    comm = f.community()
    item, house = f.fee_item(comm, "SF"), f.house(comm)
    with pytest.raises(ValidationError) as caught:
        meters.record_reading(house.id, item.id, "2026-01", D(5), dt.date(2026, 1, 28), f.staff_actor())
    assert caught.value.code == "NO_METER"


def test_a_second_meter_must_be_a_replacement(water):
    house, item, _ = water
    with pytest.raises(Conflict):
        meters.install_meter(house.id, item.id, D(0), dt.date(2026, 1, 1))


def test_negative_or_too_precise_readings_are_refused(water):
    for value in ("-1", "112.505"):
        with pytest.raises(ValidationError):
            read(water, "2026-01", value)


def test_usage_far_above_the_house_average_is_flagged(water):
    house, item, _ = water
    for period, value in (("2025-10", "110"), ("2025-11", "120"), ("2025-12", "130"), ("2026-01", "161")):
        read(water, period, value)
    [anomaly] = meters.usage_anomalies(house.id, item.id, "2026-01", factor=D(3))
    assert (anomaly.kind, anomaly.usage, anomaly.average) == ("usage_high", D(31), D(10))
    assert meters.usage_anomalies(house.id, item.id, "2026-01", factor=D(4)) == []


def test_zero_usage_is_flagged_only_for_an_occupied_house(water):
    house, item, _ = water
    read(water, "2026-01", "100")
    assert [a.kind for a in meters.usage_anomalies(house.id, item.id, "2026-01")] == ["usage_zero"]
    house.status = HouseStatus.VACANT
    house.save()
    assert meters.usage_anomalies(house.id, item.id, "2026-01") == []


@pytest.mark.postgres
def test_the_same_reading_sent_twice_at_once_is_stored_once(pg_database):
    import threading

    from server import db as dbmod

    comm = f.community()
    item, house, actor = f.fee_item(comm, "SF"), f.house(comm), f.staff_actor()
    meters.install_meter(house.id, item.id, D(0), dt.date(2026, 1, 1))
    barrier, results, errors = threading.Barrier(4), [], []

    def send():
        try:
            with dbmod.database.connection_context():
                barrier.wait(timeout=10)
                results.append(meters.record_reading(house.id, item.id, "2026-01", D("7.5"),
                                                     dt.date(2026, 1, 28), actor).id)
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert len(set(results)) == 1 and len(results) == 4
    assert MeterReading.select().count() == 1
