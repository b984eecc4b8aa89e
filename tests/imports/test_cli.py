import datetime as dt

import click
import pytest
from click.testing import CliRunner

from server import db as dbmod
from server.imports import cli as imports_cli
from server.property.models import House
from tests.imports.helpers import bill, community, fee_item, house, table_counts, write_csv


@pytest.fixture
def run(database, tmp_path, monkeypatch):
    """Invoke ``wuyepay import|export …`` against the test database."""
    monkeypatch.setenv("DATABASE_URL", database.test_url)
    monkeypatch.setenv("WUYEPAY_INSTANCE_PATH", str(tmp_path / "instance"))
    group = click.Group("wuyepay")
    imports_cli.register(group)

    def invoke(*args):
        try:
            return CliRunner().invoke(group, [str(a) for a in args], catch_exceptions=False)
        finally:
            dbmod.database.initialize(database)  # the command bound its own connection

    return invoke


HEADER = ["楼栋", "单元", "房号", "面积"]


def test_import_houses_prints_the_report_and_commits(run, tmp_path):
    community()
    path = write_csv(tmp_path / "h.csv", [HEADER, ["1栋", "1单元", "101", "89.5"]])
    result = run("import", "houses", path, "--community", "HY")
    assert result.exit_code == 0, result.output
    assert "第 2 行 [新增] 1栋-1单元-101" in result.output
    assert House.select().count() == 1


def test_import_with_errors_prints_errors_first_and_exits_1(run, tmp_path):
    community()
    path = write_csv(tmp_path / "h.csv", [HEADER, ["1栋", "1单元", "101", "89.5"],
                                          ["1栋", "1单元", "102", "big"]])
    before = table_counts()
    result = run("import", "houses", path, "--community", "HY")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("第 3 行 [错误]") and "NOT_A_NUMBER" in lines[0]
    assert table_counts() == before


def test_import_dry_run_writes_nothing(run, tmp_path):
    community()
    path = write_csv(tmp_path / "h.csv", [HEADER, ["1栋", "1单元", "101", "89.5"]])
    result = run("import", "houses", path, "--community", "HY", "--dry-run")
    assert result.exit_code == 0 and "试运行" in result.output
    assert House.select().count() == 0


def test_an_unknown_community_is_an_error(run, tmp_path):
    path = write_csv(tmp_path / "h.csv", [HEADER, ["1栋", "1单元", "101", "89.5"]])
    result = run("import", "arrears", path, "--community", "NOPE")
    assert result.exit_code == 1 and "小区不存在" in result.output


def test_export_bills_and_arrears(run, tmp_path):
    comm = community()
    item = fee_item(comm, "property", "物业费")
    bill(house(comm), item, "2026-01", 12345, due_date=dt.date(2026, 1, 31))
    out = tmp_path / "bills.xlsx"
    result = run("export", "bills", "--community", "HY", "--period-from", "2026-01",
                 "--status", "unpaid", "-o", out)
    assert result.exit_code == 0, result.output
    assert "1 张账单，应收 123.45 元" in result.output and out.exists()

    out = tmp_path / "arrears.csv"
    result = run("export", "arrears", "--community", "HY", "--as-of", "2026-03-01",
                 "--format", "csv", "-o", out)
    assert result.exit_code == 0, result.output
    assert "1 户 1 张账单欠费 123.45 元" in result.output
    assert "29,1-30天,123.45" in out.read_text(encoding="utf-8-sig")
