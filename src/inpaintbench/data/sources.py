"""List the images of a source (Places365 tar, folder, embedded demo) and read their pixels.

Tar members are read by byte offset straight out of the archive: nothing is extracted, and
no path taken from the archive is ever opened for writing.
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import demo, images


@dataclass
class Listing:
    """The images of a source, and the entries passed over with the reason."""

    rows: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)

    def add(self, image_id: str, source: str, category: str = "", **where) -> None:
        self.rows.append({"id": image_id, "source": source, "category": category,
                          "offset": where.get("offset", -1), "nbytes": where.get("nbytes", -1),
                          "crop": where.get("crop", "")})

    def skip(self, source: str, reason: str) -> None:
        self.skipped.append({"source": source, "reason": reason})


def _unsafe(name: str) -> bool:
    """Absolute, with a `..` part or a backslash (string tests: PurePosixPath costs 10% of a listing)."""
    return name.startswith("/") or ".." in name.split("/") or "\\" in name


def member_key(name: str) -> str:
    """A member's path inside the archive's top folder: the name Places365's file lists use
    (`val_256/Places365_val_00000001.jpg` -> `Places365_val_00000001.jpg`,
    `data_256/a/airfield/00000001.jpg` -> `a/airfield/00000001.jpg`)."""
    top, _, rest = name.strip("/").partition("/")
    return rest or top


def member_id(name: str) -> str:
    """The image id of a member: its key without the suffix, folders joined by `__` (as for a
    folder source), so that train_256's `00000001.jpg` of every category stays unique."""
    return os.path.splitext(member_key(name))[0].replace("/", "__")


def _members(tar: tarfile.TarFile):
    """The members of an uncompressed tar, headers only: tarfile seeks over the data (of an unbuffered
    file), and the members are not kept (1.8 million TarInfo objects would take gigabytes)."""
    while (member := tar.next()) is not None:
        tar.members.clear()
        yield member


def list_tar(archive: str | Path, categories: dict[str, str] | None = None) -> Listing:
    """Every image member of a tar (such as val_256.tar), with its data offset and size; its
    category looked up by member_key."""
    listing, seen = Listing(), set()
    categories = categories or {}
    try:
        raw = open(archive, "rb", buffering=0)  # a buffered file would read 8 KiB of image bytes per member
    except OSError as error:
        raise ValueError(f"{archive}: not a readable uncompressed tar archive: {error}") from error
    try:
        tar = tarfile.open(fileobj=raw, mode="r:")
    except tarfile.TarError as error:
        raw.close()
        raise ValueError(f"{archive}: not a readable uncompressed tar archive: {error}") from error
    with raw, tar:
        for member in _members(tar):
            name = member.name
            if member.isdir():
                continue
            if _unsafe(name):
                listing.skip(name, "unsafe path in archive (absolute or with '..')")
                continue
            if not member.isfile():
                listing.skip(name, "not a regular file")
                continue
            if os.path.splitext(name)[1].lower() not in images.IMAGE_SUFFIXES:
                listing.skip(name, "not an image file name")
                continue
            image_id = member_id(name)
            if image_id in seen:
                listing.skip(name, f"duplicate image id {image_id!r}")
                continue
            seen.add(image_id)
            listing.add(image_id, name, categories.get(member_key(name), ""),
                        offset=member.offset_data, nbytes=member.size)
    return listing


def list_folder(folder: str | Path) -> Listing:
    """Every image under `folder`, recursively; the category is the parent folder's path."""
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"data.folder: {root} is not a directory")
    listing, seen = Listing(), set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for filename in sorted(filenames):
            path = Path(dirpath, filename)
            relative = path.relative_to(root)
            if path.suffix.lower() not in images.IMAGE_SUFFIXES:
                continue
            image_id = "__".join(relative.with_suffix("").parts)
            if image_id in seen:
                listing.skip(str(relative), f"duplicate image id {image_id!r}")
                continue
            seen.add(image_id)
            category = relative.parent.as_posix() if relative.parent != Path(".") else ""
            listing.add(image_id, str(path.resolve()), category)
    return listing


def list_demo(scales, positions: int) -> Listing:
    listing = Listing()
    for name in demo.PHOTOS:
        for left, top, side in demo.crops(name, scales, positions):
            listing.add(f"{name}_{side}_{left}_{top}", f"skimage:{name}", name,
                        crop=f"{left},{top},{side}")
    return listing


class Reader:
    """Pixels of manifest rows, at the benchmark size; keeps the archive open across rows."""

    def __init__(self, archive: str | Path | None, size: int):
        self.size = size
        self._archive = open(archive, "rb") if archive else None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._archive:
            self._archive.close()

    def read(self, row) -> np.ndarray:
        source = row["source"]
        if source.startswith("skimage:"):
            left, top, side = (int(v) for v in str(row["crop"]).split(","))
            return images.from_array(demo.crop(source.split(":", 1)[1], (left, top, side)), self.size)
        if int(row["offset"]) >= 0:
            self._archive.seek(int(row["offset"]))
            data = self._archive.read(int(row["nbytes"]))
            if len(data) != int(row["nbytes"]):
                raise images.BadImage("archive ends inside this member (truncated archive)")
        else:
            try:
                data = Path(source).read_bytes()
            except OSError as error:
                raise images.BadImage(f"cannot read file: {error}") from error
        return images.decode(data, self.size)
