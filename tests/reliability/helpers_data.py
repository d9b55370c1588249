"""Builders shared by the data-layer reliability tests: archives with hand-made members (symbolic and
hard links included) and tiny datasets of the generic ``csv`` type (PNG images + a labels CSV)."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

#: config entry of a user's csv dataset with columns image, mos (1-5)
CSV_OPTIONS = {"type": "csv", "score_range": [1, 5]}


def png_bytes(seed: int = 0, size: int = 8) -> bytes:
    """A small random RGB PNG; different seeds give different bytes."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def zip_archive(path: Path, members: list[tuple[str, object]]) -> Path:
    """A zip of ``members``: ``(name, bytes)`` files, ``(name, None)`` folders and ``(name, ("sym",
    target))`` symbolic links (stored as Info-ZIP does: mode S_IFLNK, the target as the content)."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members:
            if content is None:
                zf.writestr(zipfile.ZipInfo(name.rstrip("/") + "/"), b"")
            elif isinstance(content, tuple):
                info = zipfile.ZipInfo(name)
                info.create_system = 3  # Unix, so that the mode bits count
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, content[1])
            else:
                zf.writestr(zipfile.ZipInfo(name), content)
    return path


def tar_archive(path: Path, members: list[tuple[str, object]]) -> Path:
    """A tar.gz of ``members``: as :func:`zip_archive`, plus ``(name, ("hard", target))`` hard links."""
    with tarfile.open(path, "w:gz") as tf:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            elif isinstance(content, tuple):
                info.type = {"sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE}[content[0]]
                info.linkname = content[1]
                tf.addfile(info)
            else:
                info.size = len(content)
                tf.addfile(info, io.BytesIO(content))
    return path


ARCHIVERS = {"zip": zip_archive, "tgz": tar_archive}


def csv_dataset(root: Path, labels: str, images: dict[str, bytes]) -> Path:
    """A csv-type dataset at ``root``: the ``images`` (relative path -> bytes) and ``labels.csv`` with the
    text ``labels``. Returns ``root``."""
    for name, data in images.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / "labels.csv").write_text(labels, encoding="utf-8")
    return root
