"""``wuyepay billing preview|issue`` and ``wuyepay check-ledger``."""
from __future__ import annotations

import sys
import unicodedata
from decimal import Decimal

import click

from server.audit import Actor
from server.billing import runs
from server.clitools import with_database
from server.errors import DomainError
from server.money import format_yuan
from server.property.models import Community
from server.staff.models import StaffUser


def register(group: click.Group) -> None:
    group.add_command(billing)
    group.add_command(check_ledger_command)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _table(headers: list[str], rows: list[list], right: set[int] = frozenset()) -> str:
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(headers))]

    def line(row):
        out = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - _width(cell))
            out.append(pad + cell if i in right else cell + pad)
        return "  ".join(out).rstrip()

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths), *map(line, cells[1:])])


def _community(value: str) -> Community:
    query = Community.code == value
    if value.isdigit():
        query = query | (Community.id == int(value))
    community = Community.get_or_none(query)
    if community is None:
        raise click.ClickException(f"没有编号或编码为“{value}”的小区")
    return community


def _actor(username: str | None) -> Actor:
    if not username:
        return Actor.system("cli")
    staff = StaffUser.get_or_none(StaffUser.username == username)
    if staff is None:
        raise click.ClickException(f"没有工作人员“{username}”")
    return Actor.staff(staff)


def _print_totals(totals: dict, total_fen: int) -> None:
    rows = [[code, t["name"], t["bills"], format_yuan(t["total_fen"])] for code, t in totals.items()]
    rows.append(["", "合计", sum(t["bills"] for t in totals.values()), format_yuan(total_fen)])
    click.echo(_table(["item", "name", "bills", "total (元)"], rows, right={2, 3}))


def _print_problems(counts: dict, problems: list[dict], limit: int) -> None:
    if not counts:
        click.echo("problems: none")
        return
    click.echo("problems: " + ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items())))
    for problem in problems[:limit]:
        click.echo(f"  - [{problem['kind']}] {problem['message']}")
    if sum(counts.values()) > limit:
        click.echo(f"  … {sum(counts.values()) - limit} more")


common_options = [
    click.option("--community", required=True, help="community id or code"),
    click.option("--period", default=None, help="YYYY-MM (default: this month in Shanghai)"),
    click.option("--staff", default=None, help="username to record as the actor"),
    click.option("--anomaly-factor", default=None, type=str,
                 help="flag usage above this multiple of the house's recent average"),
    click.option("--show", default=20, show_default=True, help="problems to list"),
]


def _with_common(fn):
    for option in reversed(common_options):
        fn = option(fn)
    return fn


@click.group()
def billing():
    """Billing runs: preview, then issue."""


@billing.command()
@_with_common
@with_database
def preview(community, period, staff, anomaly_factor, show, config):
    """Show what a run would bill, without billing anyone."""
    factor = Decimal(anomaly_factor) if anomaly_factor else config.METER_ANOMALY_FACTOR
    try:
        result = runs.preview_run(_community(community).id, period, _actor(staff), factor)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"preview #{result.run_id}  period {result.period}  houses {result.houses}  "
               f"bills {result.bills_planned} (new {result.bills_new}, "
               f"already billed {result.already_billed})")
    _print_totals({c: t.as_dict() for c, t in result.totals.items()}, result.total_fen)
    _print_problems(dict(result.problem_counts), [p.as_dict() for p in result.problems], show)


@billing.command()
@_with_common
@with_database
def issue(community, period, staff, anomaly_factor, show, config):
    """Issue the period's bills (safe to repeat: existing bills are kept)."""
    factor = Decimal(anomaly_factor) if anomaly_factor else config.METER_ANOMALY_FACTOR
    try:
        run = runs.issue_run(_community(community).id, period, _actor(staff), anomaly_factor=factor)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"run #{run.id}  period {run.period}  {run.status}  houses {run.houses}  "
               f"created {run.bills_created}  already existed {run.bills_existing}")
    _print_totals(run.totals_by_item, run.total_fen)
    _print_problems(dict(run.problem_counts), run.problems, show)


@click.command("check-ledger")
@click.option("--show", default=50, show_default=True, help="drifts to list")
@with_database
def check_ledger_command(show, config):
    """Recompute every bill from the ledger; exit 1 on any drift."""
    from server.ledger.check import check_ledger

    drifts = check_ledger()
    if not drifts:
        click.echo("ledger OK: every bill agrees with its allocations, refunds, adjustments "
                   "and late fees")
        return
    click.echo(f"ledger DRIFT: {len(drifts)} difference(s)")
    click.echo(_table(["entity", "id", "field", "stored", "expected"],
                      [[d.entity, d.entity_id, d.field, d.stored, d.expected] for d in drifts[:show]],
                      right={1}))
    if len(drifts) > show:
        click.echo(f"… {len(drifts) - show} more")
    sys.exit(1)
