"""The data source's state on disk (the manifest rule's rerun params) on real files: what changes it, what not."""

from __future__ import annotations

import os
import shutil

from PIL import Image
from skimage import data as skdata

from inpaintbench.data.source_state import archive_state, folder_state


def test_folder_state_follows_the_images_and_nothing_else(tmp_path):
    folder = tmp_path / "photos"
    (folder / "cats").mkdir(parents=True)
    Image.fromarray(skdata.chelsea()).save(folder / "cats" / "chelsea.jpg")
    data = {"source": "folder", "folder": str(folder)}
    state = folder_state(data)
    assert folder_state(data) == state
    assert folder_state({**data, "source": "demo"}) is None and folder_state({**data, "folder": None}) is None

    (folder / "notes.txt").write_text("not an image")
    assert folder_state(data) == state  # only image files count
    Image.fromarray(skdata.coffee()).save(folder / "coffee.PNG")
    added = folder_state(data)
    assert added != state
    old = (folder / "coffee.PNG").stat().st_mtime_ns - 10**12
    os.utime(folder / "coffee.PNG", ns=(old, old))  # the same photo, an older mtime (cp -p)
    assert folder_state(data) not in (state, added)
    (folder / "coffee.PNG").unlink()
    assert folder_state(data) == state

    moved = tmp_path / "elsewhere"
    shutil.copytree(folder, moved, copy_function=shutil.copy2)
    assert folder_state({**data, "folder": str(moved)}) == state  # paths are relative to the folder


def test_archive_state_is_the_files_path_size_and_mtime_for_a_users_archive_only(tmp_path):
    archive = tmp_path / "val_256.tar"
    archive.write_bytes(b"x" * 10)
    data = {"source": "places365", "archive": str(archive)}
    stat = archive.stat()
    assert archive_state(data) == [str(archive), 10, stat.st_mtime_ns]
    old = stat.st_mtime_ns - 10**12
    archive.write_bytes(b"y" * 10)
    os.utime(archive, ns=(old, old))  # replaced by an older file of the same size
    assert archive_state(data) == [str(archive), 10, old]
    assert archive_state({**data, "archive": None}) is None and archive_state({**data, "source": "folder"}) is None
