"""Schemathesis against the whole ``/api/v1``, from its own OpenAPI document.

Every operation gets ``MAX_EXAMPLES`` generated requests through the WSGI app
(the WeChat sandbox answers the app's outbound calls over real HTTP), sent
with a real owner's bearer token; ``POST /auth/logout`` gets a fresh token
each time so it cannot log the others out.  Random ids almost never name the
owner's own records, so every operation with path parameters, and ordering,
gets a second, smaller round with the owner's real ids (house, bill, dispute,
order, receipt): the success bodies are checked too.

Checks: no 5xx; status code, content type and body as documented; and
generated invalid input (the negative mode) must be refused with a 4xx.
The last test plants broken routes and proves the harness reports them, so
the main test can fail.
"""
from __future__ import annotations

import os
import re
import secrets
from collections import Counter
from urllib.parse import parse_qs, urlsplit

import hypothesis
import pytest
import schemathesis
from flask import Response, jsonify
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection,
                                               response_schema_conformance,
                                               status_code_conformance)

from miniprogram_api.contract import operation
from miniprogram_api.schemas.common import CommunityRef
from server.disputes import services as disputes
from server.owners.models import OwnerSession
from server.owners.sessions import SESSION_TTL, hash_token
from server.property.models import Owner
from server.timeutil import utcnow
from templates_msg import registry
from tests.miniprogram_api.paying import household, prepay_id

