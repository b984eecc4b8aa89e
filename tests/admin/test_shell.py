"""The shell every staff page shares: HTML error pages, navigation, task progress."""
from __future__ import annotations

from server import tasks
from server.audit import Actor
from server.tasks.models import AdminTask, TaskStatus
from tests.admin.conftest import login, make_staff


def test_an_unknown_admin_page_is_a_chinese_html_404_not_json(client):
    make_staff("boss")
    login(client, "boss")
    response = client.get("/admin/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "找不到该页面或记录" in response.get_data(as_text=True)


def test_the_owner_api_still_answers_errors_in_json(client):
    response = client.get("/api/v1/no-such-route")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "NOT_FOUND"


def test_a_form_without_csrf_token_is_refused_with_an_html_page(client):
    make_staff("boss")
    login(client, "boss")
    response = client.post("/admin/logout")
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)


def test_every_page_shows_the_navigation_to_every_flow(client):
    make_staff("boss")
    login(client, "boss")
    page = client.get("/admin/").get_data(as_text=True)
    for href in ("/admin/houses", "/admin/billing-runs", "/admin/offline-payments", "/admin/refunds",
                 "/admin/reconciliation", "/admin/disputes", "/admin/audit"):
        assert f'href="{href}"' in page


@tasks.handler("test_count")
def _count_to(task, progress):
    progress.total(task.params["n"])
    for _ in range(task.params["n"]):
        progress.advance()
    if task.params.get("fail"):
        raise ValueError("boom")
    return {"counted": progress.done}


def test_a_task_runs_as_a_job_and_stores_progress_and_result(admin_app):
    from jobs import backends

    backends.use_backend(backends.InlineBackend())
    try:
        task = tasks.start("test_count", {"n": 450}, Actor.system("test"))
    finally:
        backends.use_backend(None)
    task = AdminTask.get_by_id(task.id)
    assert task.status == TaskStatus.DONE
    assert (task.total, task.done, task.result) == (450, 450, {"counted": 450})
    assert task.percent() == 100


def test_a_failing_task_is_marked_failed_with_its_message(admin_app):
    from jobs import backends

    backends.use_backend(backends.InlineBackend())
    try:
        try:
            tasks.start("test_count", {"n": 3, "fail": True}, Actor.system("test"))
        except ValueError:
            pass
    finally:
        backends.use_backend(None)
    task = AdminTask.select().order_by(AdminTask.id.desc()).first()
    assert task.status == TaskStatus.FAILED
    assert task.error.startswith("任务执行出错") and "boom" in task.error


def test_every_task_kind_has_a_chinese_name_and_is_known_to_workers():
    """A worker (which never imports the pages) must find every handler; the tasks page
    names every kind in Chinese."""
    import importlib

    import jobs.tasks
    from server.tasks.queries import KIND_LABELS

    for module in jobs.tasks.TASK_MODULES:
        importlib.import_module(module)
    kinds = {k for k in tasks.HANDLERS if not k.startswith("test_")}
    assert kinds == set(KIND_LABELS)
    assert set(jobs.tasks.TASK_MODULES) <= set(tasks.HANDLER_MODULES)
