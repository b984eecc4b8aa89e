"""A backup taken with data can be restored over a changed database."""
from __future__ import annotations

from server import backup
from server.property.models import Community


def test_backup_then_restore_brings_back_the_data_as_it_was(database, tmp_path):
    Community.create(name="和园", code="HY")
    target = backup.backup(database.test_url, tmp_path / "wuyepay.backup")
    assert target.stat().st_size > 0

    Community.create(name="锦苑", code="JY")
    Community.update(name="和园（改）").where(Community.code == "HY").execute()
    database.close()

    backup.restore(database.test_url, target)
    database.connect()
    assert sorted(c.name for c in Community.select()) == ["和园"]


def test_restore_of_a_missing_file_is_refused(database, tmp_path):
    import pytest

    with pytest.raises(backup.BackupError):
        backup.restore(database.test_url, tmp_path / "nope.dump")
