from server.property.models import Community


def test_database_fixture_gives_an_empty_migrated_schema(database):
    assert Community.select().count() == 0
    Community.create(name="和园", code="HY")
    assert Community.select().count() == 1


def test_readyz_reports_ok_on_a_migrated_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
