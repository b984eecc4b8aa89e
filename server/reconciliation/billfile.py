"""Streaming reader of WeChat Pay's trade bill (对账单, wechat-pay-v3.md §7).

UTF-8 with a BOM, CRLF lines, a header row of column names, data rows whose
every field starts with a back-tick, then a summary header (总交易单数, …) and
one summary row.  Columns are found by name, so ``ALL``, ``SUCCESS`` and
``REFUND`` bills all read.  The file is read line by line: memory does not
grow with its size.  While reading, the detail rows are totalled, so the
summary row can be checked against them (``totals`` and ``summary``).

WeChat never quotes a field nor puts a comma inside one (free text has its
commas replaced), and every data field starts with a back-tick: so ",`"
separates the fields of a data line exactly — where ``csv`` would also split
a stray comma inside a field — and splitting on it is faster than ``csv``.

Amounts are 元 strings and become integer fen exactly, never through float:
the canonical form (digits, a point, two digits) by removing the point, any
other through ``Decimal``; a fraction of a fen is an error, not a rounding.
Fees (five places) are kept in units of 0.00001 元 the same way.
"""
from __future__ import annotations

import dataclasses
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from typing import IO, Iterator, NamedTuple

PAYMENT, REFUND = "p", "r"
SUMMARY_FIRST = "总交易单数"
_COLUMNS = ("微信订单号", "商户订单号", "交易状态", "订单金额", "应结订单金额", "手续费",
            "商户退款单号", "退款金额", "退款状态")
_OPTIONAL = ("商户退款单号", "退款金额", "退款状态")    # absent from SUCCESS bills
_SUMMARY = {"总交易单数": "rows", "应结订单总金额": "settle_fen", "退款总金额": "refund_fen",
            "手续费总金额": "fee_e5"}


class BillFormatError(ValueError):
    """The file is not a trade bill we can read exactly."""


def _exact(text: str, places: int) -> int:
    try:
        value = Decimal(text).scaleb(places)
    except InvalidOperation:
        raise BillFormatError(f"“{text}”不是金额") from None
    if not value.is_finite() or value != value.to_integral_value():
        raise BillFormatError(f"金额“{text}”超过 {places} 位小数")
    return int(value)


def yuan_to_fen(text: str) -> int:
    """``"12.34"`` → ``1234`` exactly; ``"0.001"`` raises.  (``int`` checks the
    digits of the canonical form; ``Decimal`` accepts exactly the same strings.)"""
    if text[-3:-2] == ".":
        try:
            return int(text.replace(".", "", 1))
        except ValueError:
            pass
    return _exact(text, 2)


def fee_units(text: str) -> int:
    """A fee of 元 with five places (``"0.06000"``) in units of 0.00001 元."""
    if text[-6:-5] == ".":
        try:
            return int(text.replace(".", "", 1))
        except ValueError:
            pass
    return _exact(text, 5)


def _fen(raw: bytes) -> int:
    """``yuan_to_fen`` of a field still in bytes (the reader decodes only what it keeps)."""
    if raw[-3:-2] == b".":
        try:
            return int(raw.replace(b".", b"", 1))
        except ValueError:
            pass
    return _exact(raw.decode(), 2)


def _fee(raw: bytes) -> int:
    if raw[-6:-5] == b".":
        try:
            return int(raw.replace(b".", b"", 1))
        except ValueError:
            pass
    return _exact(raw.decode(), 5)


class BillRow(NamedTuple):
    """One detail row: a payment row (``PAYMENT``) is known by its transaction_id,
    a refund row (``REFUND``) by its out_refund_no."""

    kind: str
    reference: str           # 微信订单号 | 商户退款单号
    out_trade_no: str
    state: str               # 交易状态 (SUCCESS, REVOKED …) | 退款状态 (SUCCESS, PROCESSING, FAIL, CHANGE)
    amount_fen: int          # 订单金额 | 退款金额


@dataclasses.dataclass
class Totals:
    rows: int = 0
    settle_fen: int = 0      # Σ 应结订单金额
    refund_fen: int = 0      # Σ 退款金额
    fee_e5: int = 0          # Σ 手续费, 0.00001 元
    payments: int = 0        # SUCCESS payment rows
    payment_fen: int = 0
    refunds: int = 0         # refund rows
    refund_rows_fen: int = 0


def _count(text: str) -> int:
    """The summary writes the row count as ``45.0``."""
    hundredths = yuan_to_fen(text)
    if hundredths % 100:
        raise BillFormatError(f"汇总行的总笔数“{text}”不是整数")
    return hundredths // 100


