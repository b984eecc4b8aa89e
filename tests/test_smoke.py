from server import migrations
from server.db import make_database
from server.property.models import Community


def test_database_fixture_gives_an_empty_migrated_schema(database):
    assert Community.select().count() == 0
    Community.create(name="和园", code="HY")
    assert Community.select().count() == 1


def test_readyz_reports_ok_on_a_migrated_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_checks_redis_when_it_is_configured(database, make_app, redis_proc):
    url = f"redis://{redis_proc.host}:{redis_proc.port}/0"
    app = make_app(database.test_url, REDIS_URL=url)
    assert app.test_client().get("/readyz").status_code == 200

    down = make_app(database.test_url, REDIS_URL="redis://127.0.0.1:1/0")
    response = down.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["reason"].startswith("redis")


def test_readyz_reports_pending_migrations(make_app, tmp_path):
    response = make_app(f"sqlite:///{tmp_path / 'new.db'}").test_client().get("/readyz")
    assert response.status_code == 503
    every_migration = [m.name for m in migrations.runner(make_database("sqlite:///:memory:")).migrations()]
    assert response.get_json()["pending"] == every_migration
