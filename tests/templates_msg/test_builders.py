"""Each template's data stays within WeChat's field-type limits (§9)."""
from __future__ import annotations

import datetime as dt

import pytest

from templates_msg import builders
from templates_msg.builders import TemplateDataError, validate

LONG_COMMUNITY = "阳光花园国际社区二期南区（东门）"
LONG_HOUSE = "12栋-3单元-1502"


def test_amounts_dates_and_phrases_have_the_expected_shape():
    assert builders.amount(12834) == "¥128.34"
    assert builders.amount(5) == "¥0.05"
    assert builders.amount(-100) == "¥0.00"
    assert builders.date(dt.date(2026, 11, 25)) == "2026年11月25日"
    assert builders.date_time(dt.datetime(2026, 11, 25, 9, 5)) == "2026年11月25日 09:05"
    assert builders.phrase("缴费成功!") == "缴费成功"
    assert builders.character_string("WX 4200001234567890123456789012345678") == \
        "00001234567890123456789012345678"


def test_a_long_house_label_is_cut_to_twenty_characters_keeping_the_house():
    label = builders.house_label(LONG_COMMUNITY, LONG_HOUSE)
    assert len(label) == 20 and label.endswith(" " + LONG_HOUSE) and "…" in label
    assert builders.house_label("阳光花园", "3栋-1502") == "阳光花园 3栋-1502"
    assert len(builders.house_label("x", "栋" * 30)) == 20
    assert builders.thing("一二三四五六七八九十一二三四五六七八九十一") == "一二三四五六七八九十一二三四五六七八九…"
    assert builders.thing("  ") == "-"


@pytest.mark.parametrize("kind,kwargs", [
    ("bill_issued", dict(community=LONG_COMMUNITY, house=LONG_HOUSE, fee_name="物业服务费（含公摊能耗）",
                         period="2026-11", amount_fen=9_999_999_999, due_date=dt.date(2026, 11, 25))),
    ("due_soon", dict(community=LONG_COMMUNITY, house=LONG_HOUSE, fee_name="物业费", period="2026-11",
                      amount_fen=12834, due_date=dt.date(2026, 11, 25), days_left=3)),
    ("due_soon", dict(community="c", house="h", fee_name="f", period="2026-11",
                      amount_fen=0, due_date=dt.date(2026, 11, 25), days_left=0)),
    ("overdue", dict(community=LONG_COMMUNITY, house=LONG_HOUSE, fee_name="停车费", period="2026-11",
                     amount_fen=15000, due_date=dt.date(2026, 11, 25), days_overdue=21)),
    ("payment_success", dict(community=LONG_COMMUNITY, house=LONG_HOUSE, amount_fen=12834,
                             paid_at=dt.datetime(2026, 11, 24, 20, 1),
                             receipt_no="R-2026-0000000000000000000000000000001")),
    ("dispute_reply", dict(community="阳光花园", house="1-101", reply="您好，经核查本月水表读数无误，" * 3,
                           status="已答复", replied_at=dt.datetime(2026, 11, 24, 10, 0))),
])
def test_every_builder_stays_within_the_limits(kind, kwargs):
    data = builders.BUILDERS[kind](**kwargs)
    assert builders.problems(data) == {}
    for key, item in data.items():
        if key.startswith("thing"):
            assert len(item["value"]) <= 20


def test_the_validator_names_every_bad_field():
    with pytest.raises(TemplateDataError) as raised:
        validate({"thing1": {"value": "x" * 21}, "phrase2": {"value": "ok"}, "amount3": {"value": "¥1.00"},
                  "character_string4": {"value": "a" * 33}, "unknown5": {"value": "x"},
                  "date6": {"value": "2026-11-25"}})
    assert set(raised.value.problems) == {"thing1", "phrase2", "character_string4", "unknown5"}
    with pytest.raises(TemplateDataError):
        validate({})
