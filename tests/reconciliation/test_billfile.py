"""Reading WeChat's trade bill exactly: BOM, CRLF, back-ticks, columns by name,
yuan → fen without float, the summary row (wechat-pay-v3.md §7)."""
from __future__ import annotations

import io
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.sandbox.bills import ALL_COLUMNS, REFUND_COLUMNS, SUCCESS_COLUMNS
from server.reconciliation.billfile import (PAYMENT, REFUND, BillFormatError, BillReader, BillRow,
                                            fee_units, yuan_to_fen)

# The line of the published fixture (§7), and its summary, as WeChat writes them.
DOC_ROW = ("`2019-02-19 18:19:32,`wxab8acd895ab1638a,`1921000401,`0,`harryma007,"
           "`4200000263201902167700134203,`autotest_20190219181930_76386,`oHkLxt5HnHcBDewv4dLc8xivG1DuE,"
           "`JSAPI,`SUCCESS,`OTHERS,`CNY,`0.01,"
           "`0.00,`0,`0,`0.00,`0.00,`,`,`系统拨测-cheeryin-test_micropay_succ,`,`0.00000,`39.00%,`0.01,`0.00,`")
SUMMARY_HEADER = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"


ONE_CENT = "`1.0,`0.01,`0.00,`0.0,`0.00000,`0.01,`0.00"


def bill(*rows: str, columns=ALL_COLUMNS, summary: str = ONE_CENT) -> io.BytesIO:
    text = "\r\n".join([",".join(columns), *rows, SUMMARY_HEADER, summary]) + "\r\n"
    return io.BytesIO("\ufeff".encode() + text.encode())


def test_the_published_sample_reads_with_its_summary():
    reader = BillReader(bill(DOC_ROW))
    rows = list(reader)
    assert rows == [BillRow(PAYMENT, "4200000263201902167700134203", "autotest_20190219181930_76386",
                            "SUCCESS", 1)]
    assert reader.summary == {"rows": 1, "settle_fen": 1, "refund_fen": 0, "fee_e5": 0}
    assert reader.summary_agrees()
    assert (reader.totals.payments, reader.totals.payment_fen) == (1, 1)


def test_refund_rows_are_known_by_their_out_refund_no():
    fields = DOC_ROW.split(",`")
    fields[9], fields[12], fields[14], fields[15], fields[16], fields[19] = \
        "REFUND", "0.00", "50300000012019", "RF001", "0.01", "SUCCESS"
    reader = BillReader(bill(",`".join(fields), summary="`1.0,`0.00,`0.01,`0.0,`0.00000,`0.00,`0.01"))
    assert list(reader) == [BillRow(REFUND, "RF001", "autotest_20190219181930_76386", "SUCCESS", 1)]
    assert reader.summary_agrees() and reader.totals.refund_rows_fen == 1


def test_columns_are_found_by_name_in_success_and_refund_bills():
    values = {name: "`x" for name in REFUND_COLUMNS}
    values.update({"微信订单号": "`4200000001", "商户订单号": "`OTN1", "交易状态": "`SUCCESS", "订单金额": "`12.34",
                   "应结订单金额": "`12.34", "手续费": "`0.07404", "商户退款单号": "`0", "退款金额": "`0.00"})
    for columns in (SUCCESS_COLUMNS, REFUND_COLUMNS, list(reversed(ALL_COLUMNS))):
        row = ",".join(values.get(c, "`") for c in columns)
        summary = "`1.0,`12.34,`0.00,`0.0,`0.07404,`12.34,`0.00"
        reader = BillReader(bill(row, columns=columns, summary=summary))
        assert list(reader) == [BillRow(PAYMENT, "4200000001", "OTN1", "SUCCESS", 1234)]
        assert reader.summary_agrees()


def test_a_comma_inside_a_free_text_field_does_not_shift_the_columns():
    row = DOC_ROW.replace("系统拨测-cheeryin", "物业费,停车费")
    assert list(BillReader(bill(row)))[0].amount_fen == 1


@pytest.mark.parametrize("text, fen", [("0.01", 1), ("12.34", 1234), ("100", 10000), ("0.1", 10),
                                       ("8.165", None), ("-0.50", -50), ("1e2", 10000), ("1.2.34", None),
                                       ("abc", None), ("", None), ("NaN", None)])
def test_yuan_become_fen_exactly_or_not_at_all(text, fen):
    if fen is None:
        with pytest.raises(BillFormatError):
            yuan_to_fen(text)
    else:
        assert yuan_to_fen(text) == fen


@given(st.decimals(min_value=Decimal("-99999999.99"), max_value=Decimal("99999999.99"), places=2,
                   allow_nan=False, allow_infinity=False))
def test_the_fast_path_agrees_with_decimal(value):
    text = f"{value:.2f}"
    assert yuan_to_fen(text) == int(Decimal(text) * 100)
    assert fee_units(f"{value:.5f}") == int(Decimal(f"{value:.5f}") * 100000)


def test_a_summary_that_disagrees_with_the_rows_is_noticed():
    reader = BillReader(bill(DOC_ROW, DOC_ROW))
    list(reader)
    assert reader.summary["rows"] == 1 and reader.totals.rows == 2
    assert not reader.summary_agrees()


@pytest.mark.parametrize("broken, message", [
    (lambda d: d.replace(b"`0.01,`0.00,`0,`0", b"`0.011,`0.00,`0,`0", 1), "第 2 行：金额“0.011”超过 2 位小数"),
    (lambda d: d.replace(b",`JSAPI", b"", 1), r"第 2 行有 \d+ 列，表头有 \d+ 列"),
    (lambda d: d[:d.index("总交易单数".encode())], "缺少末尾的汇总行"),
    (lambda d: d.replace(b"autotest_", b"\xff\xfe", 1), "第 2 行不是 UTF-8 编码"),
    (lambda d: b"", "对账单是空的"),
    (lambda d: d.replace("订单金额".encode(), b"amount"), "表头缺少列：订单金额"),
])
def test_a_damaged_file_is_refused_with_its_line(broken, message):
    data = broken(bill(DOC_ROW).getvalue())
    with pytest.raises(BillFormatError, match=message):
        list(BillReader(io.BytesIO(data)))


def test_blank_lines_and_a_missing_final_crlf_are_fine():
    data = bill(DOC_ROW).getvalue().replace(b"\r\n" + "总交易单数".encode(), b"\r\n\r\n" + "总交易单数".encode())
    reader = BillReader(io.BytesIO(data.rstrip(b"\r\n")))
    assert len(list(reader)) == 1 and reader.summary_agrees()
