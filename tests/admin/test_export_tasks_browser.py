"""A large bill export in a real browser: it becomes a task whose page shows the
progress and, when done, the file to download."""
from __future__ import annotations

import pathlib
import re

from server import db as dbmod
from tests import factories as f
from tests.admin.conftest import make_staff


def test_a_large_bills_export_shows_the_task_page_with_progress_and_a_download(staff_browser, live_app):
    a = f.estate(4, water=False)
    for period in ("2026-01", "2026-02", "2026-03"):
        for h in a.houses:
            f.bill(h, a.items["WYF"], period=period, amount_fen=25000)
    make_staff("manager", "manager", [a.community])
    live_app.config["EXPORT_INLINE_ROWS"] = 5
    dbmod.database.close()  # the server thread opens its own connection
    b = staff_browser
    page = b.page
    b.login("manager")

    b.goto("/admin/bills")
    page.click("#bill-list >> xpath=preceding-sibling::h2 >> a:text('CSV')")
    page.wait_for_url(re.compile(r".*/admin/tasks/\d+$"))
    assert "已转为后台任务导出" in page.inner_text("main")
    assert page.inner_text(".task-status").split() == ["已完成", "12/12"]
    assert "12" in page.inner_text("#result")
    with page.expect_download() as info:
        page.click("a.download")
    lines = pathlib.Path(info.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("账单号,小区,楼栋") and len(lines) == 13
    assert sum(line.count("250.00") for line in lines[1:]) >= 12
    b.screenshot("admin-export-task")
