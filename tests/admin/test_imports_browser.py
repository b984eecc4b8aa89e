"""An import with a bad row, in a real browser: refused whole, fixed, imported."""
from __future__ import annotations

from server import db as dbmod
from server.property.models import House
from tests import factories as f
from tests.admin.conftest import make_staff

HEADER = "楼栋,单元,房号,面积,业主,电话\n"
GOOD_ROWS = "8栋,1,801,88.00,王五,13600001234\n8栋,1,802,90.50,,\n"


def test_an_import_with_a_bad_row_is_refused_then_the_fixed_file_is_imported(staff_browser, tmp_path):
    a = f.community("阳光小区", "A")
    make_staff("cashier", "cashier", [a])
    bad = tmp_path / "houses-bad.csv"
    bad.write_text(HEADER + GOOD_ROWS + "8栋,1,803,九十,,\n", encoding="utf-8-sig")
    fixed = tmp_path / "houses.csv"
    fixed.write_text(HEADER + GOOD_ROWS + "8栋,1,803,95.00,,\n", encoding="utf-8-sig")
    dbmod.database.close()  # the server thread opens its own connection
    b = staff_browser
    page = b.page
    b.login("cashier")

    b.goto("/admin/imports")
    page.select_option("#upload select[name=kind]", "houses")
    page.set_input_files("#upload input[name=file]", str(bad))
    page.click("#upload button[type=submit]")
    page.wait_for_selector("#import-report")
    report = page.inner_text("#import-rows")
    assert "第 4 行" in report and "面积" in report
    assert "没有写入任何数据" in page.inner_text("#import-report")
    assert page.locator("#confirm-import").count() == 0
    b.screenshot("admin-import-bad-row")
    dbmod.database.connect(reuse_if_open=True)
    assert House.select().count() == 0
    dbmod.database.close()

    b.goto("/admin/imports")
    page.set_input_files("#upload input[name=file]", str(fixed))
    page.click("#upload button[type=submit]")
    page.wait_for_selector("#confirm-import")
    assert "新增 3" in page.inner_text("#import-summary")
    page.click("#confirm-import button[type=submit]")
    page.wait_for_selector("text=导入完成")
    dbmod.database.connect(reuse_if_open=True)
    assert sorted(h.room_no for h in House.select()) == ["801", "802", "803"]
