"""Write a table to CSV (UTF-8 with BOM, so Excel on Windows opens it right)
or XLSX (openpyxl's write-only workbook, streamed row by row).

Amounts arrive here already formatted as yuan strings; text that Excel would
take for a formula (=, +, -, @ …) is neutralised by ``safe_text`` in the row
builders, since owner names come from imported files.
"""
from __future__ import annotations

import contextlib
import csv
import datetime as dt
from pathlib import Path
from typing import Iterator

FORMATS = ("csv", "xlsx")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ExportFormatError(ValueError):
    pass


def format_for(path: str | Path, fmt: str | None = None) -> str:
    """The explicit ``fmt`` or the one the file name implies."""
    chosen = (fmt or Path(path).suffix.lstrip(".")).lower()
    if chosen not in FORMATS:
        raise ExportFormatError(f"导出格式应为 csv 或 xlsx，而不是 {chosen or '(空)'}")
    return chosen


def safe_text(value: str) -> str:
    """Text a spreadsheet must show as text, never evaluate."""
    if value and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class _CsvSink:
    def __init__(self, fh):
        self._writer = csv.writer(fh)

    def write(self, row: list) -> None:
        self._writer.writerow(["" if v is None else v.isoformat() if isinstance(v, dt.date) else v
                               for v in row])


class _XlsxSink:
    def __init__(self, sheet):
        self._sheet = sheet

    def write(self, row: list) -> None:
        self._sheet.append(row)


@contextlib.contextmanager
def table_writer(path: str | Path, fmt: str, headers: list[str],
                 sheet_title: str = "Sheet1") -> Iterator:
    """Yield an object whose ``write(row)`` appends a row after ``headers``."""
    if fmt == "csv":
        with open(path, "w", encoding="utf-8-sig", newline="") as fh:
            sink = _CsvSink(fh)
            sink.write(headers)
            yield sink
        return
    if fmt == "xlsx":
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(title=sheet_title)
        sink = _XlsxSink(sheet)
        sink.write(headers)
        try:
            yield sink
        except BaseException:
            workbook.close()
            raise
        workbook.save(str(path))
        return
    raise ExportFormatError(f"导出格式应为 csv 或 xlsx，而不是 {fmt}")
