"""Property pages: communities, houses, bindings and codes, fee standards, imports."""
from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from playhouse.test_utils import count_queries

from server.audit import AuditLog
from server.billing.models import FeeItem, FeeStandard, Method, StandardStatus
from server.owners import bindings
from server.owners.models import BindingCode
from server.property.models import Binding, BindingStatus, Building, Community, House, Owner
from tests import factories as f
from server.admin.auth import hash_password
from server.staff.models import StaffCommunity, StaffUser
from tests.admin.conftest import PASSWORD, csrf_token, login

_HASH = hash_password(PASSWORD)  # argon2 is slow on purpose: hash once for the module


def make_staff(username, role="admin", communities=()):
    user = StaffUser.create(username=username, role=role, password_hash=_HASH)
    for community in communities:
        StaffCommunity.create(staff=user, community=community)
    return user


@pytest.fixture
def two(admin_app):
    """Communities A and B, a house in each, and staff of every role (A only but admin)."""
    a, b = f.community("阳光小区", "A"), f.community("翠湖苑", "B")
    ha = f.house(a, f.building(a, "1栋"), room_no="101", area="89.50")
    House.update(owner_name="张三", owner_phone="13800001111").where(House.id == ha.id).execute()
    hb = f.house(b, f.building(b, "9栋"), room_no="901")
    make_staff("boss")
    make_staff("manager", "manager", [a])
    make_staff("cashier", "cashier", [a])
    make_staff("viewer", "viewer", [a])
    return type("Two", (), {"a": a, "b": b, "ha": f.reload(ha), "hb": hb})


def post(client, url, data=None, **kw):
    token = csrf_token(client, "/admin/communities")
    return client.post(url, data={"csrf_token": token, **(data or {})}, **kw)


def as_user(client, name):
    login(client, name)
    return client


def text(response) -> str:
    return response.get_data(as_text=True)


def audits(action):
    return list(AuditLog.select().where(AuditLog.action == action).order_by(AuditLog.id))


# ---------------------------------------------------------------- communities
def test_communities_list_counts_buildings_and_houses_of_permitted_communities_only(client, two):
    page = text(as_user(client, "cashier").get("/admin/communities"))
    assert "阳光小区" in page and "翠湖苑" not in page
    assert re.search(r'<td class="n">1</td><td class="n">1</td>', page)
    csv = text(client.get("/admin/communities?export=csv"))
    assert csv.startswith("\ufeff编码,名称,地址,楼栋数,房屋数") and "翠湖苑" not in csv


def test_only_an_admin_creates_a_community(client, two):
    as_user(client, "manager")
    assert post(client, "/admin/communities", {"name": "新园", "code": "N"}).status_code == 403
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    as_user(client, "boss")
    response = post(client, "/admin/communities", {"name": "新园", "code": "N", "address": "一路1号"},
                    follow_redirects=True)
    assert "已创建小区：新园" in text(response)
    assert Community.get(Community.code == "N").address == "一路1号"
    refused = post(client, "/admin/communities", {"name": "新园", "code": "N2"}, follow_redirects=True)
    assert "小区名称或编码已存在" in text(refused)
    assert Community.select().where(Community.name == "新园").count() == 1


def test_a_manager_renames_a_community_and_adds_buildings_audited(client, two):
    as_user(client, "manager")
    post(client, f"/admin/communities/{two.a.id}/edit", {"name": "阳光花园", "address": "二路"})
    assert f.reload(two.a).name == "阳光花园"
    [entry] = audits("community.update")
    assert entry.before["name"] == "阳光小区" and entry.after["name"] == "阳光花园"
    post(client, f"/admin/communities/{two.a.id}/buildings", {"name": "2栋"})
    again = post(client, f"/admin/communities/{two.a.id}/buildings", {"name": "2栋"},
                 follow_redirects=True)
    assert "本小区已有楼栋“2栋”" in text(again)
    assert Building.select().where(Building.community == two.a.id).count() == 2


# ---------------------------------------------------------------- houses
def test_house_search_matches_partial_room_owner_name_and_phone(client, two):
    f.house(two.a, room_no="202")
    as_user(client, "cashier")
    for query in ("room=10", "owner=张", "owner=0000111"):
        page = text(client.get(f"/admin/houses?{query}"))
        assert "1栋-101" in page and "-202" not in page, query
    assert "9栋-901" not in text(client.get("/admin/houses"))


