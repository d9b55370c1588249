"""Atomic writes (gmc.io): files get the user's umask, a write that fails (disk full) leaves the
previous file and no temporary file behind, stale temporary files of killed writes are removed (and
nothing else), and an image cache whose build did not finish is never taken as complete."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from gmc.data import cache as cache_module
from gmc.data.cache import build_cache, load_cache, sidecar
from gmc.errors import InputFileError
from gmc.io import DiskFullError, atomic_write, write_csv, write_json, write_text
from gmc.training.checkpoint import BEST_KEYS, save_checkpoint
from tests.conftest import tiny_run_config
from tests.reliability.helpers_ckpt import make_dataset, temp_files


@pytest.fixture
def restore_umask():
    """Put the process umask back after the test."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield
    os.umask(saved)


def _checkpoint(path: Path) -> None:
    state = {
        "run_config": tiny_run_config(),
        "config_hash": "0123456789ab",
        "epoch": 0,
        "selection": {},
        "model": {"w": torch.zeros(2)},
    }
    save_checkpoint(path, state, BEST_KEYS - {"format"})


WRITERS = {
    "text": lambda p: write_text(p, "x\n"),
    "json": lambda p: write_json(p, {"a": 1}),
    "csv": lambda p: write_csv(p, pd.DataFrame({"a": [1.5]})),
    "checkpoint": _checkpoint,
}


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077], ids=oct)
@pytest.mark.parametrize("writer", WRITERS)
def test_files_get_the_users_umask(tmp_path, restore_umask, writer, mask):
    os.umask(mask)
    WRITERS[writer](tmp_path / "out")
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o666 & ~mask


def test_stale_temporary_files_of_the_target_are_removed_and_nothing_else(tmp_path):
    stale = [".a.csv.k3j_4h5g.tmp", ".a.csv.0123456789abcdef.tmp"]  # tempfile.mkstemp's and ours
    others = [
        ".a.csv.tmp",  # no random part
        ".a.csv.x.y.tmp",  # a dot in it: another target's temporary (".a.csv.x" is not a.csv)
        ".b.csv.k3j4h5g6.tmp",  # another target
        "a.csv.k3j4h5g6.tmp",  # not hidden
        ".a.csv.k3j4h5g6.tmp.keep",
        "notes.tmp",
    ]
    for name in stale + others:
        (tmp_path / name).write_text(name)
    write_text(tmp_path / "a.csv", "new\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*others, "a.csv"])
    assert all((tmp_path / name).read_text() == name for name in others)


def _partial_then_disk_full(target) -> None:
    """Write part of ``target`` (a path or an open binary file), then fail as ``write()`` does on a
    full disk."""
    if hasattr(target, "write"):
        target.write(b"partial")
    else:
        Path(target).write_bytes(b"partial")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("writer", ["atomic_write", "csv", "checkpoint"])
def test_a_full_disk_leaves_the_previous_file_and_no_temporary_file(tmp_path, monkeypatch, writer):
    target = tmp_path / "out"
    target.write_bytes(b"previous")
    monkeypatch.setattr(pd.DataFrame, "to_csv", lambda frame, path, **kw: _partial_then_disk_full(path))
    monkeypatch.setattr(torch, "save", lambda obj, f, *args, **kw: _partial_then_disk_full(f))
    write = {
        "atomic_write": lambda p: atomic_write(p, _partial_then_disk_full),
        "csv": WRITERS["csv"],
        "checkpoint": _checkpoint,
    }[writer]
    with pytest.raises(DiskFullError) as err:  # a UserError: the CLI prints it without a traceback
        write(target)
    assert (
        err.value.errno == errno.ENOSPC and str(target) in str(err.value) and "free space" in str(err.value)
    )
    assert target.read_bytes() == b"previous"
    assert temp_files(tmp_path) == []


class Killed(BaseException):
    """Stands in for a kill: nothing after it runs."""


def _killed(*args, **kwargs):
    raise Killed


def test_a_cache_whose_build_was_killed_is_refused(tmp_path, monkeypatch):
    """Killed after the arrays, before the sidecar: loading used to fail with a bare
    FileNotFoundError."""
    data = make_dataset(tmp_path)
    npy = tmp_path / "again.npy"
    monkeypatch.setattr(cache_module, "write_json", _killed)
    with pytest.raises(Killed):
        build_cache(data.manifest, 16, npy)
    assert npy.is_file() and not sidecar(npy).exists()
    with pytest.raises(InputFileError, match=r"has no sidecar .*again\.json.*delete .*again\.npy and rerun"):
        load_cache(npy, data.manifest)


def test_an_interrupted_rebuild_never_pairs_new_arrays_with_the_old_sidecar(tmp_path, monkeypatch):
    """Built from manifest A, rebuilt from an edited B (same images, other labels/order) and killed
    before the sidecar, then A restored: the old sidecar matched manifest A and the arrays of B were
    taken silently."""
    data = make_dataset(tmp_path)
    manifest_a = data.manifest.read_text()
    table = pd.read_csv(data.manifest, keep_default_na=False)
    table["path"] = table["path"].iloc[::-1].to_numpy()
    table.to_csv(data.manifest, index=False)
    monkeypatch.setattr(cache_module, "write_json", _killed)
    with pytest.raises(Killed):
        build_cache(data.manifest, 16, data.cache)
    data.manifest.write_text(manifest_a)
    with pytest.raises(InputFileError, match="has no sidecar"):
        load_cache(data.cache, data.manifest)


def test_a_cache_of_another_shape_than_its_sidecar_says_is_refused(tmp_path):
    data = make_dataset(tmp_path)
    np.save(data.cache, np.zeros((40, 3, 8, 8), dtype=np.uint8))
    assert json.loads(sidecar(data.cache).read_text())["size"] == 16
    with pytest.raises(InputFileError, match=r"shape \(40, 3, 8, 8\).*describes \(40, 3, 16, 16\)"):
        load_cache(data.cache, data.manifest)
