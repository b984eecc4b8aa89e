"""What every import shares: finding the community, its houses and fee items in
a few batch queries, and the validate-everything-then-commit-once pipeline.

The pipeline reads the whole file and validates every row (``validate``) before
anything is written.  Only when no row and no header has an error, and this is
not a dry run, does ``write`` run — in one transaction together with the one
audit record of the import.  The database's unique constraints stay the final
judge: if another process created the same house or bill between validation
and commit, the ``IntegrityError`` rolls the whole import back and the report
says so.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import peewee

from server import audit
from server.billing.models import FeeItem
from server.db import transaction
from server.errors import NotFound
from server.imports import fields as F
from server.imports.readers import ReadError, read_table
from server.imports.report import ImportReport, RowResult
from server.property.models import Building, Community, House


class RowFailed(Exception):
    """Raised inside ``write`` to abort the transaction because of one row."""

    def __init__(self, row: int, code: str, message: str):
        super().__init__(message)
        self.row = row
        self.code = code
        self.message = message


def resolve_community(community) -> Community:
    """A ``Community``, its id, or its code."""
    if isinstance(community, Community):
        return community
    query = Community.select()
    if isinstance(community, int):
        found = query.where(Community.id == community).first()
    else:
        found = query.where(Community.code == str(community).strip()).first()
    if found is None:
        raise NotFound(f"小区不存在：{community}", code="COMMUNITY_NOT_FOUND")
    return found


HouseKey = tuple[str, str, str]  # (building name, unit, room number)


def house_label(key: HouseKey) -> str:
    return "-".join(part for part in key if part)


def parse_house_key(values: dict, result: RowResult) -> HouseKey | None:
    parsed = parse_fields(result, {
        "building": lambda: F.text(values.get("building"), "building", max_length=50, required=True),
        "unit": lambda: F.text(values.get("unit"), "unit", max_length=20),
        "room": lambda: F.text(values.get("room"), "room", max_length=20, required=True),
    })
    if parsed is None:
        return None
    key = (parsed["building"], parsed["unit"], parsed["room"])
    result.key = house_label(key)
    return key


def parse_fields(result: RowResult, parsers: dict[str, Callable]) -> dict | None:
    """Run every parser, recording each failure on the row; ``None`` if any failed."""
    values, failed = {}, False
    for name, parser in parsers.items():
        try:
            values[name] = parser()
        except F.FieldError as exc:
            result.error(exc.code, exc.message, exc.field)
            failed = True
    return None if failed else values


def house_index(community: Community) -> dict[HouseKey, dict]:
    """Every house of the community keyed by (building, unit, room): one query."""
    query = (House
             .select(House.id, House.unit, House.room_no, House.floor_area, House.status,
                     House.owner_name, House.owner_phone, Building.name.alias("building_name"))
             .join(Building)
             .where(House.community == community)
             .dicts())
    return {(row["building_name"], row["unit"], row["room_no"]): row for row in query}


class FeeItemIndex:
    """The community's fee items, found by name or by code: one query."""

    def __init__(self, community: Community):
        self.by_word: dict[str, FeeItem] = {}
        for item in FeeItem.select().where(FeeItem.community == community):
            self.by_word.setdefault(item.name.strip(), item)
            self.by_word.setdefault(item.code.strip().lower(), item)

    def find(self, word: str) -> FeeItem | None:
        return self.by_word.get(word.strip()) or self.by_word.get(word.strip().lower())


def parse_fee_item(values: dict, items: FeeItemIndex, result: RowResult) -> FeeItem | None:
    try:
        word = F.text(values.get("fee_item"), "fee_item", max_length=50, required=True)
    except F.FieldError as exc:
        result.error(exc.code, exc.message, exc.field)
        return None
    item = items.find(word)
    if item is None:
        result.error("FEE_ITEM_NOT_FOUND", f"本小区没有收费项目“{word}”", "fee_item")
    return item


@dataclass
class ImportSpec:
    kind: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    # validate(community, table_fields, rows, report) → plan (anything ``write`` needs)
    validate: Callable
    # write(community, plan, actor) → {what: how many created}; runs in the transaction
    write: Callable
    is_empty: Callable = lambda plan: not plan


class _ReportingRows(list):
    """The file's rows, calling ``progress(done, total)`` as the validator walks them:
    ``(0, total)`` first, then once after each row."""

    def __init__(self, rows: list, progress: Callable[[int, int], None]):
        super().__init__(rows)
        self._progress = progress

    def __iter__(self):
        total = len(self)
        self._progress(0, total)
        for done, row in enumerate(super().__iter__(), 1):
            yield row
            self._progress(done, total)


def run_import(spec: ImportSpec, source, community, actor: audit.Actor, *,
               dry_run: bool = False, filename: str | None = None,
               progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Validate every row, then (unless ``dry_run`` or any error) write all in one
    transaction.  ``progress(done, total)``, if given, is called with the number of
    data rows validated so far (a task's progress bar)."""
    community = resolve_community(community)
    if filename is None and isinstance(source, (str, Path)):
        filename = Path(source).name
    report = ImportReport(kind=spec.kind, filename=filename or "", dry_run=dry_run)
    try:
        table = read_table(source, filename=filename)
    except ReadError as exc:
        report.file_error("UNREADABLE_FILE", str(exc))
        return report
    with table:
        report.sha256 = table.sha256
        _check_header(spec, table, report)
        if report.file_errors:
            return report
        rows = list(table.rows())
    if not rows:
        report.file_error("NO_ROWS", "文件中没有数据行")
        return report
    if progress is not None:
        rows = _ReportingRows(rows, progress)
    plan = spec.validate(community, table.fields, rows, report)
    if report.has_errors or dry_run or spec.is_empty(plan):
        return report
    try:
        with transaction():
            created = spec.write(community, plan, actor)
            audit.record(actor, f"import.{spec.kind}", "import", report.sha256,
                         community_id=community.id, note=report.filename,
                         after={"file": report.filename, "sha256": report.sha256,
                                "counts": report.counts, "created": created})
    except RowFailed as exc:
        for result in report.rows:
            if result.row == exc.row:
                result.error(exc.code, exc.message)
        return report
    except peewee.IntegrityError:
        report.file_error("CONCURRENT_CHANGE", "导入期间数据被其他操作修改，已全部撤销，请重新导入")
        return report
    report.committed = True
    report.created = created
    return report


def _check_header(spec: ImportSpec, table, report: ImportReport) -> None:
    missing = [f for f in spec.required if f not in table.fields]
    if missing:
        names = "、".join(F.LABELS[f] for f in missing)
        report.file_error("MISSING_COLUMN", f"缺少必需的列：{names}")
    if table.duplicates:
        report.file_error("DUPLICATE_COLUMN", f"重复的列：{'、'.join(table.duplicates)}")
    ignored = list(table.unknown)
    ignored += [F.LABELS[f] for f in table.fields if f not in spec.required + spec.optional]
    if ignored:
        report.notes.append(f"忽略的列：{'、'.join(ignored)}")
