"""Houses, binding codes and binding approval in a real browser (Debian's Chromium)."""
from __future__ import annotations

import re

from server import db as dbmod
from server.owners import bindings
from server.owners.models import BindingCode
from server.property.models import Binding, BindingStatus, House, Owner
from tests import factories as f
from tests.admin.conftest import make_staff


def test_a_manager_finds_a_house_prints_a_binding_code_and_approves_a_request(staff_browser):
    a = f.community("阳光小区", "A")
    bldg = f.building(a, "1栋")
    for room in ("101", "102", "201"):
        f.house(a, bldg, room_no=room)
    House.update(owner_name="张三", owner_phone="13800001111").where(House.room_no == "102").execute()
    house = House.get(House.room_no == "102")
    owner = Owner.create(openid="o-browser", nickname="李四", phone="13700003333")
    request = bindings.request_binding(owner.id, house.id, "tenant")
    make_staff("manager", "manager", [a])
    dbmod.database.close()  # the server thread opens its own connection
    b = staff_browser
    page = b.page
    b.login("manager")

    b.goto("/admin/houses")
    page.fill("input[name=owner]", "张")
    page.click("#house-search button[type=submit]")
    page.wait_for_url(re.compile(r".*owner=.*"))
    rows = page.locator("#houses tbody tr")
    assert rows.count() == 1 and "1栋-102" in rows.first.inner_text()
    b.screenshot("admin-houses")

    rows.first.locator("text=详情").click()
    page.wait_for_selector("#issue-code")
    page.select_option("#issue-code select[name=role]", "owner")
    page.click("#issue-code button[type=submit]")
    page.wait_for_selector("#binding-code")
    code = page.inner_text("#binding-code")
    assert re.fullmatch(r"[A-Z2-9]{5} [A-Z2-9]{5}", code)
    assert "有效期至" in page.inner_text("main")
    b.screenshot("admin-binding-code")
    dbmod.database.connect(reuse_if_open=True)
    issued = BindingCode.get(BindingCode.house == house.id)
    dbmod.database.close()
    b.goto(f"/admin/houses/{house.id}/binding-codes/{issued.id}/print")
    assert page.locator("#binding-code").count() == 0  # shown once: only the hash is kept

    b.goto("/admin/bindings")
    page.fill("#pending input[name=note]", "核对过租赁合同")
    page.click("#pending button:has-text('通过')")
    page.wait_for_selector("text=已通过绑定申请")
    assert "李四" in page.inner_text("#decided")

    dbmod.database.connect(reuse_if_open=True)
    assert Binding.get_by_id(request.id).status == BindingStatus.ACTIVE
    row = BindingCode.get(BindingCode.house == house.id)
    assert row.code_hash == bindings.hash_code(code)


def test_a_manager_publishes_a_new_fee_standard_version(staff_browser):
    import datetime as dt

    from server.billing.models import FeeStandard, Method, StandardStatus

    a = f.community("阳光小区", "A")
    item = f.fee_item(a, "WYF", "物业费")
    f.standard(item, Method.PER_AREA, "2.5000", effective_from=dt.date(2020, 1, 1))
    make_staff("manager", "manager", [a])
    dbmod.database.close()
    b = staff_browser
    page = b.page
    b.login("manager")
    b.goto("/admin/fee-items")
    page.click("#fee-items >> text=版本与标准")
    page.fill("#new-standard input[name=unit_price]", "2.8000")
    page.fill("#new-standard input[name=effective_from]", "2099-01-01")
    page.click("#new-standard button[type=submit]")
    page.wait_for_selector("text=已创建草稿版本 v2")
    page.click("#versions button:has-text('发布')")
    page.wait_for_selector("text=已发布 v2")
    assert "2.8000" in page.inner_text("#upcoming-standard")
    assert "2.5000" in page.inner_text("#current-standard")
    b.screenshot("admin-fee-standards")
    dbmod.database.connect(reuse_if_open=True)
    assert FeeStandard.get(FeeStandard.version == 2).status == StandardStatus.PUBLISHED
