"""The system pages in a real browser: the audit log after a money action, and a task's
progress page refreshing itself until the task is done."""
from __future__ import annotations

from server import db as dbmod
from server.audit import Actor
from server.billing.adjustments import request_adjustment
from server.staff.models import StaffRole
from server.tasks.models import AdminTask, TaskStatus
from tests import factories as f
from tests.admin.conftest import make_staff


def test_the_audit_log_shows_the_before_and_after_of_an_adjustment(staff_browser):
    estate = f.estate(1, water=False, parking=False)
    bill = f.bill(estate.houses[0], estate.items["WYF"], amount_fen=25000)
    manager = make_staff("manager", StaffRole.MANAGER, [estate.community])
    request_adjustment(bill.id, "discount", -1250, "楼道维修减免", Actor.staff(manager),
                       approval_threshold_fen=100_000)
    dbmod.database.close()  # the server thread opens its own connection
    b = staff_browser
    b.login("manager")
    b.goto("/admin/audit")
    page = b.page
    page.fill("input[name=action]", "adjustment.")
    page.select_option("select[name=entity]", "bill")
    page.click("form.filters button[type=submit]")
    row = page.locator("#audit tbody tr", has_text="adjustment.discount")
    row.wait_for()
    changed = row.locator("tr.changed[data-changed=adjusted_fen]")
    assert changed.locator("td.old").inner_text() == "0.00 元"
    assert changed.locator("td.new").inner_text() == "-12.50 元"
    assert row.locator("tr.same td.key[data-key=status]").count() == 1
    assert row.locator(f'a[href="/admin/bills/{bill.id}"]').count() == 1
    b.screenshot("admin-audit")


def test_a_task_page_shows_progress_and_refreshes_itself_until_done(staff_browser):
    comm = f.community("阳光小区", "A")
    make_staff("manager", StaffRole.MANAGER, [comm])
    task = AdminTask.create(kind="billing_issue", label="2026-10 开账", community_id=comm.id,
                            created_by="manager", status=TaskStatus.RUNNING, total=400, done=120,
                            params={"period": "2026-10"})
    dbmod.database.close()
    b = staff_browser
    b.login("manager")
    b.goto(f"/admin/tasks/{task.id}")
    page = b.page
    page.wait_for_selector("text=计费开账")
    assert page.inner_text(".task-status").split() == ["进行中", "120/400"]
    assert page.locator(".progressbar span").get_attribute("style") == "width: 30%"
    b.screenshot("admin-task")
    AdminTask.update(status=TaskStatus.DONE, done=400, result={"bills_created": 400}).where(
        AdminTask.id == task.id).execute()
    dbmod.database.close()
    page.wait_for_selector("#result >> text=bills_created", timeout=10_000)  # the page reloaded itself
    assert page.inner_text(".task-status").split()[0] == "已完成"
    b.goto("/admin/tasks")
    assert page.locator(f"#tasks tr[data-task='{task.id}']", has_text="计费开账").count() == 1
