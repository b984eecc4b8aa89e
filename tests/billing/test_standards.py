"""Fee items and versioned fee standards: draft → publish, never edited after."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from server.audit import AuditLog
from server.billing import standards
from server.billing.models import Cycle, Method, StandardStatus
from server.errors import Conflict, ValidationError
from tests import factories as f


def _draft(item, actor, **overrides):
    values = dict(method=Method.PER_AREA, unit_price=Decimal("2.5000"), cycle=Cycle.MONTHLY,
                  due_day=15, effective_from=dt.date(2026, 1, 1))
    values.update(overrides)
    return standards.create_standard(item.id, actor, **values)


def test_fee_item_codes_are_unique_per_community(database):
    comm, actor = f.community(), f.staff_actor()
    standards.create_fee_item(comm.id, "WYF", "物业费", actor)
    with pytest.raises(Conflict):
        standards.create_fee_item(comm.id, "WYF", "物业费", actor)
    standards.create_fee_item(f.community().id, "WYF", "物业费", actor)


def test_versions_count_up_per_item_and_start_as_drafts(database):
    comm, actor = f.community(), f.staff_actor()
    item = standards.create_fee_item(comm.id, "WYF", "物业费", actor)
    first = _draft(item, actor)
    second = _draft(item, actor, effective_from=dt.date(2026, 7, 1))
    assert (first.version, second.version) == (1, 2)
    assert first.status == StandardStatus.DRAFT
    assert first.unit == "m²·月"
    assert AuditLog.select().where(AuditLog.action == "fee_standard.create").count() == 2


def test_validation_lists_every_bad_field(database):
    item, actor = f.fee_item(f.community(), "SF"), f.staff_actor()
    with pytest.raises(ValidationError) as caught:
        _draft(item, actor, method=Method.METERED, unit_price=Decimal("1.23456"), due_day=0,
               late_fee_cap_ratio=Decimal("1.5"), cycle=Cycle.QUARTERLY)
    assert set(caught.value.details) == {"unit_price", "due_day", "late_fee_cap_ratio", "cycle", "unit"}


def test_float_prices_are_refused(database):
    item, actor = f.fee_item(f.community(), "TCF"), f.staff_actor()
    with pytest.raises(ValidationError) as caught:
        _draft(item, actor, method=Method.FIXED, unit_price=150.0)
    assert "unit_price" in caught.value.details


def test_a_published_standard_is_never_edited(database):
    item, actor = f.fee_item(f.community(), "WYF"), f.staff_actor()
    draft = _draft(item, actor)
    standards.update_draft(draft.id, actor, unit_price=Decimal("2.8000"))
    standards.publish_standard(draft.id, actor)
    with pytest.raises(Conflict):
        standards.update_draft(draft.id, actor, unit_price=Decimal("3"))
    with pytest.raises(Conflict):
        standards.publish_standard(draft.id, actor)
    assert f.reload(draft).unit_price == Decimal("2.8000")


def test_a_later_version_supersedes_from_its_effective_date(database):
    item, actor = f.fee_item(f.community(), "WYF"), f.staff_actor()
    old = standards.publish_standard(_draft(item, actor).id, actor)
    new = standards.publish_standard(
        _draft(item, actor, unit_price=Decimal("3.0000"), effective_from=dt.date(2026, 7, 1)).id, actor)
    _draft(item, actor, unit_price=Decimal("9"), effective_from=dt.date(2026, 9, 1))  # draft: ignored
    assert standards.standard_for(item, dt.date(2025, 12, 31)) is None
    assert standards.standard_for(item, dt.date(2026, 6, 30)).id == old.id
    assert standards.standard_for(item.id, dt.date(2026, 7, 1)).id == new.id
    assert standards.standard_for(item, dt.date(2026, 12, 1)).id == new.id


def test_a_new_version_must_take_effect_after_the_published_one(database):
    item, actor = f.fee_item(f.community(), "WYF"), f.staff_actor()
    standards.publish_standard(_draft(item, actor, effective_from=dt.date(2026, 7, 1)).id, actor)
    earlier = _draft(item, actor, effective_from=dt.date(2026, 7, 1))
    with pytest.raises(ValidationError) as caught:
        standards.publish_standard(earlier.id, actor)
    assert "effective_from" in caught.value.details


def test_a_standard_with_an_end_date_is_not_in_force_after_it(database):
    item, actor = f.fee_item(f.community(), "TCF"), f.staff_actor()
    std = _draft(item, actor, method=Method.FIXED, unit_price=Decimal(150),
                 effective_to=dt.date(2026, 3, 31))
    standards.publish_standard(std.id, actor)
    assert standards.standard_for(item, dt.date(2026, 3, 31)).id == std.id
    assert standards.standard_for(item, dt.date(2026, 4, 1)) is None