def test_the_house_list_exports_and_does_not_query_per_row(client, two):
    as_user(client, "boss")
    client.get("/admin/houses")
    with count_queries() as few:
        client.get("/admin/houses")
    for n in range(20):
        f.house(two.a, room_no=f"3{n:02d}")
    with count_queries() as many:
        client.get("/admin/houses")
    assert many.count == few.count
    book = load_workbook(io.BytesIO(client.get("/admin/houses?export=xlsx").data))
    rows = list(book.active.values)
    assert rows[0][:5] == ("小区", "楼栋", "单元", "房号", "面积(m²)") and len(rows) == 23


def test_a_large_house_export_runs_as_a_task_only_its_starter_downloads(client, two, monkeypatch):
    from jobs import backends
    from server.admin.pages import property_export

    monkeypatch.setattr(property_export, "EXPORT_INLINE_ROWS", 0)
    monkeypatch.setattr(property_export, "CHUNK", 1)
    f.house(two.a, room_no="102")
    backends.use_backend(backends.InlineBackend())
    try:
        as_user(client, "cashier")
        started = client.get("/admin/houses?export=csv")
    finally:
        backends.use_backend(None)
    assert "/admin/houses/exports/" in started.location
    assert "下载文件" in text(client.get(started.location))
    with client.get(started.location + "/download") as download:
        csv = text(download)
    assert csv.count("阳光小区") == 2 and "张三,13800001111,0,0" in csv and "翠湖苑" not in csv
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    as_user(client, "manager")
    assert client.get(started.location + "/download").status_code == 404


def test_editing_area_and_phone_is_audited_with_before_and_after(client, two):
    as_user(client, "manager")
    response = post(client, f"/admin/houses/{two.ha.id}/edit",
                    {"floor_area": "92.25", "owner_phone": "13900002222", "owner_name": "张三",
                     "status": "occupied"}, follow_redirects=True)
    assert "面积变更只影响今后生成的按面积计费账单" in text(response)
    house = f.reload(two.ha)
    assert (house.floor_area, house.owner_phone) == (Decimal("92.25"), "13900002222")
    [entry] = audits("house.update")
    assert entry.before["floor_area"] == "89.50" and entry.after["floor_area"] == "92.25"
    assert entry.before["owner_phone"] == "13800001111" and entry.community_id == two.a.id


def test_an_invalid_area_is_refused_and_nothing_changes(client, two):
    as_user(client, "manager")
    response = post(client, f"/admin/houses/{two.ha.id}/edit",
                    {"floor_area": "92.255", "owner_phone": "", "owner_name": "", "status": "occupied"},
                    follow_redirects=True)
    assert "面积应大于 0，最多两位小数" in text(response)
    assert f.reload(two.ha).floor_area == Decimal("89.50") and not audits("house.update")


def test_a_binding_code_is_shown_once_and_binds_the_house(client, two):
    as_user(client, "cashier")
    response = post(client, f"/admin/houses/{two.ha.id}/binding-codes", {"role": "tenant"})
    # Shown in the POST's own response, never cached, never put in the session cookie.
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    page = text(response)
    code = re.search(r'id="binding-code">([A-Z0-9 ]+)<', page).group(1)
    assert "不再显示" in page
    row = BindingCode.get()
    reprint = text(client.get(f"/admin/houses/{two.ha.id}/binding-codes/{row.id}/print"))
    assert "id=\"binding-code\"" not in reprint and "只在签发后显示一次" in reprint  # only once
    assert row.code_hash == bindings.hash_code(code) and code.replace(" ", "") not in row.code_hash
    owner = Owner.create(openid="o-1")
    binding = bindings.bind_by_code(owner.id, code.lower())
    assert (binding.house_id, binding.role) == (two.ha.id, "tenant")


