"""Download a file over HTTP(S) with progress, resume, retries and md5 verification.

The file is streamed to `dest.part`; an interrupted transfer resumes from where it stopped
with an HTTP Range request, transient failures (connection errors, timeouts, HTTP 5xx) are
retried with exponential backoff, and only a file whose size and md5 verify is renamed to
`dest`. A file that fails verification never lands at `dest`, and its `.part` is removed so
the next attempt starts clean. Redirects are followed only to the same host: nothing but the
configured URL's server is contacted.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm import tqdm

CHUNK = 1 << 20
_LOG = logging.getLogger("inpaintbench.download")
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class DownloadError(RuntimeError):
    """A download that cannot succeed (HTTP 4xx, failed verification, retries exhausted)."""


class ChecksumError(ValueError):
    """A file whose md5 is not the one the config expects."""


class _Transient(Exception):
    """A failure worth retrying: the connection dropped, timed out, or the server erred (5xx)."""


class _SameHostRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        old, new = urllib.parse.urlsplit(req.full_url), urllib.parse.urlsplit(newurl)
        if new.hostname != old.hostname:
            raise DownloadError(f"{req.full_url}: redirected to another host ({newurl}); refusing")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_SameHostRedirects)


def md5sum(path: str | Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _size_text(size: int) -> str:
    """Bytes as GB or MB, for the md5 check's log line (its time grows with the size: minutes at 24 GB)."""
    return f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.1f} MB"


def check_md5(path: str | Path, expected: str, key: str = "data.md5") -> None:
    """Raise ChecksumError naming `path`, the expected and the actual md5 if they differ."""
    actual = md5sum(path)
    if actual != expected.lower():
        raise ChecksumError(f"{path}: md5 is {actual}, expected {expected.lower()} ({key}); "
                            f"not the archive the config names (set {key}: null to use it unchecked)")


class _Progress:
    """tqdm bar on a terminal; otherwise a log line every 10% or 30 s."""

    def __init__(self, name: str, total: int | None, start: int, enabled: bool, report):
        self.total, self.done, self.report, self.name = total, start, report, name
        self.enabled, self.bar = enabled, None
        self.next_fraction, self.last_line = 0.1, time.monotonic()
        if enabled and sys.stderr.isatty():
            self.bar = tqdm(total=total, initial=start, unit="B", unit_scale=True,
                            unit_divisor=1024, desc=name)

    def update(self, count: int) -> None:
        self.done += count
        if self.bar is not None:
            self.bar.update(count)
            return
        if not self.enabled:
            return
        now = time.monotonic()
        fraction = self.done / self.total if self.total else 0.0
        if (self.total and fraction >= self.next_fraction) or now - self.last_line >= 30:
            total = f" of {self.total / 1e6:.1f} MB ({fraction:.0%})" if self.total else ""
            self.report(f"{self.name}: {self.done / 1e6:.1f} MB{total}")
            while self.total and self.next_fraction <= fraction:
                self.next_fraction += 0.1
            self.last_line = now

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _open(url: str, offset: int, timeout: float):
    """The response to a GET of `url` from byte `offset`, or None if the server has nothing after it (HTTP 416)."""
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        return _OPENER.open(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            return None
        if error.code >= 500 or error.code in (408, 429):
            raise _Transient(f"HTTP {error.code} {error.reason}") from error
        raise DownloadError(f"{url}: HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        raise _Transient(f"{getattr(error, 'reason', error)}") from error


def _transfer(url: str, part: Path, size: int | None, timeout: float, progress: bool, report) -> bool:
    """One request: append to `part` from its current length (or restart if Range is ignored).

    Returns whether `part` now holds bytes of an earlier transfer (it was resumed).
    """
    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset == size:
        return True
    if size is not None and offset > size:
        part.unlink()
        offset = 0
    response = _open(url, offset, timeout)
    if response is None:
        return True  # nothing after `offset`: the part is complete (verification decides)
    with response:
        if response.status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match[1]) != offset:
                raise _Transient(f"server answered Range bytes={offset}- with "
                                 f"Content-Range {response.headers.get('Content-Range')!r}")
            mode, start = "ab", offset
            total = int(match[3]) if match[3] != "*" else size
        else:
            if offset:
                report(f"{url}: server ignored the Range request; restarting from byte 0")
            mode, start = "wb", 0
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else size
        if size is not None and total is not None and total != size:
            raise DownloadError(f"{url}: server reports {total} bytes, expected {size}")
        bar = _Progress(part.name.removesuffix(".part"), total, start, progress, report)
        received = start
        try:
            with open(part, mode) as handle:
                while True:
                    block = response.read(CHUNK)
                    if not block:
                        break
                    handle.write(block)
                    received += len(block)
                    bar.update(len(block))
        except (ConnectionError, TimeoutError, ssl.SSLError, http.client.HTTPException) as error:
            raise _Transient(f"connection lost after {received} bytes: {error}") from error
        finally:
            bar.close()
    if total is not None and received < total:
        raise _Transient(f"connection closed after {received} of {total} bytes")
    return mode == "ab"


def fetch(url: str, dest: str | Path, md5: str | None, *, size: int | None = None, retries: int = 5,
          backoff: float = 1.0, progress: bool = True, report=_LOG.info, timeout: float = 60.0) -> Path:
    """Download `url` to `dest`, verified against `md5` (and `size` in bytes when given).

    Returns `dest`. Raises DownloadError naming the URL on HTTP 4xx, on a file that fails
    verification, and once `retries` retries of transient failures are used up.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        raise DownloadError(f"{dest} already exists; not overwriting it")
    attempt, restarted = 0, False
    while True:
        if part.exists():
            report(f"{url}: resuming at byte {part.stat().st_size}")
        try:
            resumed = _transfer(url, part, size, timeout, progress, report)
        except _Transient as error:
            attempt += 1
            if attempt > retries:
                raise DownloadError(f"{url}: giving up after {retries} retries: {error}") from error
            wait = backoff * 2 ** (attempt - 1)
            report(f"{url}: {error}; retry {attempt}/{retries} in {wait:g} s")
            time.sleep(wait)
            continue
        problem = _verify(part, md5, size, report)
        if problem is None:
            os.replace(part, dest)
            report(f"{url}: downloaded and verified -> {dest}")
            return dest
        part.unlink()
        if not resumed or restarted:
            raise DownloadError(f"{url}: {problem}; the file was deleted")
        report(f"{url}: resumed file {problem}; downloading again from the start")
        restarted = True


def _verify(path: Path, md5: str | None, size: int | None, report) -> str | None:
    """None if `path` has the expected size and md5, else what is wrong."""
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        return f"has {actual_size} bytes, expected {size}"
    if md5:
        start = time.monotonic()
        actual = md5sum(path)
        seconds = time.monotonic() - start
        verdict = "ok" if actual == md5.lower() else "mismatch"
        report(f"md5 of {path.name.removesuffix('.part')} ({_size_text(actual_size)}) checked in {seconds:.1f} s "
               f"({actual_size / 1e6 / max(seconds, 1e-6):.0f} MB/s): {verdict}")
        if actual != md5.lower():
            return f"md5 mismatch: got {actual}, expected {md5.lower()}"
    return None

