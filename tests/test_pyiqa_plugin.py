"""The pyiqa plug-in (gmc/integrations/pyiqa_plugin.py): a checkpoint trained by the harness, built by pyiqa
as the network ``GMCRun``, gives the scores ``gmc predict`` writes for the same image files.

Two tiny runs (the ``tiny_test`` model of tests/conftest.py, 3 epochs on 40 random 24 x 20 px PNGs, a
fraction of a second each): one with the default ``resize`` protocol (images resized to 16 px, so the
plug-in's resize is exercised), one with a ``crop`` protocol (a 2 x 2 grid of 16 px test crops cut from a
28 x 24 px cache) and the 22-variant ``asna`` test-time augmentation. ``gmc predict``'s library function
(:func:`gmc.inference.predict_run`, used through its module so that pytest does not collect its ``TestSet``)
writes the reference CSVs.

**Tolerance.** Both paths feed the model the same uint8 images (pyiqa's ``imread2tensor`` divides the 8-bit
pixels by 255, the plug-in multiplies back and rounds, then resizes with the cache's own function), so what
may differ is the CSV's rounding (10 significant digits) and float32 arithmetic in another order (kernels
chosen for another batch size). Measured on these runs (scores 0.2 to 0.47): 5e-11 for the same batch,
3e-8 one image at a time; adding one grey level to every pixel moves the scores by 1e-3 (resize run) and
5e-3 (crop run). ``rtol=1e-5`` (at most 5e-6 here) lies between the two: it allows the arithmetic, not a
preprocessing step off by a grey level.

**Discovery.** The editable install in the shared venv carries the metadata of the checkout it was
installed from, not of this one, and reinstalling it from a test would change an environment other
processes use. So :func:`test_pyiqa_discovers_the_entry_point_declared_in_pyproject` builds this
checkout's metadata with the project's own build backend (setuptools' PEP 517
``prepare_metadata_for_build_wheel``, what ``pip install`` runs) into a temporary folder and runs a fresh
interpreter with that folder first on ``sys.path``: ``importlib.metadata`` keeps the first distribution of
a name, so pyiqa sees exactly the entry points pyproject.toml declares, installed or not.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from gmc import inference
from gmc.data.cache import build_cache
from gmc.data.loading import load_image_set
from gmc.integrations.pyiqa_plugin import ARCH_NAME, register
from gmc.training.engine import fit
from tests.conftest import REPO, tiny_run_config
from tests.reliability.helpers_ckpt import plugin_env, write_dataset

pytestmark = pytest.mark.usefixtures("one_thread")

WIDTH, HEIGHT = 24, 20  # the PNGs: neither the model's 16 px nor the crop run's 28 x 24 cache
STORED = (28, 24)
CROP_PROTOCOL = {"kind": "crop", "train_crops": 2, "test_crops": 4, "test_crop_mode": "grid"}
TOLERANCE = {"rtol": 1e-5, "atol": 1e-7}


def _dataset(root: Path) -> tuple[Path, Path, list[Path]]:
    """40 random PNGs whose normalised MOS is their brightness; the manifest, split 0 and the test files."""
    return write_dataset(root, width=WIDTH, height=HEIGHT, seed=1)


def _train_and_predict(root: Path, manifest: Path, splits: Path, config: dict, size) -> pd.DataFrame:
    """Train ``config`` on a cache at ``size``, then score its test part as ``gmc predict`` does."""
    cache = root / "cache.npy"
    build_cache(manifest, size, cache)
    train, val = (
        load_image_set(manifest, cache, split_csv=splits, split=0, part=p) for p in ("train", "val")
    )
    fit(config, train, val, root / "run")
    inference.predict_run(
        root / "run" / "model.pt",
        [inference.TestSet("rand", manifest, cache)],
        root / "pred",
        split_csv=splits,
    )
    return pd.read_csv(root / "pred" / "rand.csv").set_index("image")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``resize`` and ``crop``: each the run folder and its ``gmc predict`` CSV; ``files``: the test part."""
    root = tmp_path_factory.mktemp("pyiqa")
    manifest, splits, test_files = _dataset(root)
    resize = _train_and_predict(root / "resize", manifest, splits, tiny_run_config(), 16)
    crop_config = {**tiny_run_config(tta="asna"), "protocol": CROP_PROTOCOL}
    crop = _train_and_predict(root / "crop", manifest, splits, crop_config, STORED)
    register()  # pyiqa reads the entry point only from installed metadata: see the module docstring
    return {
        "resize": (root / "resize" / "run", resize),
        "crop": (root / "crop" / "run", crop),
        "files": test_files,
    }


def _pyiqa_images(files: list[Path]) -> torch.Tensor:
    """The files as pyiqa reads them: RGB float (B, 3, H, W) in [0, 1]."""
    from pyiqa.utils.img_util import imread2tensor

    return torch.stack([imread2tensor(str(f), rgb=True) for f in files])


def _expected(predictions: pd.DataFrame, files: list[Path]) -> np.ndarray:
    return predictions.loc[[f.name for f in files], "prediction"].to_numpy()