def test_revoking_a_code_then_revoking_it_again_is_refused(client, two):
    code, row = bindings.issue_binding_code(two.ha.id, "owner", f.staff_actor())
    as_user(client, "cashier")
    url = f"/admin/houses/{two.ha.id}/binding-codes/{row.id}/revoke"
    assert "已作废绑定码" in text(post(client, url, follow_redirects=True))
    assert "绑定码已作废" in text(post(client, url, follow_redirects=True))
    assert re.search(r'<td>[^<]*staff\d+</td>.*?已作废', text(client.get(f"/admin/houses/{two.ha.id}")), re.S)
    [entry] = audits("binding_code.revoke")
    assert entry.community_id == two.a.id and entry.before == {"revoked_at": None}


def test_staff_unbind_revokes_the_binding_with_audit(client, two):
    owner = Owner.create(openid="o-2", nickname="小王")
    binding = Binding.create(owner=owner, house=two.ha, verified_by="phone")
    as_user(client, "cashier")
    assert "小王" in text(client.get(f"/admin/houses/{two.ha.id}"))
    post(client, f"/admin/houses/{two.ha.id}/bindings/{binding.id}/unbind", {"note": "已搬走"})
    assert f.reload(binding).status == BindingStatus.REVOKED
    [entry] = audits("binding.revoke")
    assert (entry.before["status"], entry.after["status"], entry.note) == ("active", "revoked", "已搬走")


# ---------------------------------------------------------------- bindings
def test_a_manager_approves_a_request_and_a_second_decision_is_refused(client, two):
    owner = Owner.create(openid="o-3", nickname="李四", phone="13700003333")
    request = bindings.request_binding(owner.id, two.ha.id, "family")
    as_user(client, "manager")
    assert "李四" in text(client.get("/admin/bindings"))
    post(client, f"/admin/bindings/{request.id}/approve", {"note": "核对过房产证"})
    assert f.reload(request).status == BindingStatus.ACTIVE
    [entry] = audits("binding.approve")
    assert entry.note == "核对过房产证" and entry.before["status"] == "pending"
    again = post(client, f"/admin/bindings/{request.id}/reject", follow_redirects=True)
    assert "该申请已处理过，不能重复审核" in text(again)
    assert f.reload(request).status == BindingStatus.ACTIVE
    assert "13700003333" in text(client.get("/admin/bindings?export=csv"))


# ---------------------------------------------------------------- fee standards
def _item(comm):
    item = f.fee_item(comm, "WYF", "物业费")
    f.standard(item, Method.PER_AREA, "2.5000", effective_from=dt.date(2020, 1, 1))
    f.standard(item, Method.PER_AREA, "2.8000", effective_from=dt.date(2099, 1, 1))
    return item


def test_fee_items_show_the_current_and_the_upcoming_standard(client, two):
    item = _item(two.a)
    as_user(client, "viewer")
    page = text(client.get("/admin/fee-items"))
    assert "v1 · 按面积（每m²每月） · 2.5000" in page and "v2 · 2.8000" in page
    detail = text(client.get(f"/admin/fee-items/{item.id}"))
    assert re.search(r'id="current-standard">.*?2\.5000', detail, re.S)
    assert re.search(r'id="upcoming-standard">.*?2\.8000', detail, re.S)
    csv = text(client.get("/admin/fee-items?export=csv"))
    assert "阳光小区,WYF,物业费,2,已发布,按面积（每m²每月）,2.8000" in csv


STANDARD = {"method": "fixed", "unit_price": "150", "cycle": "monthly", "due_day": "10",
            "effective_from": "2100-01-01"}


def test_draft_is_created_edited_and_published_by_a_manager_with_audit(client, two):
    item = _item(two.a)
    as_user(client, "manager")
    post(client, f"/admin/fee-items/{item.id}/standards", STANDARD)
    draft = FeeStandard.get(FeeStandard.version == 3)
    assert (draft.status, draft.unit_price) == (StandardStatus.DRAFT, Decimal("150"))
    post(client, f"/admin/fee-standards/{draft.id}/edit", {**STANDARD, "unit_price": "160.5"})
    assert f.reload(draft).unit_price == Decimal("160.5000")
    response = post(client, f"/admin/fee-standards/{draft.id}/publish", follow_redirects=True)
    assert "已发布 v3" in text(response)
    assert f.reload(draft).status == StandardStatus.PUBLISHED
    [entry] = audits("fee_standard.publish")
    assert (entry.before["status"], entry.after["status"]) == ("draft", "published")
    edit = post(client, f"/admin/fee-standards/{draft.id}/edit", STANDARD, follow_redirects=True)
    assert "已发布的收费标准不能修改，请新建一个版本" in text(edit)
    assert f.reload(draft).unit_price == Decimal("160.5000")


