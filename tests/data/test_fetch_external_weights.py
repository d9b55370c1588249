"""Declared non-timm weight files (gmc.models.weight_files.EXTERNAL_WEIGHTS) are fetched from their
URL by the same step as timm's, sha256-locked: checked against a loopback HTTP server (no network)."""

from __future__ import annotations

import hashlib
import json

import pytest

from gmc.models import weight_files
from gmc.weights import fetch_weights, timm_weight_url

PAYLOAD = b"\x80\x02fake-pth" * 1000


def test_declared_file_is_fetched_from_its_url_and_locked(http_server, tmp_path, monkeypatch):
    http_server.files["/weights/DBCNN_scnn-7ea73d75.pth"] = PAYLOAD
    url = http_server.url("/weights/DBCNN_scnn-7ea73d75.pth")
    monkeypatch.setitem(weight_files.EXTERNAL_WEIGHTS, "DBCNN_scnn-7ea73d75.pth", url)
    out = tmp_path / "resources" / "weights" / "DBCNN_scnn-7ea73d75.pth"
    assert fetch_weights(out) == out and out.read_bytes() == PAYLOAD
    lock = json.loads((out.parent / "lock.json").read_text())["archives"]["weights/DBCNN_scnn-7ea73d75.pth"]
    assert lock["sha256"] == hashlib.sha256(PAYLOAD).hexdigest() and lock["url"] == url
    fetch_weights(out)  # verified against the lock, not downloaded again
    assert len(http_server.hits("/weights/DBCNN_scnn-7ea73d75.pth")) == 1


def test_declared_urls_are_pyiqa_files_and_timm_names_still_resolve():
    assert timm_weight_url("resources/weights/DBCNN_scnn-7ea73d75.pth").endswith("/DBCNN_scnn-7ea73d75.pth")
    assert timm_weight_url("resnet50.tv_in1k.safetensors") == (
        "https://huggingface.co/timm/resnet50.tv_in1k/resolve/main/model.safetensors"
    )
    with pytest.raises(ValueError, match="declared files"):
        timm_weight_url("unknown.pth")
