"""``wuyepay billing preview|issue`` print counts, totals and problems."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from server import db as dbmod
from server.billing.cli import billing
from server.billing.models import Bill
from tests import factories as f


@pytest.fixture
def invoke(database, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", database.test_url)
    monkeypatch.setenv("WUYEPAY_INSTANCE_PATH", str(tmp_path))

    def run(*args):
        try:
            return CliRunner().invoke(billing, list(args))
        finally:  # the command binds its own database; give the proxy back to the fixture
            dbmod.database.obj.close()
            dbmod.database.initialize(database)

    return run


def test_preview_prints_totals_and_problems_and_bills_nothing(invoke):
    estate = f.estate(2)
    f.staff("zhang")
    result = invoke("preview", "--community", estate.community.code, "--period", "2026-03",
                    "--staff", "zhang")
    assert result.exit_code == 0, result.output
    assert "houses 2" in result.output
    assert "物业费" in result.output and "500.00" in result.output  # 2 × 100 m² × 2.50
    assert "missing_reading 2" in result.output
    assert Bill.select().count() == 0


def test_issue_by_community_id_prints_counts_and_is_safe_to_repeat(invoke):
    estate = f.estate(2, water=False)
    first = invoke("issue", "--community", str(estate.community.id), "--period", "2026-03")
    assert first.exit_code == 0, first.output
    assert "created 4" in first.output and "合计" in first.output
    again = invoke("issue", "--community", estate.community.code, "--period", "2026-03")
    assert "created 0  already existed 4" in again.output
    assert Bill.select().count() == 4


def test_unknown_community_or_period_is_an_error(invoke):
    assert invoke("issue", "--community", "NOPE").exit_code == 1
    comm = f.community()
    result = invoke("preview", "--community", comm.code, "--period", "2026-3")
    assert result.exit_code == 1 and "2026-11" in result.output
