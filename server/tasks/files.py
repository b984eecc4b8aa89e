"""Deleting the files long operations leave behind: task exports under
``<instance>/exports/`` and import uploads under ``<instance>/uploads/imports/``.

Run daily by ``jobs.tasks.cleanup_files``.  A file is deleted when it was last
written more than ``days`` days ago; anything else in the instance folder (the
database, keys, other uploads) is never looked at.  A task whose file is gone
shows no download link (``queries.export_file`` answers None).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from server.tasks.queries import EXPORTS_DIR

log = logging.getLogger(__name__)
FOLDERS = (EXPORTS_DIR, "uploads/imports")


def delete_old_files(instance_path: str | Path, *, days: int, now: float | None = None) -> dict:
    """Delete the old regular files of ``FOLDERS``; ``{"deleted": n, "kept": m}``."""
    if days < 1:
        raise ValueError("days must be at least 1")
    cutoff = (time.time() if now is None else now) - days * 86400
    deleted = kept = 0
    for folder in FOLDERS:
        root = Path(instance_path) / folder
        if not root.is_dir():
            continue
        for path in root.iterdir():
            if path.is_symlink() or not path.is_file():
                continue
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                deleted += 1
            else:
                kept += 1
    if deleted:
        log.info("deleted %d task file(s) older than %d days", deleted, days)
    return {"deleted": deleted, "kept": kept}
