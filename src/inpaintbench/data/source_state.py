"""The state on disk of the files a data source reads, given to the manifest rule as params.

Snakemake's mtime trigger sees only declared inputs, and only a newer mtime: these values rerun the
data stage when a folder's images change (without declaring thousands of inputs, whose names may
hold braces) or when the user's archive is replaced, even by an older file.
"""

from __future__ import annotations

import os

from ..config import fingerprint
from .images import IMAGE_SUFFIXES


def folder_state(data: dict) -> str | None:
    """A hash of every image file's relative path, size and mtime under data.folder (source: folder)."""
    folder = data["folder"]
    if data["source"] != "folder" or not folder or not os.path.isdir(folder):
        return None
    files = []
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            if os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES:
                path = os.path.join(dirpath, name)
                stat = os.stat(path)
                files.append((os.path.relpath(path, folder), stat.st_size, stat.st_mtime_ns))
    return fingerprint(sorted(files))


def archive_state(data: dict) -> list | None:
    """The user's own archive (data.archive) as [absolute path, size, mtime]; None for a download,
    which is md5-checked on arrival."""
    archive = data["archive"]
    if data["source"] != "places365" or not archive:
        return None
    stat = os.stat(archive)
    return [os.path.abspath(archive), stat.st_size, stat.st_mtime_ns]
