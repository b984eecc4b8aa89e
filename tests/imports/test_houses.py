import time
from decimal import Decimal

import pytest
from playhouse.test_utils import count_queries

from server.audit import AuditLog
from server.imports import import_houses
from server.imports.report import RowStatus
from server.property.models import Building, House
from tests.imports.helpers import ACTOR, community, house, table_counts, write_csv, write_table

HEADER = ["楼栋", "单元", "房号", "面积", "业主", "电话", "状态"]
GOOD = [HEADER,
        ["1栋", "1单元", "101", "89.50", "张三", "138 0013 8000", "已入住"],
        ["1栋", "1单元", "102", "120", "李四", "", "空置"],
        ["2栋", "", "201", "75.25", "", "", ""]]


@pytest.fixture
def hy(database):
    return community()


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_houses_are_created_with_their_buildings_and_owners(hy, tmp_path, suffix):
    report = import_houses(write_table(tmp_path / f"houses{suffix}", GOOD), "HY", ACTOR)

    assert report.committed and not report.has_errors
    assert report.counts == {"ok": 3, "unchanged": 0, "error": 0, "total": 3}
    assert report.created == {"buildings": 2, "houses": 3}
    assert sorted(b.name for b in Building.select()) == ["1栋", "2栋"]
    first = House.get(House.room_no == "101")
    assert (first.unit, first.floor_area, first.owner_name, first.owner_phone, first.status) == (
        "1单元", Decimal("89.50"), "张三", "13800138000", "occupied")
    assert House.get(House.room_no == "102").status == "vacant"
    assert House.get(House.room_no == "201").unit == ""
    audit = AuditLog.get()
    assert audit.action == "import.houses" and audit.entity_id == report.sha256
    assert audit.after["counts"]["ok"] == 3 and audit.community_id == hy.id


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_reimporting_the_same_file_writes_nothing(hy, tmp_path, suffix):
    path = write_table(tmp_path / f"houses{suffix}", GOOD)
    import_houses(path, "HY", ACTOR)
    before = table_counts()

    again = import_houses(path, "HY", ACTOR)

    assert table_counts() == before
    assert [r.status for r in again.rows] == [RowStatus.UNCHANGED] * 3
    assert not again.committed and not again.has_errors


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_file_with_bad_rows_is_reported_row_by_row_and_writes_nothing(hy, tmp_path, suffix):
    rows = [HEADER,
            ["1栋", "1单元", "101", "89.50", "张三", "13800138000", ""],     # 2 ok
            ["1栋", "1单元", "102", "abc", "李四", "phone?", ""],            # 3 two errors
            ["", "1单元", "103", "90", "", "", ""],                          # 4 no building
            ["1栋", "1单元", "101", "89.50", "张三", "", ""],                # 5 duplicate of 2
            ["1栋", "1单元", "104", "90.123", "", "", "拆除"],               # 6 decimals, status
            ["1栋", "1单元", "105", "-3", "", "", ""]]                       # 7 negative
    before = table_counts()

    report = import_houses(write_table(tmp_path / f"bad{suffix}", rows), "HY", ACTOR)

    assert table_counts() == before
    assert report.has_errors and not report.committed
    by_row = {r.row: r for r in report.rows}
    assert by_row[2].status == RowStatus.OK
    assert {m.code for m in by_row[3].messages} == {"NOT_A_NUMBER", "BAD_PHONE"}
    assert [m.code for m in by_row[4].messages] == ["REQUIRED"]
    assert by_row[4].messages[0].field == "building"
    assert [m.code for m in by_row[5].messages] == ["DUPLICATE_IN_FILE"]
    assert "第 2 行" in by_row[5].messages[0].text
    assert {m.code for m in by_row[6].messages} == {"TOO_MANY_DECIMALS", "BAD_STATUS"}
    assert [m.code for m in by_row[7].messages] == ["NEGATIVE"]
    assert report.counts == {"ok": 1, "unchanged": 0, "error": 5, "total": 6}
    lines = report.lines()
    assert lines[0].startswith("第 3 行 [错误]") and "第 2 行 [新增]" in lines[-2]
    assert "未写入任何数据" in lines[-1]


