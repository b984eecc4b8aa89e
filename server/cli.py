"""The ``wuyepay`` command line.

Each domain module contributes its own command group (``register`` below);
every command runs with the database bound and a connection open.
"""
from __future__ import annotations

import sys

import click

from server import db as dbmod
from server import migrations
from server.clitools import with_database


@click.group()
def cli():
    """WuyePay: property fee billing and WeChat Pay collection."""


@cli.group("db")
def db_group():
    """Schema migrations."""


@db_group.command("upgrade")
@click.option("--target", default=None, help="stop after this migration")
@with_database
def db_upgrade(target, config):
    """Apply pending schema migrations."""
    applied = migrations.upgrade(dbmod.database.obj, target)
    for name in applied:
        click.echo(f"applied: {name}")
    if not applied:
        click.echo("schema is up to date")


@db_group.command("status")
@with_database
def db_status(config):
    """List migrations; exit 1 when some are pending."""
    rows = migrations.status(dbmod.database.obj)
    for name, applied in rows:
        click.echo(f"[{'x' if applied else ' '}] {name}")
    if any(not applied for _, applied in rows):
        sys.exit(1)


def register(group: click.Group) -> None:
    """Add the command groups of the domain modules."""
    import importlib

    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(group)


# Modules that contribute commands; each defines ``register(group)``.
COMMAND_MODULES: tuple[str, ...] = ("server.ops_cli", "server.imports.cli", "server.billing.cli", "jobs.cli", "payments.cli",
                                     "server.staff.cli")

register(cli)


def main() -> None:
    cli(prog_name="wuyepay")
