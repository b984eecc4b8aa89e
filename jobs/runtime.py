"""What jobs need from their process: its configuration and its WeChat Pay client.

The web app registers its own configuration (``jobs.init_app``); a worker, the
scheduler or a CLI command reads the environment once.
"""
from __future__ import annotations

import datetime as dt

from server.config import Config
from server.timeutil import UTC

_config: Config | None = None
_client = None


def configure(config: Config | None, client=None) -> None:
    """Use ``config`` (and optionally a ready client) for this process's jobs."""
    global _config, _client
    _config, _client = config, client


def config() -> Config:
    global _config
    if _config is None:
        _config = Config.from_env().finalize()
    return _config


def wechat_client():
    """The process's WeChat Pay client (``payments.gateway.client_for``)."""
    if _client is not None:
        return _client
    from payments.gateway import client_for

    return client_for(config())


def merchant():
    from payments.notify import Merchant

    cfg = config()
    return Merchant(cfg.WECHATPAY_MCHID, cfg.WECHAT_APPID)


def parse_instant(value: str) -> dt.datetime:
    """A fire time passed to a job as ISO text; naive text is refused."""
    when = dt.datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise ValueError(f"naive time {value!r}: jobs take aware ISO times")
    return when.astimezone(UTC)