class BillReader:
    """Iterate ``BillRow``s.  Afterwards ``summary`` is the summary row (``rows``,
    fen, ``fee_e5``) and ``totals`` what the detail rows add up to."""

    def __init__(self, stream: IO[bytes]):
        self._lines = enumerate(stream, start=1)
        header = self._next_line()
        if not header:
            raise BillFormatError("对账单是空的")
        names = [name.strip() for name in header.split(",")]
        self.index = {name: i for i, name in enumerate(names)}
        missing = [n for n in _COLUMNS if n not in self.index and n not in _OPTIONAL]
        if missing:
            raise BillFormatError(f"对账单表头缺少列：{'、'.join(missing)}")
        self._width = len(names)
        self._refunds = all(n in self.index for n in _OPTIONAL)
        self._get = itemgetter(*(self.index[n] for n in _COLUMNS if n in self.index))
        self.totals = Totals()
        self.summary: dict | None = None

    def summary_agrees(self) -> bool:
        t = self.totals
        return self.summary == {"rows": t.rows, "settle_fen": t.settle_fen, "refund_fen": t.refund_fen,
                                "fee_e5": t.fee_e5}

    def _next_line(self) -> str | None:
        for number, raw in self._lines:
            return self._decode(raw, number).lstrip("\ufeff").rstrip("\r\n")
        return None

    def _data_lines(self) -> Iterator[tuple[int, list[bytes]]]:
        """(line number, fields) of each data row, the fields still in bytes (the
        reader decodes only the few it keeps); reads the summary at the end."""
        width = self._width
        for number, raw in self._lines:
            if raw[:1] != b"`":
                line = self._decode(raw, number).rstrip("\r\n")
                if not line:
                    continue
                if line.startswith(SUMMARY_FIRST):
                    self._read_summary(line)
                    return
                raise BillFormatError(f"第 {number} 行不是明细行：{line[:40]}")
            fields = raw[1:].rstrip(b"\r\n").split(b",`")
            if len(fields) != width:
                raise BillFormatError(f"第 {number} 行有 {len(fields)} 列，表头有 {width} 列")
            yield number, fields
        raise BillFormatError("对账单缺少末尾的汇总行")

    @staticmethod
    def _decode(raw: bytes, number: int) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BillFormatError(f"第 {number} 行不是 UTF-8 编码") from None

    def __iter__(self) -> Iterator[BillRow]:
        get, refunds, new = self._get, self._refunds, tuple.__new__
        rows = settle = refund_total = fee_total = payments = payment_fen = refund_rows = refund_fen = 0
        try:
            for number, fields in self._data_lines():
                if refunds:
                    txn, otn, state, order, row_settle, fee, rno, refund, rstate = get(fields)
                else:       # a SUCCESS bill: payment rows only
                    txn, otn, state, order, row_settle, fee = get(fields)
                    rno, refund, rstate = b"0", b"0.00", b""
                try:
                    settle += _fen(row_settle)
                    fee_total += _fee(fee)
                    if rno == b"0" or not rno:
                        amount = _fen(order)
                        if refund != b"0.00":
                            refund_total += _fen(refund)
                        state = state.decode()
                        if state == "SUCCESS":
                            payments += 1
                            payment_fen += amount
                        row = new(BillRow, (PAYMENT, txn.decode(), otn.decode(), state, amount))
                    else:
                        amount = _fen(refund)
                        refund_total += amount
                        refund_rows += 1
                        refund_fen += amount
                        row = new(BillRow, (REFUND, rno.decode(), otn.decode(), rstate.decode(), amount))
                except BillFormatError as exc:
                    raise BillFormatError(f"第 {number} 行：{exc}") from None
                except UnicodeDecodeError:
                    raise BillFormatError(f"第 {number} 行不是 UTF-8 编码") from None
                rows += 1
                yield row
        finally:
            self.totals = Totals(rows, settle, refund_total, fee_total, payments, payment_fen, refund_rows,
                                 refund_fen)

    def payment_fields(self, references: set, names: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
        """For the payment rows whose transaction_id is in ``references``, the fields
        ``names`` ("" for a column the bill lacks).  A plain scan of a fresh reader."""
        at = [self.index.get(name) for name in names]
        txn, rno = self.index["微信订单号"], self.index.get("商户退款单号")
        wanted = {reference.encode() for reference in references}
        found = {}
        for number, fields in self._data_lines():
            if fields[txn] in wanted and (rno is None or fields[rno] in (b"", b"0")):
                found[fields[txn].decode()] = tuple(self._decode(fields[i], number) if i is not None else ""
                                                    for i in at)
        return found

    def _read_summary(self, header_line: str) -> None:
        header = header_line.split(",")
        line = self._next_line()
        if not line or line[:1] != "`":
            raise BillFormatError("对账单缺少汇总行")
        values = line[1:].split(",`")
        if len(values) != len(header):
            raise BillFormatError("对账单汇总行的列数与其表头不符")
        summary = {}
        for name, raw in zip(header, values):
            key = _SUMMARY.get(name.strip())
            if key == "rows":
                summary[key] = _count(raw)
            elif key == "fee_e5":
                summary[key] = fee_units(raw)
            elif key is not None:
                summary[key] = yuan_to_fen(raw)
        self.summary = summary
