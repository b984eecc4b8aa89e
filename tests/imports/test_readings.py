import datetime as dt
from decimal import Decimal

import pytest

from server.billing import meters
from server.billing.models import Meter, MeterReading
from server.imports import import_readings
from server.imports.report import RowStatus
from tests.imports.helpers import (ACTOR, community, fee_item, house, table_counts, write_csv,
                                   write_table)

HEADER = ["楼栋", "单元", "房号", "收费项目", "账期", "上期读数", "本期读数", "抄表日期"]


@pytest.fixture
def hy(database):
    comm = community()
    water = fee_item(comm, "water", "水费", "metered")
    fee_item(comm, "property", "物业费", "per_area")
    a = house(comm, "1栋", "1单元", "101")
    b = house(comm, "1栋", "1单元", "102")
    return comm, water, a, b


def _reading(h, period):
    return MeterReading.get(MeterReading.house == h, MeterReading.period == period)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_meters_are_installed_from_the_previous_reading_and_readings_recorded(hy, tmp_path, suffix):
    _, water, a, b = hy
    rows = [HEADER,
            ["1栋", "1单元", "101", "水费", "2026-02", "", "130.5", "2026-02-25"],   # after 01 in the chain
            ["1栋", "1单元", "101", "水费", "2026-01", "100", "112.25", "2026-01-25"],
            ["1栋", "1单元", "102", "water", "2026-01", "0", "7", dt.date(2026, 1, 26)]]

    report = import_readings(write_table(tmp_path / f"r{suffix}", rows), "HY", ACTOR)

    assert report.committed, report.lines()
    assert report.created == {"meters": 2, "readings": 3}
    meter = Meter.get(Meter.house == a)
    assert meter.start_reading == Decimal("100") and meter.installed_on == dt.date(2026, 1, 1)
    assert _reading(a, "2026-01").usage == Decimal("12.25")
    feb = _reading(a, "2026-02")
    assert (feb.previous, feb.current, feb.usage, feb.source) == (
        Decimal("112.25"), Decimal("130.5"), Decimal("18.25"), "import")
    assert _reading(b, "2026-01").read_on == dt.date(2026, 1, 26)
    assert "将登记新表" in report.rows[1].messages[0].text


def test_reimporting_the_same_readings_writes_nothing(hy, tmp_path):
    rows = [HEADER, ["1栋", "1单元", "101", "水费", "2026-01", "100", "112.25", "2026-01-25"],
            ["1栋", "1单元", "101", "水费", "2026-02", "", "130.5", "2026-02-25"]]
    path = write_csv(tmp_path / "r.csv", rows)
    import_readings(path, "HY", ACTOR)
    before = table_counts()
    again = import_readings(path, "HY", ACTOR)
    assert table_counts() == before
    assert [r.status for r in again.rows] == [RowStatus.UNCHANGED, RowStatus.UNCHANGED]


def test_an_existing_meter_continues_its_chain(hy, tmp_path):
    _, water, a, _ = hy
    meters.install_meter(a.id, water.id, Decimal("50"), dt.date(2025, 1, 1))
    meters.record_reading(a.id, water.id, "2025-12", Decimal("60"), dt.date(2025, 12, 25), ACTOR)
    rows = [HEADER, ["1栋", "1单元", "101", "水费", "2026-01", "60", "75", "2026-01-25"]]
    report = import_readings(write_csv(tmp_path / "r.csv", rows), "HY", ACTOR)
    assert report.committed and report.created == {"meters": 0, "readings": 1}
    assert _reading(a, "2026-01").usage == Decimal("15")


