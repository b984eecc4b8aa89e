"""Fixtures for the owner API: the WeChat sandbox on a real port, an app wired to
it, and owners logged in over HTTP."""
from __future__ import annotations

import dataclasses
import time

import pytest

import miniprogram_api
from payments.sandbox import run_sandbox_in_thread
from server import db as dbmod
from server.property.models import Binding, BindingStatus, House
from tests import factories
from tests.miniprogram_api.paying import api_merchant, paying  # noqa: F401 - fixtures


@dataclasses.dataclass
class Sandbox:
    base_url: str
    state: object
    clock_offset: list

    def advance(self, seconds: float) -> None:
        self.clock_offset[0] += seconds

    def login_code(self, openid: str | None = None) -> str:
        return self.state.mp.issue_login_code(openid=openid)

    def phone_code(self, phone: str) -> str:
        return self.state.mp.issue_phone_code(phone=phone)


@pytest.fixture(scope="session")
def wechat_sandbox():
    offset = [0.0]
    base_url, state, stop = run_sandbox_in_thread(clock=lambda: time.time() + offset[0])
    yield Sandbox(base_url, state, offset)
    stop()


@pytest.fixture
def sandbox(wechat_sandbox):
    wechat_sandbox.clock_offset[0] = 0.0
    yield wechat_sandbox
    wechat_sandbox.clock_offset[0] = 0.0


@pytest.fixture
def make_api(database, make_app, sandbox):
    def factory(**overrides):
        overrides.setdefault("WECHAT_API_BASE", sandbox.base_url)
        app = make_app(database.test_url, **overrides)
        miniprogram_api.init_app(app)
        dbmod.database.connect(reuse_if_open=True)
        return app
    return factory


@pytest.fixture
def api_app(make_api):
    return make_api()


@pytest.fixture
def api(api_app):
    return api_app.test_client()


@dataclasses.dataclass
class LoggedIn:
    owner_id: int
    token: str
    openid: str

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def login(api, sandbox):
    """Log a (new) WeChat user in over HTTP through the sandbox."""
    counter = iter(range(1, 10_000))

    def do(openid: str | None = None) -> LoggedIn:
        openid = openid or f"oTEST{next(counter):06d}{time.time_ns() % 10**9:09d}"
        response = api.post("/api/v1/auth/login", json={"code": sandbox.login_code(openid)})
        assert response.status_code == 200, response.get_json()
        data = response.get_json()
        return LoggedIn(data["owner"]["id"], data["token"], openid)
    return do


def bind(owner_id: int, house: House, role: str = "owner") -> Binding:
    """Bind directly (the binding flows have their own tests)."""
    return Binding.create(owner=owner_id, house=house, role=role, verified_by="import",
                          status=BindingStatus.ACTIVE)


@pytest.fixture
def estate(database):
    return factories.estate(n_houses=3)