def test_bad_standard_values_are_refused_in_chinese(client, two):
    item = _item(two.a)
    as_user(client, "cashier")
    page = text(post(client, f"/admin/fee-items/{item.id}/standards",
                     {**STANDARD, "unit_price": "1.23456"}, follow_redirects=True))
    assert "单价：最多 4 位小数" in page
    post(client, f"/admin/fee-items/{item.id}/standards", {**STANDARD, "effective_from": "2098-01-01"})
    draft = FeeStandard.get(FeeStandard.status == StandardStatus.DRAFT)
    assert post(client, f"/admin/fee-standards/{draft.id}/publish").status_code == 403
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    as_user(client, "manager")
    late = post(client, f"/admin/fee-standards/{draft.id}/publish", follow_redirects=True)
    assert "新版本的生效日期须晚于当前已发布版本的生效日期 2099-01-01" in text(late)
    assert f.reload(draft).status == StandardStatus.DRAFT


def test_a_fee_item_is_created_and_a_duplicate_code_refused(client, two):
    as_user(client, "cashier")
    post(client, "/admin/fee-items", {"community": two.a.id, "code": "SF", "name": "水费"})
    again = post(client, "/admin/fee-items", {"community": two.a.id, "code": "SF", "name": "水"},
                 follow_redirects=True)
    assert "本小区已有编码为“SF”的收费项目" in text(again)
    assert FeeItem.select().where(FeeItem.code == "SF").count() == 1


# ---------------------------------------------------------------- scope, roles, CSRF
def test_a_cashier_of_a_gets_404_on_everything_of_b(client, two):
    item = _item(two.b)
    owner = Owner.create(openid="o-b")
    request = bindings.request_binding(owner.id, two.hb.id, "owner")
    code, row = bindings.issue_binding_code(two.hb.id, "owner", f.staff_actor())
    draft = f.standard(item, Method.FIXED, "1", status=StandardStatus.DRAFT,
                       effective_from=dt.date(2101, 1, 1))
    as_user(client, "cashier")
    for url in (f"/admin/communities/{two.b.id}", f"/admin/houses/{two.hb.id}",
                f"/admin/houses/{two.hb.id}/binding-codes/{row.id}/print",
                f"/admin/fee-items/{item.id}", f"/admin/fee-standards/{draft.id}/edit",
                f"/admin/houses?community={two.b.id}"):
        assert client.get(url).status_code == 404, url
    for url, data in ((f"/admin/houses/{two.hb.id}/binding-codes", {"role": "owner"}),
                      (f"/admin/houses/{two.hb.id}/binding-codes/{row.id}/revoke", {}),
                      (f"/admin/fee-items/{item.id}/standards", STANDARD),
                      (f"/admin/fee-standards/{draft.id}/edit", STANDARD),
                      ("/admin/fee-items", {"community": two.b.id, "code": "X", "name": "X"}),
                      ("/admin/imports", {"kind": "houses", "community": two.b.id})):
        assert post(client, url, data).status_code == 404, url
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    as_user(client, "manager")
    assert post(client, f"/admin/bindings/{request.id}/approve").status_code == 404
    assert post(client, f"/admin/houses/{two.hb.id}/edit", {"floor_area": "1"}).status_code == 404
    assert f.reload(request).status == BindingStatus.PENDING and BindingCode.select().count() == 1


def test_a_viewer_gets_403_on_every_post(client, two):
    item = _item(two.a)
    as_user(client, "viewer")
    for url in ("/admin/communities", f"/admin/communities/{two.a.id}/edit",
                f"/admin/communities/{two.a.id}/buildings", f"/admin/houses/{two.ha.id}/edit",
                f"/admin/houses/{two.ha.id}/binding-codes", f"/admin/houses/{two.ha.id}/bindings/1/unbind",
                f"/admin/houses/{two.ha.id}/binding-codes/1/revoke", "/admin/bindings/1/approve",
                "/admin/fee-items", f"/admin/fee-items/{item.id}/standards",
                "/admin/fee-standards/1/edit", "/admin/fee-standards/1/publish", "/admin/imports",
                "/admin/imports/commit"):
        assert post(client, url, {"name": "x"}).status_code == 403, url
    assert "签发一次性绑定码" not in text(client.get(f"/admin/houses/{two.ha.id}"))


