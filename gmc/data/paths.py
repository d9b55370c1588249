"""Image paths as labels files list them: one normal form, and never a file outside the dataset root.

An image's identity is its normalised path relative to the dataset root (:func:`label_path`):
``./img1.jpg``, ``img1.jpg`` and ``sub/../img1.jpg`` name one image. Every parser's output passes through
:func:`gmc.data.validate.validate_labels`, which normalises each image and reference path with
:func:`label_path` and refuses those that :func:`outside_root` finds leading out of the root, so no file
outside a dataset's root can enter a manifest, whatever a labels file or an archive holds.
"""

from __future__ import annotations

import os
import re

from gmc.errors import InputFileError


class LabelPathError(InputFileError):
    """A labels file lists an image by an absolute path or by one that climbs out of the dataset root."""


def label_path(name: str) -> str:
    """The normal form of image path ``name`` from a labels file: ``/`` as separator (``\\`` counts as
    one), no empty or ``.`` components, ``dir/..`` collapsed. Raises :class:`LabelPathError` for an
    absolute path (``/x``, ``//host/x``, ``C:/x``) and for a ``..`` that climbs above the root. An empty
    name stays empty (validation reports rows without a name)."""
    text = name.replace("\\", "/")
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        raise LabelPathError(f"{name!r} is an absolute path")
    parts: list[str] = []
    for part in text.split("/"):
        if part in ("", "."):
            continue
        if part != "..":
            parts.append(part)
        elif parts:
            parts.pop()
        else:
            raise LabelPathError(f"{name!r} climbs out of the dataset root with '..'")
    return "/".join(parts)


def outside_root(root_real: str, rel: str) -> str | None:
    """Where ``rel`` (a normalised path) under the root really leads, following every link, when that is
    outside the root; None when it stays inside. ``root_real``: ``os.path.realpath`` of the root."""
    real = os.path.realpath(os.path.join(root_real, rel))
    return None if real == root_real or real.startswith(root_real + os.sep) else real
