"""Provenance: the git commit next to every result, and atomic writes that never leave a partial file."""

from __future__ import annotations

import subprocess

import pytest

from inpaintbench import provenance


def _git(directory, *args):
    return subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=directory,
                          capture_output=True, text=True, check=True).stdout.strip()


def test_git_commit_clean_dirty_and_outside_git(tmp_path):
    assert provenance.git_commit(tmp_path) is None
    _git(tmp_path, "init", "-q")
    (tmp_path / "Snakefile").write_text("rule all:\n")
    _git(tmp_path, "add", "Snakefile")
    _git(tmp_path, "commit", "-qm", "first")
    head = _git(tmp_path, "rev-parse", "HEAD")
    assert provenance.git_commit(tmp_path) == head
    (tmp_path / "Snakefile").write_text("rule all:\n    input: []\n")
    assert provenance.git_commit(tmp_path) == head + "-dirty"


def test_git_commit_kept_when_the_dirty_check_fails(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "a").write_text("a")
    _git(tmp_path, "add", "a")
    _git(tmp_path, "commit", "-qm", "first")
    (tmp_path / ".git" / "index").write_text("not an index")  # `git status` fails, HEAD still reads
    head = _git(tmp_path, "rev-parse", "HEAD")
    assert provenance.git_commit(tmp_path) == head + "-unknown-state"


def test_atomic_write_keeps_the_old_file_on_error(tmp_path):
    target = tmp_path / "table.csv"
    provenance.write_text(target, "old\n")
    with pytest.raises(RuntimeError):
        with provenance.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash midway")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]