def test_pyiqa_scores_equal_gmc_predict_resize_protocol(runs):
    from pyiqa.archs import build_network

    (run_dir, predictions), files = runs["resize"], runs["files"]
    net = build_network({"type": ARCH_NAME, "pretrained_model_path": str(run_dir / "model.pt")})
    expected = _expected(predictions, files)
    scores = net(_pyiqa_images(files))
    assert scores.shape == (len(files),) and scores.dtype == torch.float32
    np.testing.assert_allclose(scores.numpy(), expected, **TOLERANCE)
    one_by_one = torch.cat([net(_pyiqa_images([f])) for f in files])  # other batch sizes, same scores
    np.testing.assert_allclose(one_by_one.numpy(), expected, **TOLERANCE)
    by_folder = build_network({"type": ARCH_NAME, "pretrained_model_path": run_dir})  # the run folder
    np.testing.assert_allclose(by_folder(_pyiqa_images(files)).numpy(), expected, **TOLERANCE)
    assert np.ptp(expected) > 1e-3, "the scores must differ between images for the comparison to mean much"


def test_pyiqa_scores_equal_gmc_predict_crop_protocol_with_tta(runs):
    from pyiqa.archs import build_network

    (run_dir, predictions), files = runs["crop"], runs["files"]
    net = build_network({"type": ARCH_NAME, "pretrained_model_path": run_dir, "stored_size": STORED})
    assert net.protocol.views.crops and net.protocol.tta == "asna"
    np.testing.assert_allclose(net(_pyiqa_images(files)).numpy(), _expected(predictions, files), **TOLERANCE)
    # without stored_size the crops come from the 24 x 20 image itself: other crops, other scores
    as_is = build_network({"type": ARCH_NAME, "pretrained_model_path": run_dir})(_pyiqa_images(files))
    assert not np.allclose(as_is.numpy(), _expected(predictions, files), **TOLERANCE)


def test_bad_inputs_raise_errors_that_name_value_and_fix(runs):
    from pyiqa.archs import build_network

    from gmc.errors import InputFileError
    from gmc.integrations.pyiqa_arch import GMCRun

    (resize_dir, _), (crop_dir, _) = runs["resize"], runs["crop"]
    net = GMCRun(resize_dir)
    images = _pyiqa_images(runs["files"][:2])
    with pytest.raises(ValueError, match=r"values in \[0, 255\].*divided by 255"):
        net(images * 255)
    with pytest.raises(ValueError, match=r"\(2, 4, 20, 24\).*\(B, 3, H, W\)"):
        net(torch.cat([images, images[:, :1]], dim=1))
    with pytest.raises(ValueError, match="no-reference model.*images only"):
        net(images, images)
    with pytest.raises(ValueError, match="stored_size=\\(28, 24\\) applies to crop-protocol runs only"):
        GMCRun(resize_dir, stored_size=STORED)
    with pytest.raises(ValueError, match="stored_size 20x12 is smaller than the 16 px test crops"):
        GMCRun(crop_dir, stored_size="20x12")
    with pytest.raises(ValueError, match="stored_size='big' is not a resolution.*'WxH'"):
        GMCRun(crop_dir, stored_size="big")
    with pytest.raises(ValueError, match="12x12 px, smaller than the 16 px test crops.*stored_size"):
        GMCRun(crop_dir)(images[:, :, :12, :12])
    with pytest.raises(ValueError, match="needs pretrained_model_path"):
        build_network({"type": ARCH_NAME})
    with pytest.raises(InputFileError, match="checkpoint .*elsewhere does not exist; train the run first"):
        GMCRun(resize_dir.parent / "elsewhere")


_DISCOVERY = (
    textwrap.dedent(
        """
    import json, sys
    from importlib.metadata import entry_points
    import torch
    from pyiqa.archs import build_network
    from pyiqa.utils.img_util import imread2tensor

    net = build_network({"type": %r, "pretrained_model_path": sys.argv[1]})
    images = torch.stack([imread2tensor(f, rgb=True) for f in sys.argv[2:]])
    found = [(ep.name, ep.value, ep.dist.name, str(ep.dist.locate_file(""))) for ep in
             entry_points(group="pyiqa.archs")]
    print("RESULT=" + json.dumps({"scores": net(images).tolist(), "entry_points": found,
                                 "arch_file": sys.modules[type(net).__module__].__file__}))
    """
    )
    % ARCH_NAME
)


def test_pyiqa_discovers_the_entry_point_declared_in_pyproject(runs, tmp_path):
    """A fresh interpreter with this checkout's metadata (module docstring) and nothing imported by hand."""
    (run_dir, predictions), files = runs["resize"], runs["files"]
    source, meta = tmp_path / "source", tmp_path / "site"
    source.mkdir()
    meta.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    build = "from setuptools import build_meta; print(build_meta.prepare_metadata_for_build_wheel(%r))"
    done = subprocess.run(
        [sys.executable, "-c", build % str(meta)], cwd=source, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for egg_info in meta.glob("*.egg-info"):  # a by-product of the build: not a distribution to install
        shutil.rmtree(egg_info)
    env = plugin_env(meta)  # + a distribution registering tiny_test (gmc.models), the run's model
    result = subprocess.run(
        [sys.executable, "-c", _DISCOVERY, str(run_dir / "model.pt"), *map(str, files)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.split("RESULT=", 1)[1])
    gmc_entries = [e for e in found["entry_points"] if e[2] == "gmc-iqa-bench"]
    assert gmc_entries == [["gmc", "gmc.integrations.pyiqa_plugin:register", "gmc-iqa-bench", str(meta)]]
    assert Path(found["arch_file"]) == REPO / "gmc" / "integrations" / "pyiqa_arch.py"
    np.testing.assert_allclose(found["scores"], _expected(predictions, files), **TOLERANCE)


def test_plugin_module_imports_neither_torch_nor_pyiqa():
    code = (
        "import sys, gmc.integrations.pyiqa_plugin\n"
        "print(','.join(m for m in ('torch', 'pyiqa', 'timm') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == ""
