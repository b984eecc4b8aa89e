"""A throwaway PostgreSQL cluster for the test session, from local binaries.

pytest-postgresql cannot start a server as root, and CI runs as root while
PostgreSQL refuses to; so when we are root the cluster is initialised and run
as the ``postgres`` user through ``runuser``.  A missing binary is an error,
never a skip: the suite must not pass without the real database.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time


class PostgresUnavailable(RuntimeError):
    pass


def _find_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if candidates:
        return candidates[0]
    raise PostgresUnavailable(
        f"{name} not found: install PostgreSQL server binaries "
        "(apt-get install postgresql) — `make test` does this when run as root"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    def __init__(self):
        self.initdb = _find_bin("initdb")
        self.pg_ctl = _find_bin("pg_ctl")
        self.port = _free_port()
        self.base = tempfile.mkdtemp(prefix="wuyepay-pg-")
        self.datadir = os.path.join(self.base, "data")
        self.as_root = os.geteuid() == 0
        self.user = "postgres"

    def _run(self, *args: str, check=True, **kwargs):
        cmd = list(args)
        if self.as_root:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, **kwargs)

    def start(self) -> "PostgresServer":
        if self.as_root:
            try:
                shutil.chown(self.base, user=self.user)
            except LookupError:
                raise PostgresUnavailable("running as root but there is no 'postgres' user") from None
        os.chmod(self.base, 0o755)
        self._run(self.initdb, "-D", self.datadir, "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        options = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=200 -c shared_buffers=128MB")
        result = self._run(self.pg_ctl, "-D", self.datadir, "-o", options,
                           "-l", os.path.join(self.base, "log"), "-w", "-t", "60", "start",
                           check=False)
        if result.returncode != 0:
            log = open(os.path.join(self.base, "log")).read() if os.path.exists(
                os.path.join(self.base, "log")) else ""
            raise PostgresUnavailable(f"pg_ctl start failed: {result.stderr}\n{log}")
        return self

    def url(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str, template: str | None = None) -> str:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
            if template:
                cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            else:
                cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return self.url(name)

    def stop(self) -> None:
        self._run(self.pg_ctl, "-D", self.datadir, "-m", "immediate", "stop", check=False)
        for _ in range(50):
            if not os.path.exists(os.path.join(self.datadir, "postmaster.pid")):
                break
            time.sleep(0.1)
        shutil.rmtree(self.base, ignore_errors=True)
