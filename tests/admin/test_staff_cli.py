"""``wuyepay staff create``: argon2 hash, communities, prompt or stdin, audited."""
from __future__ import annotations

import click
from click.testing import CliRunner

from server.admin.auth import verify_password
from server.audit import AuditLog
from server.staff import cli as staff_cli
from server.staff.models import StaffCommunity, StaffUser
from tests import factories as f


def _run(database, args, input_text, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database.test_url)
    group = click.Group("wuyepay")
    staff_cli.register(group)
    return CliRunner().invoke(group, ["staff", "create", *args], input=input_text)


def test_staff_create_reads_the_password_from_stdin_and_stores_an_argon2_hash(database, monkeypatch):
    result = _run(database, ["boss", "--role", "admin", "--password-stdin"], "s3cret-pass\n",
                  monkeypatch)
    assert result.exit_code == 0, result.output
    user = StaffUser.get(StaffUser.username == "boss")
    assert user.role == "admin" and user.password_hash.startswith("$argon2id$")
    assert verify_password(user.password_hash, "s3cret-pass")
    audit = AuditLog.get(AuditLog.action == "staff.create")
    assert audit.after == {"username": "boss", "role": "admin", "communities": []}


def test_staff_create_prompts_twice_and_links_communities(database, monkeypatch):
    f.community(code="A")
    f.community(code="B")
    result = _run(database, ["amy", "--role", "cashier", "--community", "A", "--community", "B"],
                  "pass-word-1\npass-word-1\n", monkeypatch)
    assert result.exit_code == 0, result.output
    user = StaffUser.get(StaffUser.username == "amy")
    assert sorted(link.community.code for link in
                  StaffCommunity.select().where(StaffCommunity.staff == user)) == ["A", "B"]


def test_staff_create_refuses_a_duplicate_an_unknown_community_and_a_short_password(
        database, monkeypatch):
    assert _run(database, ["boss", "--role", "admin", "--password-stdin"], "s3cret-pass\n",
                monkeypatch).exit_code == 0
    again = _run(database, ["boss", "--role", "admin", "--password-stdin"], "s3cret-pass\n",
                 monkeypatch)
    assert again.exit_code != 0 and "已存在" in again.output
    unknown = _run(database, ["amy", "--role", "viewer", "--community", "ZZ", "--password-stdin"],
                   "s3cret-pass\n", monkeypatch)
    assert unknown.exit_code != 0 and "ZZ" in unknown.output
    short = _run(database, ["bob", "--role", "admin", "--password-stdin"], "short\n", monkeypatch)
    assert short.exit_code != 0
    no_community = _run(database, ["cat", "--role", "viewer", "--password-stdin"], "s3cret-pass\n",
                        monkeypatch)
    assert no_community.exit_code != 0
    assert StaffUser.select().count() == 1
