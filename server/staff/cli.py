"""``wuyepay staff``: create the first admin and other staff accounts."""
from __future__ import annotations

import sys

import click
import peewee as pw

from server import audit, db
from server.audit import Actor
from server.clitools import with_database
from server.property.models import Community
from server.staff.models import StaffCommunity, StaffRole, StaffUser


def register(group: click.Group) -> None:
    group.add_command(staff)


@click.group()
def staff():
    """Staff accounts."""


def create_staff(username: str, password: str, role: str, community_codes: list[str],
                 display_name: str = "", actor: Actor | None = None) -> StaffUser:
    """Create a staff account with an argon2 hash and its communities, audited."""
    from server.admin.auth import hash_password

    if role not in StaffRole.ALL:
        raise click.BadParameter(f"角色应为 {', '.join(StaffRole.ALL)} 之一")
    communities = []
    for code in community_codes:
        community = Community.get_or_none(Community.code == code)
        if community is None:
            raise click.BadParameter(f"没有编码为“{code}”的小区")
        communities.append(community)
    if role != StaffRole.ADMIN and not communities:
        raise click.BadParameter("非管理员至少要指定一个 --community（可管理的小区）")
    actor = actor or Actor.system("cli")
    with db.transaction():
        user = StaffUser.create(username=username, display_name=display_name or username,
                                password_hash=hash_password(password), role=role)
        for community in communities:
            StaffCommunity.create(staff=user, community=community)
        audit.record(actor, "staff.create", "staff_user", user.id,
                     after={"username": username, "role": role,
                            "communities": [c.code for c in communities]})
    return user


@staff.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(StaffRole.ALL), required=True)
@click.option("--community", "communities", multiple=True, metavar="CODE",
              help="a community this account may see (repeat; admins see all)")
@click.option("--display-name", default="")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@with_database
def create_command(username, role, communities, display_name, password_stdin, config):
    """Create a staff account; the password is prompted for (or read from stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("密码 / password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise click.BadParameter("密码至少 8 个字符")
    try:
        user = create_staff(username, password, role, list(communities), display_name)
    except pw.IntegrityError:
        raise click.ClickException(f"工作人员“{username}”已存在") from None
    click.echo(f"created staff {user.username} ({user.role})")


@staff.group("token")
def token():
    """Bearer tokens for the staff API (/api/admin/v1)."""


@token.command("create")
@click.option("--username", required=True, help="the staff member the token acts as")
@click.option("--name", required=True, help="what the token is for, e.g. the ERP's name")
@click.option("--days", type=click.IntRange(1, 3650), default=365, show_default=True)
@with_database
def token_create_command(username, name, days, config):
    """Issue a token; it is printed once and never stored."""
    from server.errors import DomainError
    from server.staff import tokens

    user = StaffUser.get_or_none(StaffUser.username == username)
    if user is None:
        raise click.ClickException(f"没有工作人员“{username}”")
    try:
        row, plaintext = tokens.issue_token(user.id, name, Actor.system("cli"), ttl_days=days)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"token {row.id} for {username} ({user.role}), expires {row.expires_at:%Y-%m-%d}:")
    click.echo(plaintext)


@token.command("revoke")
@click.argument("token_id", type=int)
@with_database
def token_revoke_command(token_id, config):
    """Revoke a token by its id."""
    from server.errors import DomainError
    from server.staff import tokens

    try:
        row = tokens.revoke_token(token_id, Actor.system("cli"))
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"token {row.id} revoked")
