"""Per-community stage switches: a stage switched off (bill_issued, due_soon, due_day) is
never sent while the others still are; ``set_policy`` saves and audits the switches;
migration 0006 gives existing policy rows every stage on."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from server import audit
from server import migrations
from server.audit import AuditLog
from server.errors import ValidationError
from server.timeutil import SHANGHAI
from templates_msg import registry
from templates_msg.models import ReminderLog, ReminderPolicy, ReminderResult as R
from templates_msg.reminders import Policy, policy_for, send_due_reminders, set_policy, stage_for

DUE = dt.date(2026, 11, 25)   # the world bill's due date; default N=3, K=7, M=3
# One run in the days of each stage, in order.
RUNS = [("2026-11-10T10:00", "bill_issued"), ("2026-11-22T10:00", "due_soon"),
        ("2026-11-25T10:00", "due_day"), ("2026-12-02T10:00", "overdue_1")]
SWITCHES = {"bill_issued": "bill_issued_on", "due_soon": "due_soon_on", "due_day": "due_day_on"}
ACTOR = audit.Actor.system("test")


def cst(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def run_every_stage(world, mp) -> list[str]:
    """Enough accepts for every stage, a run in each stage's days; the stages sent."""
    world.accept(registry.Kind.BILL_ISSUED)
    world.accept(registry.Kind.DUE_SOON, times=2)     # due_soon and due_day share the template
    world.accept(registry.Kind.OVERDUE)
    for moment, _ in RUNS:
        send_due_reminders(mp, cst(moment))
    return [log.stage for log in ReminderLog.select().where(ReminderLog.result == R.SENT)
            .order_by(ReminderLog.id)]


# ------------------------------------------------------------------------ stage_for
@pytest.mark.parametrize("stage,switch", SWITCHES.items())
def test_a_stage_switched_off_has_no_stage_in_its_days(stage, switch):
    policy = Policy(**{switch: False})
    for moment, expected in RUNS:
        today = dt.date.fromisoformat(moment[:10])
        assert stage_for(DUE, today, policy) == (None if expected == stage else expected)


def test_every_stage_is_on_by_default():
    assert all(getattr(Policy(), switch) for switch in SWITCHES.values())
    assert [stage_for(DUE, dt.date.fromisoformat(m[:10])) for m, _ in RUNS] == [s for _, s in RUNS]


# ---------------------------------------------------------------- sends (sandbox)
@pytest.mark.parametrize("stage,switch", SWITCHES.items())
def test_a_switched_off_stage_is_never_sent_and_the_others_still_are(world, mp, stage, switch):
    set_policy(world.bill.community_id, ACTOR, due_soon_days=3, overdue_every_days=7, overdue_max=3,
               **{switch: False})
    sent = run_every_stage(world, mp)
    assert sent == [s for _, s in RUNS if s != stage]
    assert not ReminderLog.select().where(ReminderLog.stage == stage).exists()
    assert len(world.sent()) == len(RUNS) - 1


def test_with_every_switch_on_every_stage_is_sent(world, mp):
    ReminderPolicy.create(community=world.bill.community_id)
    assert run_every_stage(world, mp) == [s for _, s in RUNS]


def test_all_three_off_leaves_only_the_overdue_reminders(world, mp):
    ReminderPolicy.create(community=world.bill.community_id, bill_issued_on=False,
                          due_soon_on=False, due_day_on=False)
    assert run_every_stage(world, mp) == ["overdue_1"]


def test_a_switch_turned_back_on_sends_the_stage_of_the_day(world, mp):
    community = world.bill.community_id
    set_policy(community, ACTOR, due_soon_days=3, overdue_every_days=7, overdue_max=3, due_soon_on=False)
    world.accept(registry.Kind.DUE_SOON)
    assert send_due_reminders(mp, cst("2026-11-22T10:00")) == {}
    set_policy(community, ACTOR, due_soon_days=3, overdue_every_days=7, overdue_max=3, due_soon_on=True)
    assert send_due_reminders(mp, cst("2026-11-23T10:00")) == {R.SENT: 1}
    assert ReminderLog.get().stage == "due_soon"


# ------------------------------------------------------------------------ set_policy
def test_set_policy_saves_and_audits_the_switches(world):
    community = world.bill.community_id
    set_policy(community, ACTOR, due_soon_days=5, overdue_every_days=7, overdue_max=3,
               bill_issued_on=False, due_day_on=False)
    row = ReminderPolicy.get(ReminderPolicy.community == community)
    assert (row.bill_issued_on, row.due_soon_on, row.due_day_on) == (False, True, False)
    assert policy_for(community) == Policy(5, 7, 3, bill_issued_on=False, due_day_on=False)
    log = AuditLog.get(AuditLog.action == "reminder_policy.update")
    assert log.before == dataclasses.asdict(Policy())
    assert log.after == {"due_soon_days": 5, "overdue_every_days": 7, "overdue_max": 3,
                         "bill_issued_on": False, "due_soon_on": True, "due_day_on": False}
    assert log.community_id == community and log.entity_id == str(community)


def test_set_policy_keeps_switches_not_given_and_the_same_values_change_nothing(world):
    community = world.bill.community_id
    set_policy(community, ACTOR, due_soon_days=3, overdue_every_days=7, overdue_max=3, due_day_on=False)
    # A caller that does not know the switches (N, K, M only) leaves them as they are.
    set_policy(community, ACTOR, due_soon_days=4, overdue_every_days=7, overdue_max=3)
    assert policy_for(community) == Policy(4, 7, 3, due_day_on=False)
    set_policy(community, ACTOR, due_soon_days=4, overdue_every_days=7, overdue_max=3, due_day_on=False)
    logs = list(AuditLog.select().where(AuditLog.action == "reminder_policy.update").order_by(AuditLog.id))
    assert len(logs) == 2
    assert logs[1].before["due_day_on"] is False and logs[1].after["due_day_on"] is False
    assert (logs[1].before["due_soon_days"], logs[1].after["due_soon_days"]) == (3, 4)


def test_set_policy_refuses_a_switch_that_is_not_a_bool(world):
    with pytest.raises(ValidationError):
        set_policy(world.bill.community_id, ACTOR, due_soon_days=3, overdue_every_days=7,
                   overdue_max=3, due_soon_on="off")
    assert ReminderPolicy.select().count() == 0 and AuditLog.select().count() == 0


# ------------------------------------------------------------------------- migration


def test_the_migration_turns_every_stage_on_for_existing_policies(empty_database):
    db = empty_database
    migrations.upgrade(db, target="0005_admin")
    db.execute_sql("INSERT INTO community (name, code, address, created_at) VALUES ('和园', 'HY', '', "
                   "'2026-01-01 00:00:00.000000+00:00')")
    db.execute_sql("INSERT INTO reminder_policy (community_id, due_soon_days, overdue_every_days, "
                   "overdue_max, updated_at) SELECT id, 5, 7, 0, '2026-01-01 00:00:00.000000+00:00' "
                   "FROM community")
    assert migrations.upgrade(db, target="0006_reminder_stage_switches") == [
        "0006_reminder_stage_switches"]
    cursor = db.execute_sql("SELECT due_soon_days, overdue_max, bill_issued_on, due_soon_on, due_day_on "
                            "FROM reminder_policy")
    [(n, m, *switches)] = cursor.fetchall()
    assert (n, m) == (5, 0) and [bool(s) for s in switches] == [True, True, True]