# Examples per operation: generated valid requests, invalid ones, and valid ones with real ids.
# About 40 s for both database backends on 2 cores; raise WUYEPAY_FUZZ_EXAMPLES to dig deeper.
MAX_EXAMPLES = int(os.environ.get("WUYEPAY_FUZZ_EXAMPLES", "60"))
MODES = {GenerationMode.POSITIVE: MAX_EXAMPLES, GenerationMode.NEGATIVE: max(MAX_EXAMPLES // 2, 1)}
KNOWN_EXAMPLES = max(MAX_EXAMPLES // 3, 1)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
_PATH_PARAM = re.compile(r"{(\w+)}")


def settings(examples: int) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=examples, deadline=None, database=None, print_blob=True,
        suppress_health_check=list(hypothesis.HealthCheck))


def new_token(owner_id: int) -> str:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    OwnerSession.create(owner=owner_id, token_hash=hash_token(token), created_at=now, last_used_at=now,
                        expires_at=now + SESSION_TTL)
    return token


def _describe(exc: BaseException) -> str:
    """The failure with every sub-failure of a group (str() of a group is only its title)."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, BaseExceptionGroup):
        text += "".join("\n  - " + _describe(sub).replace("\n", "\n    ") for sub in exc.exceptions)
    return text


class Fuzzer:
    """Runs each operation as a Hypothesis test; collects failures and the answers seen."""

    def __init__(self, app, owner_id: int):
        self.schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
        # The harness sends a real bearer token with every request: generating (and, in the
        # negative mode, breaking) the Authorization header would be undone by it, and an
        # accepted "invalid" request would be reported against a valid one.
        self.schema.config.generation.update(with_security_parameters=False)
        self.owner_id = owner_id
        self.token = new_token(owner_id)
        self.failures: list[str] = []
        self.seen: Counter = Counter()

    def token_for(self, op) -> str:
        return new_token(self.owner_id) if op.path.endswith("/auth/logout") else self.token

    def run(self, op, mode: GenerationMode, examples: int, label: str = "", **fixed) -> None:
        name = f"{op.method.upper()} {op.path}"

        @settings(examples)
        @hypothesis.given(case=op.as_strategy(generation_mode=mode, **fixed))
        def check(case):
            response = case.call(headers={"Authorization": f"Bearer {self.token_for(op)}"})
            self.seen[(name, response.status_code)] += 1
            extra = [negative_data_rejection] if mode is GenerationMode.NEGATIVE else []
            case.validate_response(response, checks=CHECKS + extra)

        try:
            check()
        except hypothesis.errors.Unsatisfiable as exc:
            # No input of this operation can be invalid (no body, no constrained parameter
            # besides the token the harness supplies): nothing to try in the negative mode.
            if mode is not GenerationMode.NEGATIVE:
                self.failures.append(f"{name} ({mode.value}{label}): {_describe(exc)}")
        except (Exception, FailureGroup) as exc:  # noqa: BLE001 - report every one, then fail
            self.failures.append(f"{name} ({mode.value}{label}): {_describe(exc)}")

    def operations(self, only: str | None = None) -> list:
        """Deletions last: unbinding the owner's house would hide everything after it."""
        ops = [r.ok() for r in self.schema.get_all_operations()]
        ops = [op for op in ops if only is None or op.path.endswith(only)]
        return sorted(ops, key=lambda op: op.method.upper() == "DELETE")

    def everything(self, known: dict, bodies: dict, queries: dict) -> None:
        for op in self.operations():
            for mode, examples in MODES.items():
                self.run(op, mode, examples)
            names = _PATH_PARAM.findall(op.path)
            fixed = {}
            if names and all(n in known for n in names):
                fixed["path_parameters"] = {n: known[n] for n in names}
            if (op.method.upper(), op.path) in bodies:
                fixed["body"] = bodies[(op.method.upper(), op.path)]
            if (op.method.upper(), op.path) in queries:
                fixed["query"] = queries[(op.method.upper(), op.path)]
            if fixed:
                self.run(op, GenerationMode.POSITIVE, KNOWN_EXAMPLES, ", known ids", **fixed)


@pytest.fixture
def fuzz_app(paying):
    """The app wired to the sandbox; the owner has bills, a dispute, a paid and an open order."""
    app = paying.app
    app.config.update(RATELIMIT_ORDER_CREATION="10000 per minute", RATELIMIT_BINDING="10000 per minute")
    home = household(paying, (12_000, 3_456, 789, 100, 55))
    neighbour = household(paying, (5_000,))
    questioned, paid_bill, held, to_order, free = home.bill_ids
    dispute = disputes.open_dispute(home.owner.owner_id, questioned, "other", "为什么这么贵？")
    disputes.open_dispute(neighbour.owner.owner_id, neighbour.bill_ids[0], "other", "?")
    paid = paying.order(home.owner, [paid_bill]).get_json()
    paying.state.set_faults(drop_callbacks=1)
    paying.state.ledger.pay(prepay_id(paid))
    shown = paying.api.get(f"/api/v1/orders/{paid['out_trade_no']}", headers=home.owner.headers)
    open_order = paying.order(home.owner, [held]).get_json()
    known = {"house_id": home.house.id, "bill_id": free, "dispute_id": dispute.id,
             "community_id": home.estate.community.id, "out_trade_no": open_order["out_trade_no"],
             "number": shown.get_json()["receipt_no"]}
    template = next(iter(registry.templates(app.config).values())).template_id
    bodies = {("POST", "/api/v1/orders"): {"bill_ids": [to_order]},
              ("POST", "/api/v1/subscriptions"): {"results": {template: "accept"}}}
    # The receipt's signed print link: the page's one valid query.
    receipt = paying.api.get(f"/api/v1/receipts/{known['number']}", headers=home.owner.headers)
    signed = parse_qs(urlsplit(receipt.get_json()["print_url"]).query)["t"][0]
    queries = {("GET", "/api/v1/receipts/{number}/print"): {"t": signed}}
    return app, home.owner.owner_id, known, bodies, queries


def test_the_whole_api_keeps_its_contract_under_generated_requests(fuzz_app):
    app, owner_id, known, bodies, queries = fuzz_app
    fuzzer = Fuzzer(app, owner_id)
    fuzzer.everything(known, bodies, queries)
    print("\n".join(f"{name}: {status} × {n}" for (name, status), n in sorted(fuzzer.seen.items())))
    assert not fuzzer.failures, "\n\n".join(fuzzer.failures)
    paths = app.test_client().get("/api/v1/openapi.json").get_json()["paths"]
    every = {f"{m.upper()} {p}" for p, methods in paths.items() for m in methods}
    assert {name for name, _ in fuzzer.seen} == every
    ok = {name for name, status in fuzzer.seen if status < 300}
    assert every - ok <= {"POST /api/v1/auth/login", "POST /api/v1/houses/bind"}, every - ok


@operation("a route that breaks its contract", tag="bills", response=CommunityRef)
def _broken(owner_id: int):
    return Response(b'{"id": "not a number"}', status=200, mimetype="application/json")


@operation("a route that crashes", tag="bills", response=CommunityRef)
def _crashing(owner_id: int):
    return jsonify({"id": 1 // (owner_id - owner_id), "name": "x"})


@pytest.mark.parametrize("path, view, expected", [
    ("/api/v1/_broken", _broken, "Response violates schema"),
    ("/api/v1/_crashing", _crashing, "Server error"),
])
def test_the_harness_reports_a_broken_route(make_api, path, view, expected):
    app = make_api()
    app.add_url_rule(path, endpoint=path, view_func=view)   # before the app's first request
    fuzzer = Fuzzer(app, Owner.create(openid="oHARNESS").id)
    for op in fuzzer.operations(only=path):
        fuzzer.run(op, GenerationMode.POSITIVE, 5)
    assert len(fuzzer.failures) == 1 and expected in fuzzer.failures[0], fuzzer.failures
