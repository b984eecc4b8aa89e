"""Read a CSV or XLSX file as rows of ``{field: value}`` keyed by canonical header.

Property staff keep their lists in Excel on Chinese Windows, so a CSV may be
UTF-8 (with or without the BOM Excel writes), UTF-16 ("Unicode text", tab
separated) or GBK; GB18030 is tried last because it is a superset of GBK and
never fails on the legacy files.  XLSX is streamed with openpyxl's read-only
mode.  Headers may be Chinese or English (``楼栋`` or ``building``); a trailing
``(元)`` or ``*`` is ignored, and a title row above the header is skipped.
Only the first worksheet of a workbook is read.

Values come out as ``str`` (stripped, ``''`` for an empty cell), ``int`` for
whole-number cells, ``datetime.date``/``datetime.datetime`` for date cells.  A
fractional number cell (which openpyxl hands over as a binary float) is turned
into its shortest decimal string here, at the edge, so no float travels any
further: ``12.34`` stays ``"12.34"`` and a value like ``0.30000000000000004``
fails the two-decimal check downstream instead of being rounded.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import itertools
import re
import warnings
from pathlib import Path
from typing import BinaryIO, Iterator

# canonical field → accepted headers (compared after ``normalize_header``).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "building": ("楼栋", "楼号", "楼宇", "栋", "幢", "building"),
    "unit": ("单元", "unit"),
    "room": ("房号", "房间号", "室号", "room", "room_no"),
    "area": ("面积", "建筑面积", "房屋面积", "area", "floor_area"),
    "owner_name": ("业主", "业主姓名", "姓名", "owner", "owner_name"),
    "phone": ("电话", "手机", "手机号", "联系电话", "phone", "mobile"),
    "status": ("状态", "房屋状态", "status"),
    "fee_item": ("收费项目", "费用项目", "fee_item", "item"),
    "period": ("账期", "所属期", "期间", "period"),
    "previous": ("上期读数", "previous", "previous_reading"),
    "current": ("本期读数", "current", "current_reading"),
    "read_on": ("抄表日期", "read_on", "read_date"),
    "amount": ("金额", "欠费金额", "应收金额", "amount"),
    "due_date": ("到期日", "应缴日期", "截止日期", "due_date"),
}
_ALIAS_TO_FIELD = {alias: field for field, aliases in HEADER_ALIASES.items() for alias in aliases}
_SUFFIX_RE = re.compile(r"[（(][^）)]*[）)]$")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
HEADER_SEARCH_ROWS = 10
_ZIP_MAGIC = b"PK\x03\x04"


class ReadError(ValueError):
    """The file cannot be read as a table at all."""


def normalize_header(raw) -> str:
    text = "" if raw is None else str(raw)
    text = text.replace("\ufeff", "").strip().strip("*").strip()
    text = _SUFFIX_RE.sub("", text).strip()
    return re.sub(r"\s+", "_", text.lower())


def field_for_header(raw) -> str | None:
    return _ALIAS_TO_FIELD.get(normalize_header(raw))


class Table:
    """An open table: ``fields`` found in the header, then ``rows()`` once.

    Use as a context manager so an XLSX workbook's file is closed.
    """

    def __init__(self, fmt: str, sha256: str, header: list, body: Iterator[tuple[int, tuple]],
                 closer=None):
        self.format = fmt
        self.sha256 = sha256
        self.header = [normalize_header(h) for h in header]
        self.columns: dict[str, int] = {}
        self.duplicates: list[str] = []
        self.unknown: list[str] = []
        for index, raw in enumerate(header):
            field = field_for_header(raw)
            if field is None:
                if normalize_header(raw):
                    self.unknown.append(str(raw).strip())
            elif field in self.columns:
                self.duplicates.append(str(raw).strip())
            else:
                self.columns[field] = index
        self._body = body
        self._closer = closer

    @property
    def fields(self) -> set[str]:
        return set(self.columns)

    def rows(self) -> Iterator[tuple[int, dict]]:
        """``(row number as shown in Excel, values)``; blank rows are skipped."""
        for number, cells in self._body:
            values = {field: _cell(cells[i] if i < len(cells) else None)
                      for field, i in self.columns.items()}
            if any(v != "" for v in values.values()):
                yield number, values

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
            self._closer = None

    def __enter__(self) -> "Table":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_table(source: str | Path | bytes | BinaryIO, filename: str | None = None) -> Table:
    """Open ``source`` (a path, the file's bytes or a binary file object)."""
    if isinstance(source, (str, Path)):
        filename = filename or str(source)
        data = Path(source).read_bytes()
    elif isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        data = source.read()
    digest = hashlib.sha256(data).hexdigest()
    name = (filename or "").lower()
    if name.endswith(".xls"):
        raise ReadError("不支持旧版 .xls 文件，请在 Excel 中另存为 .xlsx 或 .csv")
    if name.endswith(XLSX_SUFFIXES) or data.startswith(_ZIP_MAGIC):
        return _xlsx_table(data, digest)
    return _csv_table(data, digest)


def decode_csv(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise ReadError("无法识别文件编码（应为 UTF-8 或 GBK）") from None


def _csv_table(data: bytes, digest: str) -> Table:
    text = decode_csv(data)
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise ReadError(f"CSV 格式错误：{exc}") from None
    return _table("csv", digest, enumerate((tuple(r) for r in records), start=1))


def _xlsx_table(data: bytes, digest: str) -> Table:
    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl's style/extension chatter
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # zipfile, XML and openpyxl errors alike
        raise ReadError(f"无法读取 Excel 文件：{exc}") from None
    sheet = workbook.worksheets[0]  # the first sheet is the data
    sheet.reset_dimensions()  # trust the cells, not a possibly stale <dimension>
    try:
        return _table("xlsx", digest, _quiet_rows(sheet.iter_rows(min_row=1, values_only=True)),
                      closer=workbook.close)
    except ReadError:
        workbook.close()
        raise


def _table(fmt: str, digest: str, numbered: Iterator[tuple[int, tuple]], closer=None) -> Table:
    """Find the header — the first of the top rows naming two known columns,
    since sheets often carry a title row above it; row 1 if none does — and
    wrap the rows below it, keeping their numbers as in the file."""
    numbered = iter(numbered)
    top = list(itertools.islice(numbered, HEADER_SEARCH_ROWS))
    if not top:
        raise ReadError("文件为空")
    at = next((i for i, (_, cells) in enumerate(top)
               if sum(field_for_header(c) is not None for c in cells) >= 2), 0)
    body = itertools.chain(top[at + 1:], numbered)
    return Table(fmt, digest, list(top[at][1]), body, closer=closer)


def _quiet_rows(rows) -> Iterator[tuple[int, tuple]]:
    number = 0
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. a date cell out of range becomes "#VALUE!"
            row = next(rows, None)
        if row is None:
            return
        number += 1
        yield number, row


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("\ufeff", "").strip()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        # Shortest repr that round-trips: the decimal text Excel stored.
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    if isinstance(value, dt.datetime):
        return value.date() if value.time() == dt.time() else value
    if isinstance(value, dt.date):
        return value
    return str(value).strip()
