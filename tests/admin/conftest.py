"""Admin fixtures: the app with the admin pages installed, staff and a signed-in client."""
from __future__ import annotations

import re

import pytest

from server import admin
from server import db as dbmod
from server.admin.auth import hash_password
from server.staff.models import StaffCommunity, StaffRole, StaffUser

PASSWORD = "correct horse 42"


@pytest.fixture
def admin_app(database, make_app):
    app = make_app(database.test_url)
    admin.init_app(app)
    dbmod.database.connect(reuse_if_open=True)
    return app


@pytest.fixture
def client(admin_app):
    return admin_app.test_client()


def make_staff(username: str, role: str = StaffRole.ADMIN, communities=()) -> StaffUser:
    user = StaffUser.create(username=username, role=role, password_hash=hash_password(PASSWORD))
    for community in communities:
        StaffCommunity.create(staff=user, community=community)
    return user


def csrf_token(client, path: str = "/admin/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def login(client, username: str, password: str = PASSWORD):
    return client.post("/admin/login", data={"username": username, "password": password,
                                             "csrf_token": csrf_token(client)})