def test_bad_reading_rows_are_reported_and_nothing_is_written(hy, tmp_path):
    _, water, a, b = hy
    meters.install_meter(a.id, water.id, Decimal("50"), dt.date(2025, 1, 1))
    meters.record_reading(a.id, water.id, "2025-12", Decimal("60"), dt.date(2025, 12, 25), ACTOR)
    rows = [HEADER,
            ["1栋", "1单元", "101", "水费", "2026-01", "", "55", "2026-01-25"],        # 2 below 60
            ["1栋", "1单元", "101", "水费", "2025-12", "", "61", "2025-12-25"],        # 3 already 60
            ["1栋", "1单元", "101", "水费", "2025-11", "", "58", "2025-11-25"],        # 4 before 2025-12
            ["1栋", "1单元", "101", "水费", "2026-02", "59", "70", "2026-02-25"],      # 5 previous ≠ 60
            ["1栋", "1单元", "102", "水费", "2026-01", "", "7", "2026-01-25"],         # 6 no meter
            ["1栋", "1单元", "102", "物业费", "2026-01", "0", "7", "2026-01-25"],      # 7 not metered
            ["1栋", "1单元", "103", "水费", "2026-01", "0", "7", "2026-01-25"],        # 8 no such house
            ["1栋", "1单元", "101", "水费", "2026-03", "", "x", "2026-03-32"],         # 9 bad values
            ["1栋", "1单元", "101", "水费", "2026-04", "", "80", "2026-04-25"],        # 10 ok
            ["1栋", "1单元", "101", "水费", "2026-04", "", "80", "2026-04-25"]]        # 11 duplicate
    before = table_counts()

    report = import_readings(write_csv(tmp_path / "bad.csv", rows), "HY", ACTOR)

    assert table_counts() == before and not report.committed
    codes = {r.row: [m.code for m in r.messages] for r in report.rows}
    assert codes == {2: ["READING_DECREASED"], 3: ["READING_EXISTS"], 4: ["READING_OUT_OF_ORDER"],
                     5: ["PREVIOUS_MISMATCH"], 6: ["NO_METER"], 7: ["FEE_ITEM_NOT_METERED"],
                     8: ["HOUSE_NOT_FOUND"], 9: ["NOT_A_NUMBER", "BAD_DATE"], 10: [],
                     11: ["DUPLICATE_IN_FILE"]}


def test_dry_run_installs_no_meter_and_records_nothing(hy, tmp_path):
    rows = [HEADER, ["1栋", "1单元", "101", "水费", "2026-01", "100", "112.25", "2026-01-25"]]
    before = table_counts()
    report = import_readings(write_csv(tmp_path / "r.csv", rows), "HY", ACTOR, dry_run=True)
    assert table_counts() == before
    assert report.counts["ok"] == 1 and not report.committed


def test_after_a_meter_swap_the_new_meter_start_is_the_floor(hy, tmp_path):
    _, water, a, _ = hy
    meters.install_meter(a.id, water.id, Decimal("900"), dt.date(2025, 1, 1))
    meters.record_reading(a.id, water.id, "2025-12", Decimal("990"), dt.date(2025, 12, 25), ACTOR)
    meters.replace_meter(a.id, water.id, Decimal("995"), Decimal("0"), dt.date(2026, 1, 10))
    rows = [HEADER, ["1栋", "1单元", "101", "水费", "2026-01", "990", "12", "2026-01-25"]]

    report = import_readings(write_csv(tmp_path / "r.csv", rows), "HY", ACTOR)

    assert report.committed, report.lines()
    assert _reading(a, "2026-01").usage == Decimal("17")  # 5 on the old meter + 12 on the new


def test_a_refusal_by_record_reading_rolls_the_whole_import_back(hy, tmp_path, monkeypatch):
    from server.errors import ValidationError

    calls = []

    def refuse_second(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise ValidationError("refused", code="SOMETHING_NEW")
        return original(*args, **kwargs)

    original = meters.record_reading
    monkeypatch.setattr(meters, "record_reading", refuse_second)
    rows = [HEADER, ["1栋", "1单元", "101", "水费", "2026-01", "100", "112", "2026-01-25"],
            ["1栋", "1单元", "102", "水费", "2026-01", "0", "7", "2026-01-25"]]
    before = table_counts()

    report = import_readings(write_csv(tmp_path / "r.csv", rows), "HY", ACTOR)

    assert table_counts() == before and not report.committed
    assert report.rows[1].messages[-1].code == "SOMETHING_NEW"
