import datetime as dt
from decimal import Decimal

import pytest

from server.billing.models import Bill
from server.imports import import_arrears
from server.imports.report import RowStatus
from tests.imports.helpers import (ACTOR, bill, community, fee_item, house, table_counts, write_csv,
                                   write_table)

HEADER = ["楼栋", "单元", "房号", "收费项目", "账期", "金额（元）", "到期日"]


@pytest.fixture
def hy(database):
    comm = community()
    fee_item(comm, "property", "物业费", "per_area")
    fee_item(comm, "parking", "停车费", "fixed")
    house(comm, "1栋", "1单元", "101")
    house(comm, "1栋", "1单元", "102")
    return comm


def _good_rows(dates=("2025-12-31", "2026-01-31", "2025-12-15")):
    return [HEADER,
            ["1栋", "1单元", "101", "物业费", "2025-12", "238.70", dates[0]],
            ["1栋", "1单元", "101", "物业费", "2026-01", "238.7", dates[1]],
            ["1栋", "1单元", "102", "parking", "2025-12", "150", dates[2]]]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_opening_arrears_become_unpaid_imported_bills(hy, tmp_path, suffix):
    report = import_arrears(write_table(tmp_path / f"arrears{suffix}", _good_rows()), "HY", ACTOR)

    assert report.committed and report.created == {"bills": 3, "amount_fen": 62740}
    first = Bill.get(Bill.period == "2025-12", Bill.amount_fen == 23870)
    assert first.source == "import" and first.status == "unpaid" and first.standard_id is None
    assert (first.quantity, first.unit, first.unit_price) == (Decimal(1), "期", Decimal("238.70"))
    assert first.due_date == dt.date(2025, 12, 31)
    assert (first.period_start, first.period_end) == (dt.date(2025, 12, 1), dt.date(2025, 12, 31))
    assert first.balance_fen == 23870 and first.paid_fen == 0
    assert sum(b.amount_fen for b in Bill.select()) == 62740


def test_excel_date_cells_are_accepted_as_due_dates(hy, tmp_path):
    rows = _good_rows(dates=(dt.date(2025, 12, 31), dt.datetime(2026, 1, 31), dt.date(2025, 12, 15)))
    rows[1][4] = dt.date(2025, 12, 1)  # Excel turns a typed 2025-12 into a date
    report = import_arrears(write_table(tmp_path / "dates.xlsx", rows), "HY", ACTOR)
    assert report.committed
    assert {b.due_date for b in Bill.select()} == {dt.date(2025, 12, 31), dt.date(2026, 1, 31),
                                                   dt.date(2025, 12, 15)}


def test_reimporting_the_same_arrears_writes_nothing(hy, tmp_path):
    path = write_csv(tmp_path / "a.csv", _good_rows())
    import_arrears(path, "HY", ACTOR)
    before = table_counts()
    again = import_arrears(path, "HY", ACTOR)
    assert table_counts() == before
    assert [r.status for r in again.rows] == [RowStatus.UNCHANGED] * 3


def test_an_existing_bill_for_the_same_house_item_and_period_is_a_conflict(hy, tmp_path):
    from server.billing.models import FeeItem
    from server.property.models import House

    bill(House.get(House.room_no == "101"), FeeItem.get(FeeItem.code == "property"), "2025-12", 23870)
    before = table_counts()

    report = import_arrears(write_csv(tmp_path / "a.csv", _good_rows()), "HY", ACTOR)

    assert table_counts() == before
    assert [r.status for r in report.rows] == [RowStatus.ERROR, RowStatus.OK, RowStatus.OK]
    assert report.rows[0].messages[0].code == "BILL_EXISTS"
    assert "来源 run" in report.rows[0].messages[0].text


def test_an_imported_bill_with_another_amount_is_a_conflict(hy, tmp_path):
    import_arrears(write_csv(tmp_path / "a.csv", _good_rows()), "HY", ACTOR)
    rows = _good_rows()
    rows[3][5] = "150.01"
    report = import_arrears(write_csv(tmp_path / "b.csv", rows), "HY", ACTOR)
    assert [r.status for r in report.rows] == [RowStatus.UNCHANGED, RowStatus.UNCHANGED, RowStatus.ERROR]


def test_bad_arrears_rows_are_reported_and_nothing_is_written(hy, tmp_path):
    rows = [HEADER,
            ["1栋", "1单元", "101", "物业费", "2025-12", "-5", "2025-12-31"],     # 2 negative
            ["1栋", "1单元", "101", "物业费", "2025-12", "1.005", "2025-12-31"],  # 3 fraction of a fen
            ["9栋", "1单元", "101", "物业费", "2025-12", "10", "2025-12-31"],     # 4 no such house
            ["1栋", "1单元", "101", "水费", "2025-13", "10", "31/12/2025"],       # 5 item, period, date
            ["1栋", "1单元", "102", "停车费", "2025-12", "10", "2025-12-31"],     # 6 ok
            ["1栋", "1单元", "102", "parking", "2025-12", "10", "2025-12-31"]]    # 7 duplicate of 6
    before = table_counts()

    report = import_arrears(write_csv(tmp_path / "bad.csv", rows), "HY", ACTOR)

    assert table_counts() == before
    codes = {r.row: [m.code for m in r.messages] for r in report.rows}
    assert codes == {2: ["NEGATIVE"], 3: ["BAD_AMOUNT"], 4: ["HOUSE_NOT_FOUND"],
                     5: ["FEE_ITEM_NOT_FOUND", "BAD_PERIOD", "BAD_DATE"], 6: [],
                     7: ["DUPLICATE_IN_FILE"]}


def test_a_fee_item_of_another_community_is_not_found(hy, tmp_path):
    other = community("QT", "晴天")
    fee_item(other, "water", "水费", "metered")
    rows = [HEADER, ["1栋", "1单元", "101", "水费", "2025-12", "10", "2025-12-31"]]
    report = import_arrears(write_csv(tmp_path / "a.csv", rows), "HY", ACTOR)
    assert report.rows[0].messages[0].code == "FEE_ITEM_NOT_FOUND"
