"""Operator commands: serve, backup, restore."""
from __future__ import annotations

import click

from server import backup as backup_mod
from server.clitools import load_config
from server.timeutil import utcnow


DEMO_PASSWORD = "wuyepay-demo"


def register(group: click.Group) -> None:
    group.add_command(serve)
    group.add_command(backup)
    group.add_command(restore)
    group.add_command(demo)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(host, port):
    """Serve the web app with the built-in server (use gunicorn in production)."""
    import os

    from server import create_app

    # Demo mode hangs the sandbox and the notify URL off this address.
    os.environ.setdefault("PUBLIC_BASE_URL", f"http://{host}:{port}")
    app = create_app()
    click.echo(f"WuyePay on http://{host}:{port}/  (owner API: /api/v1, docs: /api/v1/docs)")
    app.run(host=host, port=port, threaded=True, use_reloader=False)


@click.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="backup file (default: instance/backups/wuyepay-<time>.<ext>)")
def backup(output):
    """Take a consistent backup of the database (SQLite online backup or pg_dump)."""
    config = load_config()
    if output is None:
        ext = "sqlite3" if config.DATABASE_URL.startswith("sqlite") else "dump"
        output = f"{config.INSTANCE_PATH}/backups/wuyepay-{utcnow():%Y%m%dT%H%M%SZ}.{ext}"
    try:
        path = backup_mod.backup(config.DATABASE_URL, output)
    except backup_mod.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backup written to {path}")


@click.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="do not ask before replacing the database")
def restore(source, yes):
    """Replace the database with a backup taken by `wuyepay backup`."""
    config = load_config()
    if not yes:
        click.confirm(f"Replace the database at {config.DATABASE_URL} with {source}?", abort=True)
    try:
        backup_mod.restore(config.DATABASE_URL, source)
    except backup_mod.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("restored")


@click.command()
@click.option("--if-empty", is_flag=True, help="do nothing when the database already has data")
@click.option("--seed", default=20261123, show_default=True, type=int)
@click.option("--wechat/--no-wechat", default=True, show_default=True,
              help="also bind owners by mini-program, pay by WeChat Pay (sandbox), send reminders "
                   "and reconcile yesterday")
def demo(if_empty, seed, wechat):
    """Load the demo: two communities, ~600 houses, three months of bills, some paid at the
    counter and some by WeChat Pay, reminders sent and yesterday reconciled."""
    from server import db as dbmod
    from server import demo as demo_mod

    config = load_config()
    dbmod.bind(config.DATABASE_URL)
    with dbmod.connection():
        if not demo_mod.is_empty():
            if if_empty:
                click.echo("demo: database already has data, leaving it as it is")
                return
            raise click.ClickException("the database is not empty; use a fresh DATABASE_URL")
        summary = demo_mod.load_demo(seed=seed, pay=demo_mod.pay_some_at_the_counter)
        from server.staff.cli import create_staff

        # A demo manager with a known password: demo data only, never in production.
        create_staff("demo", DEMO_PASSWORD, "manager", ["HY", "JY"], display_name="演示经理")
        if wechat:
            from server import demo_wechat

            # Owners bound by mini-program, WeChat Pay payments, reminders, reconciliation.
            summary.update(demo_wechat.run(config, seed=seed))
    click.echo("demo loaded: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    click.echo(f"admin page: /admin/  user 'demo' (manager), password '{DEMO_PASSWORD}' (demo only); "
               f"also cashier1, cashier2, manager1 and viewer1 (read only), same password")
    if wechat:
        click.echo("subscription messages received by the WeChat sandbox: /_sandbox/wechat/messages")
