"""The one place that reads the environment.

Every setting the service understands is declared here with its type and
default; ``Config.from_env()`` reads them, ``TestingConfig`` overrides what
tests need.  Booleans are parsed strictly: a typo is an error, not ``False``.
"""
from __future__ import annotations

import dataclasses
import os
import re
import secrets
from decimal import Decimal
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = PROJECT_ROOT / "instance"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
REFUND_NO_PREFIX_RE = re.compile(r"^[0-9A-Za-z]{1,8}$")


class ConfigError(ValueError):
    """A setting is present but cannot be understood."""


def parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be one of 1/0/true/false/yes/no/on/off, not {raw!r}")


def parse_int(name: str, raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be an integer, not {raw!r}") from None


@dataclasses.dataclass
class Config:
    INSTANCE_PATH: str = str(DEFAULT_INSTANCE)
    DATABASE_URL: str = ""
    REDIS_URL: str = ""
    SECRET_KEY: str = ""
    TESTING: bool = False
    DEMO_MODE: bool = True
    # Where this service is reachable; in demo mode the sandbox and the notify URL hang off it.
    PUBLIC_BASE_URL: str = "http://127.0.0.1:5000"
    # Mini-program (sandbox values by default).
    WECHAT_APPID: str = "wxd0000000000sandbox"
    WECHAT_APP_SECRET: str = "sandbox-app-secret"
    WECHAT_API_BASE: str = ""
    # WeChat Pay merchant (sandbox values by default).
    WECHATPAY_MCHID: str = "1900000109"
    WECHATPAY_MERCHANT_SERIAL: str = ""
    WECHATPAY_PRIVATE_KEY_FILE: str = ""
    WECHATPAY_APIV3_KEY: str = ""
    WECHATPAY_PUBLIC_KEY_FILE: str = ""
    WECHATPAY_PUBLIC_KEY_ID: str = ""
    WECHATPAY_API_BASE: str = ""
    WECHATPAY_NOTIFY_URL: str = ""
    # This installation's tag in every new ``out_refund_no`` (1-8 of [0-9A-Za-z]): two
    # installations sharing one merchant id (or a copy restored from a backup) must
    # differ.  Unset: derived from SECRET_KEY (see payments.refunds.refund_no_prefix).
    WECHATPAY_REFUND_NO_PREFIX: str = ""
    # Subscription-message template ids (empty = the sandbox's).
    WECHAT_TEMPLATE_BILL_ISSUED: str = ""
    WECHAT_TEMPLATE_DUE_SOON: str = ""
    WECHAT_TEMPLATE_OVERDUE: str = ""
    WECHAT_TEMPLATE_PAYMENT_SUCCESS: str = ""
    WECHAT_TEMPLATE_DISPUTE_REPLY: str = ""
    WECHAT_TEMPLATE_STAFF_ALERT: str = ""
    # Rate limits (Flask-Limiter syntax).
    RATELIMIT_LOGIN: str = "20 per minute; 200 per hour"
    RATELIMIT_ORDER_CREATION: str = "10 per minute; 100 per hour"
    RATELIMIT_BINDING: str = "10 per minute; 50 per hour"
    # Money rules: amounts at or above these need a second staff member's approval.
    ADJUSTMENT_APPROVAL_THRESHOLD_FEN: int = 50_000
    OFFLINE_PAYMENT_APPROVAL_THRESHOLD_FEN: int = 500_000
    REFUND_APPROVAL_THRESHOLD_FEN: int = 0
    # Meter anomaly detection: usage above this multiple of the house's own
    # recent average is flagged in the billing preview.
    METER_ANOMALY_FACTOR: Decimal = Decimal("3")
    # Alerts: POSTed as JSON to this URL when set; signature failures per 5 min that raise one.
    ALERT_WEBHOOK_URL: str = ""
    # Alerts also go as subscription messages (WECHAT_TEMPLATE_STAFF_ALERT) to these staff
    # openids of the mini-program, separated by commas.
    ALERT_STAFF_OPENIDS: str = ""
    # Demo mode: where the mounted WeChat sandbox keeps its orders, subscriptions and
    # received messages between restarts (default instance/demo-keys/wechat-sandbox.json).
    WECHAT_SANDBOX_STATE_FILE: str = ""
    SIGNATURE_FAILURE_ALERT_THRESHOLD: int = 20
    # Staff list exports above this many rows run as a background task (file under
    # <instance>/exports/); task files and import uploads are deleted after so many days.
    EXPORT_INLINE_ROWS: int = 5000
    TASK_FILE_RETENTION_DAYS: int = 7
    # How long a signed receipt print link (for the mini-program's web-view) stays valid.
    RECEIPT_LINK_TTL_SECONDS: int = 600
    # The largest request body (uploads of imports); larger ones are refused with 413.
    MAX_CONTENT_LENGTH: int = 20 * 1024 * 1024

    _STR_KEYS = (
        "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "WECHAT_APPID", "WECHAT_APP_SECRET",
        "WECHAT_API_BASE", "WECHATPAY_MCHID", "WECHATPAY_MERCHANT_SERIAL",
        "WECHATPAY_PRIVATE_KEY_FILE", "WECHATPAY_APIV3_KEY", "WECHATPAY_PUBLIC_KEY_FILE",
        "WECHATPAY_PUBLIC_KEY_ID", "WECHATPAY_API_BASE", "WECHATPAY_NOTIFY_URL", "PUBLIC_BASE_URL",
        "WECHATPAY_REFUND_NO_PREFIX",
        "ALERT_WEBHOOK_URL", "ALERT_STAFF_OPENIDS", "WECHAT_SANDBOX_STATE_FILE",
        "WECHAT_TEMPLATE_BILL_ISSUED", "WECHAT_TEMPLATE_DUE_SOON", "WECHAT_TEMPLATE_OVERDUE",
        "WECHAT_TEMPLATE_PAYMENT_SUCCESS", "WECHAT_TEMPLATE_DISPUTE_REPLY", "WECHAT_TEMPLATE_STAFF_ALERT",
    )
    _INT_KEYS = (
        "ADJUSTMENT_APPROVAL_THRESHOLD_FEN", "OFFLINE_PAYMENT_APPROVAL_THRESHOLD_FEN",
        "REFUND_APPROVAL_THRESHOLD_FEN", "SIGNATURE_FAILURE_ALERT_THRESHOLD",
        "EXPORT_INLINE_ROWS", "TASK_FILE_RETENTION_DAYS", "RECEIPT_LINK_TTL_SECONDS",
        "MAX_CONTENT_LENGTH",
    )
    _BOOL_KEYS = ("DEMO_MODE",)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Config":
        env = os.environ if environ is None else environ
        cfg = cls()
        cfg.INSTANCE_PATH = env.get("WUYEPAY_INSTANCE_PATH", cfg.INSTANCE_PATH)
        for key in cls._STR_KEYS:
            if key in env:
                setattr(cfg, key, env[key])
        for key in cls._INT_KEYS:
            if key in env:
                setattr(cfg, key, parse_int(key, env[key]))
        for key in cls._BOOL_KEYS:
            if key in env:
                setattr(cfg, key, parse_bool(key, env[key]))
        if cfg.WECHATPAY_REFUND_NO_PREFIX and not REFUND_NO_PREFIX_RE.match(cfg.WECHATPAY_REFUND_NO_PREFIX):
            raise ConfigError("WECHATPAY_REFUND_NO_PREFIX must be 1-8 characters of [0-9A-Za-z], "
                              f"not {cfg.WECHATPAY_REFUND_NO_PREFIX!r}")
        if "METER_ANOMALY_FACTOR" in env:
            cfg.METER_ANOMALY_FACTOR = Decimal(env["METER_ANOMALY_FACTOR"])
        return cfg

    def finalize(self) -> "Config":
        """Fill the defaults that depend on the instance folder."""
        instance = Path(self.INSTANCE_PATH)
        if not self.DATABASE_URL:
            instance.mkdir(parents=True, exist_ok=True)
            self.DATABASE_URL = f"sqlite:///{instance / 'wuyepay.db'}"
        if not self.SECRET_KEY:
            self.SECRET_KEY = load_or_create_secret_key(instance)
        if self.DEMO_MODE and not self.WECHAT_SANDBOX_STATE_FILE:
            self.WECHAT_SANDBOX_STATE_FILE = str(instance / "demo-keys" / "wechat-sandbox.json")
        return self

    def as_flask_mapping(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclasses.dataclass
class TestingConfig(Config):
    TESTING: bool = True
    DEMO_MODE: bool = False  # tests start the sandbox on its own port when they need it
    SECRET_KEY: str = "testing-secret-key"


def load_or_create_secret_key(instance: Path) -> str:
    """Read ``instance/secret_key``, creating it (mode 0600) on first run."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