def test_dry_run_validates_and_writes_nothing(hy, tmp_path):
    before = table_counts()
    report = import_houses(write_csv(tmp_path / "h.csv", GOOD), "HY", ACTOR, dry_run=True)
    assert table_counts() == before
    assert report.counts["ok"] == 3 and not report.committed
    assert "试运行" in report.summary()


def test_an_existing_house_is_unchanged_when_equal_and_an_error_when_different(hy, tmp_path):
    house(hy, "1栋", "1单元", "101", area="89.5", owner_name="张三", phone="13800138000")
    rows = [HEADER,
            ["1栋", "1单元", "101", "89.50", "张三", "", ""],   # empty cells are "not given"
            ["1栋", "1单元", "102", "70", "", "", ""]]
    report = import_houses(write_csv(tmp_path / "h.csv", rows), "HY", ACTOR)
    assert [r.status for r in report.rows] == [RowStatus.UNCHANGED, RowStatus.OK]
    assert report.committed and House.select().count() == 2

    rows[1] = ["1栋", "1单元", "101", "90", "王五", "", ""]
    before = table_counts()
    report = import_houses(write_csv(tmp_path / "h2.csv", rows), "HY", ACTOR)
    assert table_counts() == before
    message = report.rows[0].messages[0]
    assert message.code == "HOUSE_EXISTS_DIFFERENT"
    assert "面积" in message.text and "业主" in message.text


def test_houses_of_another_community_do_not_count_as_existing(hy, tmp_path):
    other = community("QT", "晴天")
    house(other, "1栋", "1单元", "101")
    report = import_houses(write_csv(tmp_path / "h.csv", GOOD), "HY", ACTOR)
    assert report.committed and House.select().count() == 4


def test_a_missing_required_column_is_a_file_error(hy, tmp_path):
    report = import_houses(write_csv(tmp_path / "h.csv", [["楼栋", "房号"], ["1栋", "101"]]), "HY", ACTOR)
    assert report.has_errors and report.rows == []
    assert report.file_errors[0].code == "MISSING_COLUMN" and "面积" in report.file_errors[0].text


def test_a_header_only_file_is_an_error(hy, tmp_path):
    report = import_houses(write_csv(tmp_path / "h.csv", [HEADER]), "HY", ACTOR)
    assert [m.code for m in report.file_errors] == ["NO_ROWS"]


def test_an_unknown_community_is_refused(database, tmp_path):
    from server.errors import NotFound

    with pytest.raises(NotFound):
        import_houses(write_csv(tmp_path / "h.csv", GOOD), "NOPE", ACTOR)


def test_five_thousand_houses_import_with_batched_queries(hy, tmp_path):
    rows = [HEADER] + [[f"{b}栋", f"{u}单元", f"{f:02d}{r:02d}", "88.88", f"业主{b}{u}{f}{r}",
                        f"139{b:02d}{u}{f:02d}{r:03d}", ""]
                       for b in range(1, 26) for u in range(1, 3) for f in range(1, 26) for r in range(1, 5)]
    assert len(rows) == 5001
    path = write_csv(tmp_path / "many.csv", rows)

    started = time.monotonic()
    with count_queries() as counter:
        report = import_houses(path, "HY", ACTOR)
    elapsed = time.monotonic() - started

    assert report.committed and report.created == {"buildings": 25, "houses": 5000}
    assert House.select().count() == 5000
    assert counter.count < 60, f"{counter.count} queries for 5,000 rows"
    assert elapsed < 30

    with count_queries() as counter:
        again = import_houses(path, "HY", ACTOR)
    assert again.counts["unchanged"] == 5000 and counter.count < 10


def test_a_house_created_meanwhile_rolls_the_import_back(hy, tmp_path, monkeypatch):
    from server.imports import houses as houses_module

    house(hy, "1栋", "1单元", "102", area="120")
    # Validation does not see it (as if another import created it a moment later):
    # the unique constraint decides, and nothing of this import stays.
    monkeypatch.setattr(houses_module, "house_index", lambda community: {})
    before = table_counts()

    report = import_houses(write_csv(tmp_path / "h.csv", GOOD), "HY", ACTOR)

    assert table_counts() == before and not report.committed
    assert [m.code for m in report.file_errors] == ["CONCURRENT_CHANGE"]
