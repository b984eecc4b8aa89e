"""WuyePay: property fee billing and WeChat Pay collection."""
from __future__ import annotations

import logging

from flask import Flask

from server.config import Config


def create_app(config: Config | dict | None = None) -> Flask:
    """Build the web application.  Reads as a table of contents."""
    if config is None:
        config = Config.from_env()
    elif isinstance(config, dict):
        overrides, config = config, Config.from_env()
        for key, value in overrides.items():
            setattr(config, key, value)
    config.finalize()

    app = Flask(__name__, instance_path=config.INSTANCE_PATH, instance_relative_config=False)
    app.config.from_mapping(config.as_flask_mapping())
    app.extensions["wuyepay_config"] = config
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # peewee's DEBUG lines carry every SQL parameter (callback bodies, openids): never log them.
    logging.getLogger("peewee").setLevel(logging.INFO)

    import jobs
    import miniprogram_api
    import payments.views
    from server import admin, admin_api, database_hooks, errors, health

    database_hooks.init_app(app)
    errors.init_app(app)
    health.init_app(app)
    payments.views.init_app(app)
    miniprogram_api.init_app(app)
    jobs.init_app(app)
    admin.init_app(app)
    admin_api.init_app(app)
    return app
