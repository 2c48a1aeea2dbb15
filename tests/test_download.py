"""The Places365 download against a real HTTP server on 127.0.0.1: complete, resumed, corrupt, missing.

The server serves a tar laid out like val_256.tar, made of real photos, and a filelist tar
like filelist_places365-standard.tar; the workflow is run end to end against it.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import copy_workflow, snakemake
from inpaintbench.data import demo, download

IMAGES = 12
CATEGORIES = ["/a/airfield", "/b/bedroom", "/c/coast"]


class Files(ThreadingHTTPServer):
    """Serves `files` with Range support; can drop a connection or fail a request on purpose."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.drop_after: dict[str, int] = {}  # path -> bytes sent before the first response is cut
        self.fail_once: dict[str, int] = {}  # path -> HTTP status of the first response
        self.ignore_range = False

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{path}"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        server: Files = self.server
        path = self.path.lstrip("/")
        byte_range = self.headers.get("Range")
        server.requests.append((path, byte_range))
        if path in server.fail_once:
            self.send_error(server.fail_once.pop(path))
            return
        if path not in server.files:
            self.send_error(404)
            return
        data = server.files[path]
        start = 0
        if byte_range and not server.ignore_range:
            start = int(byte_range.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if path in server.drop_after:
            body = body[: server.drop_after.pop(path)]
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


def filelist_tar() -> bytes:
    """Like filelist_places365-standard.tar: the category names and each val image's index."""
    categories = "".join(f"{name} {index}\n" for index, name in enumerate(CATEGORIES))
    val = "".join(f"Places365_val_{i:08d}.jpg {i % len(CATEGORIES)}\n" for i in range(1, IMAGES + 1))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in [("categories_places365.txt", categories), ("places365_val.txt", val)]:
            member = tarfile.TarInfo(name)
            member.size = len(text.encode())
            tar.addfile(member, io.BytesIO(text.encode()))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("archive") / "val_256.tar"
    names = demo.val_like_tar(path, IMAGES, seed=3)
    assert names[0] == "val_256/Places365_val_00000001.jpg"
    return path.read_bytes()


@pytest.fixture
def server(archive):
    files = Files()
    files.files = {"val_256.tar": archive, "filelist.tar": filelist_tar()}
    thread = threading.Thread(target=files.serve_forever, daemon=True)
    thread.start()
    yield files
    files.shutdown()
    files.server_close()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_complete_download(server, archive, tmp_path):
    dest = tmp_path / "val_256.tar"
    download.fetch(server.url("val_256.tar"), dest, md5(archive), size=len(archive), progress=False)
    assert dest.read_bytes() == archive
    assert not (tmp_path / "val_256.tar.part").exists()
    assert server.requests == [("val_256.tar", None)]


def test_cut_transfer_resumes_with_range(server, archive, tmp_path):
    cut = len(archive) // 3
    server.drop_after["val_256.tar"] = cut
    dest = tmp_path / "val_256.tar"
    lines = []
    download.fetch(server.url("val_256.tar"), dest, md5(archive), size=len(archive),
                   backoff=0.01, progress=False, report=lines.append)
    assert server.requests == [("val_256.tar", None), ("val_256.tar", f"bytes={cut}-")]
    assert download.md5sum(dest) == md5(archive)
    assert any("retry 1/5" in line for line in lines)
    assert any(f"resuming at byte {cut}" in line for line in lines)


def test_resume_of_earlier_part_when_server_ignores_range(server, archive, tmp_path):
    dest = tmp_path / "val_256.tar"
    Path(f"{dest}.part").write_bytes(archive[:1000])
    server.ignore_range = True
    download.fetch(server.url("val_256.tar"), dest, md5(archive), size=len(archive), progress=False)
    assert server.requests == [("val_256.tar", "bytes=1000-")]
    assert dest.read_bytes() == archive


def test_server_error_is_retried(server, archive, tmp_path):
    server.fail_once["val_256.tar"] = 503
    dest = tmp_path / "val_256.tar"
    download.fetch(server.url("val_256.tar"), dest, md5(archive), backoff=0.01, progress=False)
    assert len(server.requests) == 2 and dest.read_bytes() == archive


@pytest.mark.bad_input
def test_wrong_md5_is_an_error_and_nothing_lands(server, archive, tmp_path):
    dest = tmp_path / "val_256.tar"
    url = server.url("val_256.tar")
    with pytest.raises(download.DownloadError, match="md5 mismatch") as error:
        download.fetch(url, dest, "0" * 32, size=len(archive), progress=False)
    assert url in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_wrong_md5_on_a_resumed_file_restarts_once_then_fails(server, archive, tmp_path):
    dest = tmp_path / "val_256.tar"
    Path(f"{dest}.part").write_bytes(b"x" * 1000)  # a stale part from another file
    download.fetch(server.url("val_256.tar"), dest, md5(archive), size=len(archive), progress=False)
    assert server.requests == [("val_256.tar", "bytes=1000-"), ("val_256.tar", None)]
    assert dest.read_bytes() == archive


def test_wrong_md5_after_a_cut_transfer_restarts_once_then_fails(server, archive, tmp_path):
    server.drop_after["val_256.tar"] = 5000
    dest = tmp_path / "val_256.tar"
    with pytest.raises(download.DownloadError, match="md5 mismatch"):
        download.fetch(server.url("val_256.tar"), dest, "0" * 32, backoff=0.01, progress=False)
    assert server.requests == [("val_256.tar", None), ("val_256.tar", "bytes=5000-"),
                               ("val_256.tar", None)]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.bad_input
def test_404_is_an_immediate_clear_error(server, tmp_path):
    url = server.url("missing.tar")
    with pytest.raises(download.DownloadError, match="HTTP 404") as error:
        download.fetch(url, tmp_path / "missing.tar", "0" * 32, progress=False)
    assert url in str(error.value)
    assert len(server.requests) == 1 and list(tmp_path.iterdir()) == []


def test_gives_up_after_the_retries(tmp_path):
    with Files() as unused:
        port = unused.server_address[1]  # a port nobody listens on once closed
    with pytest.raises(download.DownloadError, match="giving up after 2 retries"):
        download.fetch(f"http://127.0.0.1:{port}/x.tar", tmp_path / "x.tar", None, retries=2,
                       backoff=0.01, progress=False)


# The workflow against the server -------------------------------------------------------------

def workflow(tmp_path: Path, server: Files, archive: bytes, **data) -> Path:
    workdir = copy_workflow(tmp_path / "workflow")
    config = {
        "data": {"source": "places365", "url": server.url("val_256.tar"), "md5": md5(archive),
                 "size_bytes": len(archive), "categories_url": server.url("filelist.tar"),
                 "categories_md5": md5(server.files["filelist.tar"]), "image_size": 32,
                 "shards": 2, "split": {"train": 0.5, "val": 0.25, "test": 0.25}, **data},
        "masks": {"seed": 1},
        "models": {},
    }
    (workdir / "places.yaml").write_text(yaml.safe_dump(config))
    return workdir


def run_data(workdir: Path, check: bool = True):
    return snakemake(workdir, "data", "--cores", "2", "--configfile", "places.yaml", check=check)


@pytest.mark.slow
def test_workflow_end_to_end_with_categories(server, archive, tmp_path):
    workdir = workflow(tmp_path, server, archive)
    run_data(workdir)
    manifest = pd.read_csv(workdir / "results/data/manifest.csv", keep_default_na=False)
    assert len(manifest) == IMAGES
    assert manifest["source"].iloc[0] == "val_256/Places365_val_00000001.jpg"
    expected = {f"Places365_val_{i:08d}": CATEGORIES[i % 3].rsplit("/", 1)[1]
                for i in range(1, IMAGES + 1)}
    assert dict(zip(manifest["id"], manifest["category"])) == expected
    summary = json.loads((workdir / "results/data/summary.json").read_text())
    assert summary["total"] == IMAGES and summary["skipped"] == 0
    assert (workdir / "results/downloads/val_256.tar").read_bytes() == archive
    assert ("filelist.tar", None) in server.requests
    log = (workdir / "results/logs/data/fetch_archive_val_256.tar.log").read_text()
    assert "downloaded and verified" in log and "(100%)" in log  # progress lines off a terminal


@pytest.mark.slow
def test_workflow_without_filelist_goes_on_with_empty_categories(server, archive, tmp_path):
    workdir = workflow(tmp_path, server, archive, categories_url=server.url("no_filelist.tar"))
    run_data(workdir)
    manifest = pd.read_csv(workdir / "results/data/manifest.csv", keep_default_na=False)
    assert len(manifest) == IMAGES and set(manifest["category"]) == {""}
    log = (workdir / "results/logs/data/fetch_categories.log").read_text()
    assert "categories will be empty" in log and "HTTP 404" in log
    assert pd.read_csv(workdir / "results/data/categories.csv").empty


@pytest.mark.slow
def test_workflow_with_wrong_md5_stops_before_anything_downstream(server, archive, tmp_path):
    workdir = workflow(tmp_path, server, archive, md5="0" * 32)
    result = run_data(workdir, check=False)
    assert result.returncode != 0
    log = (workdir / "results/logs/data/fetch_archive_val_256.tar.log").read_text()
    assert "md5 mismatch" in log
    downloads = workdir / "results/downloads"
    assert not downloads.exists() or list(downloads.iterdir()) == []
    assert not (workdir / "results/data/manifest.csv").exists()
    assert not (workdir / "results/data/tfrecords").exists()
