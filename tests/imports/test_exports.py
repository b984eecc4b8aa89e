import csv
import datetime as dt

import pytest
from openpyxl import load_workbook

from server.billing.models import Bill
from server.errors import ValidationError
from server.imports import arrears_by_house, export_arrears, export_bills
from server.imports.exports import ageing_bucket
from server.money import yuan_to_fen
from tests.imports.helpers import bill, community, fee_item, house


def _parse(path):
    """Rows of an exported file as dicts by header, the way a reader of it would."""
    if path.suffix == ".csv":
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs
        return list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    workbook = load_workbook(path, read_only=True)
    rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    workbook.close()
    return [dict(zip(rows[0], ["" if v is None else v for v in row])) for row in rows[1:]]


@pytest.fixture
def hy(database):
    comm = community()
    prop = fee_item(comm, "property", "物业费", "per_area")
    park = fee_item(comm, "parking", "停车费", "fixed")
    a = house(comm, "1栋", "1单元", "101", owner_name="张三")
    b = house(comm, "1栋", "1单元", "102", owner_name="=HYPERLINK(\"x\")")
    c = house(comm, "2栋", "", "201", owner_name="王五")
    bill(a, prop, "2026-01", 23871, due_date=dt.date(2026, 1, 31))
    bill(a, prop, "2026-02", 23871, due_date=dt.date(2026, 2, 28), paid_fen=10000,
         status="partially_paid", late_fee_fen=33)
    bill(a, park, "2026-02", 15000, due_date=dt.date(2026, 3, 15))
    bill(b, prop, "2025-06", 9999, due_date=dt.date(2025, 6, 30), adjusted_fen=-999)
    bill(b, prop, "2026-01", 9999, due_date=dt.date(2026, 1, 31), paid_fen=9999, status="paid")
    bill(c, park, "2026-02", 15000, due_date=dt.date(2026, 2, 28), status="void")
    bill(c, prop, "2026-02", 5001, due_date=dt.date(2026, 2, 28), paid_fen=5001,
         status="partially_paid")  # balance 0: not in arrears
    other = community("QT", "晴天")
    bill(house(other, "1栋", "1单元", "101"), fee_item(other, "property", "物业费"), "2026-01", 777)
    return comm


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_exported_bills_add_up_to_the_fen_in_the_database(hy, tmp_path, suffix):
    path = tmp_path / f"bills{suffix}"
    summary = export_bills(path, "HY")

    rows = _parse(path)
    bills = list(Bill.select().where(Bill.community == hy))
    assert summary.rows == len(rows) == len(bills) == 7
    assert sum(yuan_to_fen(r["应收金额(元)"]) for r in rows) == sum(b.amount_fen for b in bills)
    assert sum(yuan_to_fen(r["欠费金额(元)"]) for r in rows) == sum(b.balance_fen for b in bills)
    assert sum(yuan_to_fen(r["欠费金额(元)"]) for r in rows) == summary.totals["balance_fen"]
    first = rows[0]
    assert (first["楼栋"], first["房号"], first["收费项目"], first["账期"], first["应收金额(元)"],
            first["状态"]) == ("1栋", "101", "物业费", "2026-01", "238.71", "未缴")
    assert all(isinstance(r["应收金额(元)"], str) for r in rows)
    assert rows[3]["业主"] == "'=HYPERLINK(\"x\")"  # shown as text, never evaluated


def test_bills_are_filtered_by_period_range_and_status(hy, tmp_path):
    path = tmp_path / "b.csv"
    summary = export_bills(path, "HY", period_from="2026-02", period_to="2026-02",
                           statuses=["unpaid", "partially_paid"])
    assert summary.rows == 3
    assert {(r["房号"], r["账期"]) for r in _parse(path)} == {("101", "2026-02"), ("201", "2026-02")}
    assert export_bills(tmp_path / "o.csv", "HY", statuses=["open"]).rows == 5
    with pytest.raises(ValidationError):
        export_bills(tmp_path / "x.csv", "HY", statuses=["owing"])
    with pytest.raises(ValidationError):
        export_bills(tmp_path / "x.csv", "HY", period_from="2026-13")


def test_arrears_are_grouped_per_house_and_aged_as_of_a_date(hy):
    houses = list(arrears_by_house("HY", as_of=dt.date(2026, 3, 2)))

    assert [h.room_no for h in houses] == ["101", "102"]
    a, b = houses
    assert [(line.period, line.fee_item, line.days_overdue, line.bucket) for line in a.lines] == [
        ("2026-01", "物业费", 30, "1-30天"),
        ("2026-02", "停车费", 0, "未到期"),
        ("2026-02", "物业费", 2, "1-30天"),
    ]
    assert [line.balance_fen for line in a.lines] == [23871, 15000, 13904]
    assert a.total_fen == 52775 and a.max_days_overdue == 30
    assert [(line.days_overdue, line.bucket, line.balance_fen) for line in b.lines] == [
        (245, "181-365天", 9000)]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_exported_arrears_round_trip_with_subtotals_and_a_total(hy, tmp_path, suffix):
    path = tmp_path / f"arrears{suffix}"
    summary = export_arrears(path, "HY", as_of=dt.date(2026, 3, 2))

    rows = _parse(path)
    details = [r for r in rows if r["收费项目"] not in ("小计", "合计")]
    subtotals = [r for r in rows if r["收费项目"] == "小计"]
    (total,) = [r for r in rows if r["收费项目"] == "合计"]
    open_balance = sum(b.balance_fen for b in Bill.select().where(
        Bill.community == hy, Bill.status.in_(["unpaid", "partially_paid"])))
    assert sum(yuan_to_fen(r["欠费金额(元)"]) for r in details) == open_balance == 61775
    assert sum(yuan_to_fen(r["欠费金额(元)"]) for r in subtotals) == open_balance
    assert yuan_to_fen(total["欠费金额(元)"]) == open_balance == summary.totals["balance_fen"]
    assert [(r["房号"], r["欠费金额(元)"], int(r["逾期天数"])) for r in subtotals] == [
        ("101", "527.75", 30), ("102", "90.00", 245)]
    assert total["账龄"] == "2 户"
    assert summary.totals == {"houses": 2, "bills": 4, "balance_fen": 61775}


def test_an_empty_arrears_export_still_has_its_header_and_total(database, tmp_path):
    community()
    path = tmp_path / "none.csv"
    export_arrears(path, "HY", as_of=dt.date(2026, 1, 1))
    rows = _parse(path)
    assert len(rows) == 1 and rows[0]["欠费金额(元)"] == "0.00"


@pytest.mark.parametrize("days, label", [(0, "未到期"), (1, "1-30天"), (30, "1-30天"), (31, "31-90天"),
                                         (90, "31-90天"), (91, "91-180天"), (365, "181-365天"),
                                         (366, "365天以上")])
def test_ageing_buckets(days, label):
    assert ageing_bucket(days) == label


def test_the_export_format_comes_from_the_file_name_or_the_option(hy, tmp_path):
    from server.imports.writers import ExportFormatError

    export_bills(tmp_path / "bills.dat", "HY", fmt="xlsx")
    assert (tmp_path / "bills.dat").read_bytes().startswith(b"PK")
    with pytest.raises(ExportFormatError):
        export_bills(tmp_path / "bills.pdf", "HY")
