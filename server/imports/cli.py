"""``wuyepay import …`` and ``wuyepay export …``.

    wuyepay import houses|readings|arrears FILE --community CODE [--dry-run]
    wuyepay export bills   --community CODE [--period-from 2026-01] [--period-to 2026-06]
                           [--status unpaid …] [--format csv|xlsx] -o FILE
    wuyepay export arrears --community CODE [--as-of 2026-07-01] [--format csv|xlsx] -o FILE

An import prints its row report, errors first, and exits 1 when any row (or
the file itself) has an error; nothing is written in that case.
"""
from __future__ import annotations

import datetime as dt
import getpass
import sys

import click

from server.audit import Actor
from server.clitools import with_database
from server.errors import DomainError
from server.imports import IMPORTERS, export_arrears, export_bills
from server.imports.exports import STATUS_LABELS
from server.imports.writers import FORMATS, ExportFormatError
from server.money import format_yuan


def register(group: click.Group) -> None:
    group.add_command(import_group)
    group.add_command(export_group)


def cli_actor() -> Actor:
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = "unknown"
    return Actor.system(f"cli:{user}"[:64])


@click.group("import")
def import_group():
    """Import houses, meter readings or opening arrears from CSV or XLSX."""


def _import_command(kind: str, help_text: str):
    @import_group.command(kind, help=help_text)
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--community", required=True, help="community code")
    @click.option("--dry-run", is_flag=True, help="validate and report, write nothing")
    @with_database
    def command(file, community, dry_run, config):
        try:
            report = IMPORTERS[kind](file, community, cli_actor(), dry_run=dry_run)
        except DomainError as exc:
            raise click.ClickException(exc.message) from None
        for line in report.lines():
            click.echo(line)
        if report.has_errors:
            sys.exit(1)

    return command


_import_command("houses", "Houses with their registered owner; buildings created as needed.")
_import_command("readings", "Meter readings; a missing meter is installed from 上期读数.")
_import_command("arrears", "Opening arrears: unpaid bills at go-live.")


@click.group("export")
def export_group():
    """Export bills or arrears to CSV (UTF-8 with BOM) or XLSX."""


def _format_option(fn):
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
                        help="default: from the output file's extension")(fn)


@export_group.command("bills")
@click.option("--community", required=True, help="community code")
@click.option("--period-from", default=None, help="first period, YYYY-MM")
@click.option("--period-to", default=None, help="last period, YYYY-MM")
@click.option("--status", "statuses", multiple=True,
              type=click.Choice([*STATUS_LABELS, "open"]), help="repeatable")
@_format_option
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@with_database
def export_bills_command(community, period_from, period_to, statuses, fmt, output, config):
    """Bills of a community, optionally by period range and status."""
    try:
        summary = export_bills(output, community, fmt=fmt, period_from=period_from,
                               period_to=period_to, statuses=list(statuses) or None)
    except (DomainError, ExportFormatError) as exc:
        raise click.ClickException(getattr(exc, "message", str(exc))) from None
    click.echo(f"{summary.rows} 张账单，应收 {format_yuan(summary.totals['amount_fen'])} 元，"
               f"欠费 {format_yuan(summary.totals['balance_fen'])} 元 → {summary.path}")


@export_group.command("arrears")
@click.option("--community", required=True, help="community code")
@click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="age the arrears as of this date (default: today, Asia/Shanghai)")
@_format_option
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@with_database
def export_arrears_command(community, as_of, fmt, output, config):
    """Open bills with a balance, per house with subtotals and days overdue."""
    day: dt.date | None = as_of.date() if as_of else None
    try:
        summary = export_arrears(output, community, as_of=day, fmt=fmt)
    except (DomainError, ExportFormatError) as exc:
        raise click.ClickException(getattr(exc, "message", str(exc))) from None
    totals = summary.totals
    click.echo(f"{totals['houses']} 户 {totals['bills']} 张账单欠费 "
               f"{format_yuan(totals['balance_fen'])} 元 → {summary.path}")
