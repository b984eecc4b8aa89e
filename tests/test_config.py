import pytest

from server.config import Config, ConfigError, load_or_create_secret_key


def test_database_url_defaults_to_sqlite_under_the_instance_folder(tmp_path):
    cfg = Config.from_env({"WUYEPAY_INSTANCE_PATH": str(tmp_path)}).finalize()
    assert cfg.DATABASE_URL == f"sqlite:///{tmp_path / 'wuyepay.db'}"
    assert cfg.REDIS_URL == ""


def test_secret_key_is_generated_once_and_then_reused(tmp_path):
    first = load_or_create_secret_key(tmp_path)
    assert len(first) >= 48
    assert load_or_create_secret_key(tmp_path) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_environment_overrides_defaults_and_booleans_are_strict(tmp_path):
    env = {"WUYEPAY_INSTANCE_PATH": str(tmp_path), "DATABASE_URL": "postgresql://u@h/db",
           "REDIS_URL": "redis://localhost:6379/0", "DEMO_MODE": "false",
           "ADJUSTMENT_APPROVAL_THRESHOLD_FEN": "100"}
    cfg = Config.from_env(env).finalize()
    assert (cfg.DATABASE_URL, cfg.REDIS_URL, cfg.DEMO_MODE) == (
        "postgresql://u@h/db", "redis://localhost:6379/0", False)
    assert cfg.ADJUSTMENT_APPROVAL_THRESHOLD_FEN == 100
    with pytest.raises(ConfigError):
        Config.from_env({"DEMO_MODE": "flase"})
    with pytest.raises(ConfigError):
        Config.from_env({"ADJUSTMENT_APPROVAL_THRESHOLD_FEN": "1.5"})


def test_config_needs_no_file_from_the_repository(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = Config.from_env({"WUYEPAY_INSTANCE_PATH": str(tmp_path / "inst")}).finalize()
    assert cfg.SECRET_KEY and (tmp_path / "inst" / "secret_key").exists()
