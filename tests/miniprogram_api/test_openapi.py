"""The OpenAPI document is valid, complete (every route is in it) and truthful
(real answers conform to it); the docs page lists it without any CDN."""
from __future__ import annotations

import re

import jsonschema
import pytest
from openapi_spec_validator import validate

from server.owners import bindings
from templates_msg import registry
from tests import factories

NOT_OPERATIONS = {"/api/v1/openapi.json", "/api/v1/docs"}


@pytest.fixture
def doc(api):
    response = api.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_the_document_is_valid_openapi(doc):
    validate(doc)
    assert doc["openapi"].startswith("3.1")


def test_every_api_route_is_documented_with_its_methods(api_app, doc):
    routes: dict[str, set] = {}
    for rule in api_app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1") or rule.rule in NOT_OPERATIONS:
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        routes.setdefault(path, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    assert {p: set(methods) for p, methods in doc["paths"].items()} == routes


def test_operations_declare_auth_and_errors(doc):
    login = doc["paths"]["/api/v1/auth/login"]["post"]
    assert login["security"] == [] and {"401", "422", "429", "503"} <= set(login["responses"])
    bills = doc["paths"]["/api/v1/houses/{house_id}/bills"]["get"]
    assert bills["security"] == [{"bearerAuth": []}]
    assert {"200", "401", "404", "422"} <= set(bills["responses"])
    assert [p["name"] for p in bills["parameters"]] == ["house_id", "status", "period"]
    bind_body = doc["components"]["schemas"]["BindBody"]
    assert bind_body["discriminator"]["propertyName"] == "method"
    assert doc["components"]["schemas"]["LoginBody"]["additionalProperties"] is False


class Checker:
    """Validates an actual response against the document's schema for it."""

    def __init__(self, doc):
        self.doc = doc
        self.seen: set[tuple[str, str]] = set()

    def __call__(self, response, method: str, path: str):
        operation = self.doc["paths"][path][method]
        status = str(response.status_code)
        assert status in operation["responses"], (method, path, status, response.get_json())
        self.seen.add((method, path))
        content = operation["responses"][status].get("content")
        if content is None:
            assert response.get_data() == b""
            return response
        if "application/json" not in content:                   # a page: HTML whatever the status
            assert response.mimetype in content, (method, path, status, response.mimetype)
            return response
        schema = dict(content["application/json"]["schema"], components=self.doc["components"])
        jsonschema.Draft202012Validator(schema).validate(response.get_json())
        return response


def test_real_answers_conform_to_the_document(api, doc, sandbox, login, estate):
    check = Checker(doc)
    house = estate.houses[0]
    House = type(house)
    House.update(owner_phone="13600000001").where(House.id == house.id).execute()
    bill = factories.bill(house, estate.items["WYF"], adjusted_fen=-5, late_fee_fen=7)
    response = check(api.post("/api/v1/auth/login", json={"code": sandbox.login_code()}),
                     "post", "/api/v1/auth/login")
    owner_headers = {"Authorization": f"Bearer {response.get_json()['token']}"}
    check(api.post("/api/v1/auth/login", json={"code": "bad"}), "post", "/api/v1/auth/login")
    check(api.post("/api/v1/auth/login", json={"x": 1}), "post", "/api/v1/auth/login")

    def call(method, path, url=None, **kwargs):
        kwargs.setdefault("headers", owner_headers)
        return check(getattr(api, method)(url or path, **kwargs), method, path)

    call("get", "/api/v1/houses")
    call("post", "/api/v1/houses/bind",
         json={"method": "phone", "phone_code": sandbox.phone_code("13600000001")})
    code, _ = bindings.issue_binding_code(estate.houses[1].id, "tenant", factories.staff_actor())
    call("post", "/api/v1/houses/bind", json={"method": "code", "binding_code": code})
    third = estate.houses[2]
    call("post", "/api/v1/houses/bind", json={"method": "request", "role": "family", "address": {
        "community_id": estate.community.id, "building": third.building.name, "room_no": third.room_no}})
    call("get", "/api/v1/houses")
    call("get", "/api/v1/communities", "/api/v1/communities?q=小区")
    call("get", "/api/v1/communities/{community_id}/fee-standards",
         f"/api/v1/communities/{estate.community.id}/fee-standards")
    call("get", "/api/v1/houses/{house_id}/bills", f"/api/v1/houses/{house.id}/bills?status=open")
    call("get", "/api/v1/houses/{house_id}/bills", f"/api/v1/houses/{house.id}/bills?period=x")
    call("get", "/api/v1/houses/{house_id}/bills", f"/api/v1/houses/{house.id}/bills", headers={})
    call("get", "/api/v1/bills/{bill_id}", f"/api/v1/bills/{bill.id}")
    call("get", "/api/v1/bills/{bill_id}", "/api/v1/bills/999999")
    dispute = call("post", "/api/v1/bills/{bill_id}/disputes", f"/api/v1/bills/{bill.id}/disputes",
                   json={"reason": "other", "text": "?"}).get_json()
    call("post", "/api/v1/bills/{bill_id}/disputes", f"/api/v1/bills/{bill.id}/disputes",
         json={"reason": "other", "text": "again"})
    call("get", "/api/v1/bills/{bill_id}", f"/api/v1/bills/{bill.id}")
    call("get", "/api/v1/disputes")
    call("get", "/api/v1/disputes/{dispute_id}", f"/api/v1/disputes/{dispute['id']}")
    call("post", "/api/v1/disputes/{dispute_id}/messages", f"/api/v1/disputes/{dispute['id']}/messages",
         json={"text": "补充说明"})
    call("post", "/api/v1/disputes/{dispute_id}/withdraw", f"/api/v1/disputes/{dispute['id']}/withdraw")
    call("post", "/api/v1/disputes/{dispute_id}/withdraw", f"/api/v1/disputes/{dispute['id']}/withdraw")
    call("get", "/api/v1/subscriptions")
    call("post", "/api/v1/subscriptions", json={"results": {"SBX_NOPE": "accept"}})
    template = next(iter(registry.templates().values())).template_id
    call("post", "/api/v1/subscriptions", json={"results": {template: "accept"}})
    call("delete", "/api/v1/houses/{house_id}/binding", f"/api/v1/houses/{house.id}/binding")
    call("post", "/api/v1/auth/logout")
    call("get", "/api/v1/houses")
    # Paying needs the WeChat Pay sandbox: test_orders_contract.py walks those operations.
    documented = {(m, p) for p, methods in doc["paths"].items() for m, op in methods.items()
                  if op["tags"][0] not in ("orders", "payments")}
    assert documented <= check.seen, documented - check.seen


def test_the_docs_page_lists_every_operation_and_loads_nothing_from_outside(api, doc):
    response = api.get("/api/v1/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    for methods in doc["paths"].values():
        for op in methods.values():
            assert f'id="{op["operationId"]}"' in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<script" not in html



def test_schemas_use_only_json_schema_keywords(doc):
    """pydantic writes constraints it cannot place as ``ge``/``le``: those would be ignored
    by every client and fuzzer, so the document would promise less than the server checks."""
    found = []

    def walk(node, path):
        if isinstance(node, dict):
            found.extend(f"{path}/{k}" for k in ("ge", "le", "gt", "lt", "strict") if k in node)
            for key, value in node.items():
                walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}/{i}")
    walk(doc["components"]["schemas"], "#/components/schemas")
    walk(doc["paths"], "#/paths")
    assert not found, found
