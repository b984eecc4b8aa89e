import datetime as dt

import pytest
from openpyxl import Workbook

from server.imports.readers import ReadError, read_table
from tests.imports.helpers import write_csv, write_xlsx

ROWS = [["楼栋", "单元", "房号", "面积（平方米）", "业主", "电话"],
        ["1栋", "1单元", "101", "89.50", "张三", "13800138000"],
        ["1栋", "1单元", "102", "120", "李四", ""]]


def _read(path):
    with read_table(path) as table:
        return table, list(table.rows())


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"])
def test_csv_is_read_in_every_encoding_excel_writes(tmp_path, encoding):
    table, rows = _read(write_csv(tmp_path / "houses.csv", ROWS, encoding=encoding))
    assert table.fields == {"building", "unit", "room", "area", "owner_name", "phone"}
    assert rows[0] == (2, {"building": "1栋", "unit": "1单元", "room": "101", "area": "89.50",
                           "owner_name": "张三", "phone": "13800138000"})
    assert rows[1][1]["owner_name"] == "李四"


def test_tab_separated_unicode_text_is_read(tmp_path):
    path = tmp_path / "houses.txt"
    path.write_bytes("\n".join("\t".join(r) for r in ROWS).encode("utf-16"))
    _, rows = _read(path)
    assert [n for n, _ in rows] == [2, 3]


def test_english_headers_and_markers_are_recognised(tmp_path):
    rows = [["Building*", "Room_No", " AREA ", "Owner", "mobile", "备注"], ["A", "1", "2", "x", "1", "y"]]
    table, _ = _read(write_csv(tmp_path / "en.csv", rows))
    assert table.fields == {"building", "room", "area", "owner_name", "phone"}
    assert table.unknown == ["备注"]


def test_duplicate_columns_are_noticed(tmp_path):
    table, _ = _read(write_csv(tmp_path / "dup.csv", [["房号", "room"], ["1", "2"]]))
    assert table.duplicates == ["room"]


def test_blank_rows_are_skipped_and_row_numbers_kept(tmp_path):
    rows = [ROWS[0], ROWS[1], ["", "", "", "", "", ""], ROWS[2]]
    _, csv_rows = _read(write_csv(tmp_path / "gap.csv", rows))
    _, xlsx_rows = _read(write_xlsx(tmp_path / "gap.xlsx", rows))
    assert [n for n, _ in csv_rows] == [n for n, _ in xlsx_rows] == [2, 4]


def test_xlsx_cells_keep_dates_and_turn_numbers_into_exact_text(tmp_path):
    rows = [["房号", "面积", "到期日", "抄表日期", "账期"],
            [101, 89.55, dt.date(2026, 1, 31), dt.datetime(2026, 2, 1, 9, 30), dt.date(2026, 3, 1)]]
    _, parsed = _read(write_xlsx(tmp_path / "cells.xlsx", rows))
    values = parsed[0][1]
    assert values["room"] == 101
    assert values["area"] == "89.55"
    assert values["due_date"] == dt.date(2026, 1, 31)
    assert values["read_on"] == dt.datetime(2026, 2, 1, 9, 30)
    assert values["period"] == dt.date(2026, 3, 1)


def test_xlsx_with_a_stale_dimension_is_read_to_the_end(tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["房号"])
    for i in range(5):
        sheet.append([str(i)])
    path = tmp_path / "stale.xlsx"
    workbook.save(path)
    _, rows = _read(path)
    assert len(rows) == 5


def test_old_xls_and_garbage_are_refused(tmp_path):
    with pytest.raises(ReadError):
        read_table(b"\xd0\xcf\x11\xe0", filename="old.xls")
    with pytest.raises(ReadError):
        read_table(b"PK\x03\x04 not really a zip", filename="bad.xlsx")
    with pytest.raises(ReadError):
        read_table(b"", filename="empty.csv")


def test_the_file_hash_is_of_its_bytes(tmp_path):
    import hashlib

    path = write_csv(tmp_path / "h.csv", ROWS)
    with read_table(path) as table:
        assert table.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_title_row_above_the_header_is_skipped_and_numbers_kept(tmp_path, suffix):
    rows = [["和园小区房屋清单（2026年1月）"], [], ROWS[0], ROWS[1]]
    path = tmp_path / f"titled{suffix}"
    (write_xlsx if suffix == ".xlsx" else write_csv)(path, rows)
    table, parsed = _read(path)
    assert "area" in table.fields
    assert [n for n, _ in parsed] == [4]
