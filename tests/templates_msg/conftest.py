"""Fixtures for reminders: the WeChat sandbox on a real port (shared with the owner
API tests), a mini-program client pointed at it, and a bill with a bound owner."""
from __future__ import annotations

import dataclasses
import uuid

import pytest

from server.billing.models import Bill
from server.property.models import Binding, BindingStatus, Owner
from server.wxa import MiniProgramClient
from templates_msg import registry
from templates_msg.subscriptions import record_results
from tests import factories
from tests.miniprogram_api.conftest import sandbox, wechat_sandbox  # noqa: F401 - fixtures

APPID, SECRET = "wxd0000000000sandbox", "sandbox-app-secret"


@pytest.fixture
def mp(sandbox):  # noqa: F811
    return MiniProgramClient(APPID, SECRET, sandbox.base_url)


@dataclasses.dataclass
class World:
    sandbox: object
    bill: Bill
    owner: Owner

    def accept(self, kind: str, times: int = 1, *, wechat: bool = True) -> str:
        """The owner taps "accept" ``times`` times: reported to us and known to WeChat."""
        template_id = registry.template_for(kind).template_id
        for _ in range(times):
            record_results(self.owner.id, {template_id: "accept"})
        if wechat:
            self.sandbox.state.mp.grant_subscription(self.owner.openid, template_id, times)
        return template_id

    def sent(self) -> list[dict]:
        return [m for m in self.sandbox.state.mp.sent_messages if m["touser"] == self.owner.openid]


def new_owner(house) -> Owner:
    owner = Owner.create(openid=f"oREM{uuid.uuid4().hex[:24]}")
    Binding.create(owner=owner, house=house, verified_by="import", status=BindingStatus.ACTIVE)
    return owner


@pytest.fixture
def world(database, sandbox):  # noqa: F811
    """One 物业费 bill of 2026-11 (¥128.34, due 2026-11-25) and its house's bound owner."""
    for kind in registry.KINDS:
        sandbox.state.mp.register_template(registry.template_for(kind).template_id)
    estate = factories.estate(n_houses=1, water=False, parking=False)
    bill = factories.bill(estate.houses[0], estate.items["WYF"], period="2026-11", due_day=25,
                          amount_fen=12834)
    return World(sandbox, bill, new_owner(estate.houses[0]))
