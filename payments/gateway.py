"""Which WeChat we talk to, and the one client per process that talks to it.

Production: every ``WECHATPAY_*`` setting comes from the environment.  Demo
mode (``make run``, no ``WECHATPAY_API_BASE``): the sandbox is mounted inside
the app at ``/_sandbox/wechat``, a merchant key and the sandbox's platform keys
are generated once into ``instance/demo-keys/`` (so restarts keep them), and the
settings point at the sandbox.  Either way the same client code runs over HTTP.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

from Crypto.PublicKey import RSA

from payments import crypto
from payments.certs import generate_self_signed_certificate
from payments.client import WeChatPayClient, client_from_config

SANDBOX_PREFIX = "/_sandbox/wechat"
_CLIENT_ATTR = "_wechatpay_client"
_lock = threading.Lock()


def _demo_keys(folder: Path) -> dict:
    """Merchant key + certificate and the sandbox's platform keys, created on first run."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "keys.json"
    if path.exists():
        return json.loads(path.read_text())
    merchant = RSA.generate(2048)
    cert_pem, serial = generate_self_signed_certificate(merchant, common_name="demo merchant")
    keys = {"merchant_key": crypto.private_key_pem(merchant), "merchant_cert": cert_pem,
            "merchant_serial": serial, "platform_key": crypto.private_key_pem(RSA.generate(2048)),
            "public_key": crypto.private_key_pem(RSA.generate(2048)),
            "apiv3_key": crypto.new_nonce(32)}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(keys))
    tmp.chmod(0o600)
    tmp.replace(path)
    return keys


def configure_demo(app, config) -> None:
    """Mount the sandbox and point the WeChat settings at it (demo mode only)."""
    from payments.sandbox import SandboxState
    from payments.sandbox.server import mount_sandbox

    folder = Path(config.INSTANCE_PATH) / "demo-keys"
    keys = _demo_keys(folder)
    state = SandboxState(mchid=config.WECHATPAY_MCHID, appid=config.WECHAT_APPID,
                         app_secret=config.WECHAT_APP_SECRET, apiv3_key=keys["apiv3_key"],
                         platform_key=crypto.load_private_key(keys["platform_key"]),
                         public_key=crypto.load_private_key(keys["public_key"]),
                         bills_available_immediately=True, refund_delay=2.0)
    base = config.PUBLIC_BASE_URL.rstrip("/")
    state.base_url = base + SANDBOX_PREFIX
    state.register_merchant_key(keys["merchant_serial"], keys["merchant_cert"])
    mount_sandbox(app, state, SANDBOX_PREFIX)
    public = state.public_config()
    key_file = folder / "merchant_key.pem"
    if not key_file.exists():
        key_file.write_text(keys["merchant_key"])
        key_file.chmod(0o600)
    pub_file = folder / "wechatpay_public_key.pem"
    pub_file.write_text(public["public_key_pem"])
    settings = {
        "WECHATPAY_API_BASE": base + SANDBOX_PREFIX, "WECHAT_API_BASE": base + SANDBOX_PREFIX,
        "WECHATPAY_MERCHANT_SERIAL": keys["merchant_serial"], "WECHATPAY_PRIVATE_KEY_FILE": str(key_file),
        "WECHATPAY_APIV3_KEY": keys["apiv3_key"], "WECHATPAY_PUBLIC_KEY_FILE": str(pub_file),
        "WECHATPAY_PUBLIC_KEY_ID": public["public_key_id"],
        "WECHATPAY_NOTIFY_URL": config.WECHATPAY_NOTIFY_URL or base + "/payments/wechatpay/notify",
    }
    for name, value in settings.items():
        setattr(config, name, value)
        app.config[name] = value


def client_for(config) -> WeChatPayClient:
    """The process's client for this configuration (verifier caches live in it).

    Kept on the configuration object itself, so it lives exactly as long as the
    configuration: a cache keyed by ``id(config)`` would hand a later
    configuration that reuses the id the old merchant's keys and API base.
    """
    client = getattr(config, _CLIENT_ATTR, None)
    if client is not None:
        return client
    with _lock:
        client = getattr(config, _CLIENT_ATTR, None)
        if client is None:
            client = client_from_config(config)
            setattr(config, _CLIENT_ATTR, client)
        return client