def test_forms_without_a_csrf_token_are_refused(client, two):
    as_user(client, "boss")
    for url in ("/admin/communities", f"/admin/houses/{two.ha.id}/binding-codes", "/admin/imports"):
        assert client.post(url, data={"name": "x", "code": "Y", "role": "owner"}).status_code == 400
    assert Community.select().count() == 2 and BindingCode.select().count() == 0


# ---------------------------------------------------------------- imports
GOOD = "楼栋,单元,房号,面积,业主,电话\n5栋,1,501,88.00,王五,13600001234\n5栋,1,502,90.50,,\n"
BAD = GOOD + "5栋,1,503,abc,,\n"


def _upload(client, body: str, community, name="houses.csv"):
    return post(client, "/admin/imports", {"kind": "houses", "community": community.id,
                                           "file": (io.BytesIO(body.encode()), name)},
                content_type="multipart/form-data")


def _confirm_fields(page: str) -> dict:
    form = re.search(r'<form[^>]*id="confirm-import".*?</form>', page, re.S).group(0)
    return dict(re.findall(r'name="(\w+)" value="([^"]*)"', form))


def test_an_import_with_a_bad_row_reports_it_and_writes_nothing(client, two):
    as_user(client, "cashier")
    before = House.select().count()
    response = _upload(client, BAD, two.a)
    page = text(response)
    assert response.status_code == 422
    assert re.search(r"第 4 行.*?面积.*?面积", page, re.S) and "没有写入任何数据" in page
    assert 'id="confirm-import"' not in page
    assert House.select().count() == before and not audits("import.houses")


def test_a_clean_file_is_checked_then_imported_once(client, two):
    as_user(client, "cashier")
    page = text(_upload(client, GOOD, two.a))
    assert "试运行，未写入数据" in page and House.select().count() == 2
    fields = _confirm_fields(page)
    done = post(client, "/admin/imports/commit", fields, follow_redirects=True)
    assert "导入完成" in text(done) and House.select().where(House.community == two.a.id).count() == 3
    assert House.get(House.room_no == "501").owner_phone == "13600001234"
    again = post(client, "/admin/imports/commit", fields, follow_redirects=True)
    assert "未变化 2" in text(again) and House.select().count() == 4
    [entry] = audits("import.houses")
    assert entry.after["created"] == {"buildings": 1, "houses": 2}


def test_a_big_file_is_checked_and_imported_as_a_task(client, two, monkeypatch):
    from jobs import backends
    from server.admin.pages import imports_page

    monkeypatch.setattr(imports_page, "INLINE_MAX_BYTES", 10)
    backends.use_backend(backends.InlineBackend())
    try:
        as_user(client, "cashier")
        response = _upload(client, GOOD, two.a)
        assert "/admin/imports/tasks/" in response.location
        page = text(client.get(response.location))
        assert "试运行，未写入数据" in page and House.select().count() == 2
        fields = _confirm_fields(page)
        assert "content" not in fields and len(fields["sha256"]) == 64
        committed = post(client, "/admin/imports/commit", fields)
        assert "已写入" in text(client.get(committed.location))
    finally:
        backends.use_backend(None)
    assert House.select().count() == 4
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    make_staff("cashier_b", "cashier", [two.b])
    as_user(client, "cashier_b")
    assert client.get(committed.location).status_code == 404


def test_import_templates_are_header_rows(client, two):
    as_user(client, "viewer")
    book = load_workbook(io.BytesIO(client.get("/admin/imports/template/readings.xlsx").data))
    header = ("楼栋", "单元", "房号", "收费项目", "账期", "上期读数", "本期读数", "抄表日期")
    assert list(book.active.values) == [header]
    assert "上传文件" in text(client.get("/admin/imports"))
