"""Backups: SQLite's online backup API, or pg_dump/pg_restore for PostgreSQL.

A SQLite backup is a consistent copy taken while the service runs; a
PostgreSQL backup is pg_dump's custom format.  Restore refuses to run over a
database that has data unless told to replace it.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse


class BackupError(RuntimeError):
    pass


def _sqlite_path(url: str) -> str:
    parsed = urlparse(url)
    return unquote(parsed.path[1:] if parsed.path.startswith("//") else parsed.path)


def _pg_env_and_args(url: str) -> tuple[dict, list[str]]:
    parsed = urlparse(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = unquote(parsed.password)
    args = ["-h", parsed.hostname or "localhost", "-p", str(parsed.port or 5432)]
    if parsed.username:
        args += ["-U", unquote(parsed.username)]
    args += ["-d", parsed.path.lstrip("/")]
    return env, args


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name} not found: install postgresql-client")
    return found


def backup(url: str, target: str | Path) -> Path:
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        src = sqlite3.connect(_sqlite_path(url))
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
        return target
    env, args = _pg_env_and_args(url)
    result = subprocess.run([_tool("pg_dump"), "-Fc", "--no-owner", "-f", str(target), *args],
                            env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
    return target


def restore(url: str, source: str | Path) -> None:
    """Replace the database at ``url`` with the backup in ``source``."""
    source = Path(source)
    if not source.exists():
        raise BackupError(f"no backup at {source}")
    if url.startswith("sqlite"):
        src = sqlite3.connect(source)
        dst = sqlite3.connect(_sqlite_path(url))
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
        return
    env, args = _pg_env_and_args(url)
    result = subprocess.run(
        [_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
         *args, str(source)],
        env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed: {result.stderr.strip()}")
