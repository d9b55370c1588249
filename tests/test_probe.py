"""The linear probe (gmc.probe, gmc.training.probe, the ``linear_probe`` card): ridge and its
cross-validation against plain numpy references, test rows never read while fitting, files without
pickle, a frozen backbone that training leaves unchanged, and the ``gmc features`` -> ``gmc probe``
commands end to end on two tiny datasets (random-init Lite0 at 32 px), whose outputs ``gmc score`` and
``gmc aggregate`` accept and whose ``model.pt`` ``gmc predict`` scores alike."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from gmc.probe import (
    DEFAULT_ALPHAS,
    fit_probe,
    fold_of,
    load_probe,
    predict_probe,
    save_probe,
)

torch.set_num_threads(1)


def _linear_data(n=120, d=6, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 5.0, size=d) + rng.normal(size=d)
    w = rng.normal(size=d)
    y = x @ w + 0.3 + noise * rng.normal(size=n)
    return x, y, w


def _reference_ridge(x, y, alpha):
    """float64 closed form on standardised features: (Z'Z + alpha I)^-1 Z'(y - y_bar)."""
    mean, std = x.mean(axis=0), x.std(axis=0)
    z = (x - mean) / std
    w = np.linalg.solve(z.T @ z + alpha * np.eye(x.shape[1]), z.T @ (y - y.mean()))
    return mean, std, w, y.mean()


# ------------------------------------------------------------------------------------------- ridge
@pytest.mark.parametrize("alpha", [1e-3, 1.0, 100.0])
def test_ridge_equals_the_closed_form_reference(alpha):
    x, y, _ = _linear_data()
    probe = fit_probe(x, y, np.arange(len(y)), alphas=[alpha])
    mean, std, w, y_bar = _reference_ridge(x, y, alpha)
    np.testing.assert_allclose(probe.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(probe.scale, std, rtol=1e-12)
    np.testing.assert_allclose(probe.coef, w, rtol=1e-9, atol=1e-12)
    assert probe.intercept == pytest.approx(y_bar, rel=1e-14)
    x_new = _linear_data(n=7, seed=1)[0]
    np.testing.assert_allclose(predict_probe(probe, x_new), y_bar + ((x_new - mean) / std) @ w, rtol=1e-9)


def test_small_alpha_recovers_the_generating_coefficients():
    x, y, w_true = _linear_data(n=400, noise=1e-3)
    probe = fit_probe(x, y, np.arange(len(y)))
    raw = probe.coef / probe.scale  # back to the raw feature units
    np.testing.assert_allclose(raw, w_true, atol=2e-3)
    assert probe.alpha <= 1.0 and len(probe.cv_mse) == len(DEFAULT_ALPHAS) and probe.folds == 5


def test_cross_validation_equals_a_brute_force_reference():
    """Pooled validation MSE per alpha, each fold standardised and solved on the other folds alone."""
    x, y, _ = _linear_data(n=60, noise=0.5, seed=3)
    groups = np.repeat(np.arange(20), 3)  # 3 rows per group, kept together
    alphas = [0.01, 1.0, 30.0, 1000.0]
    probe = fit_probe(x, y, np.arange(60), groups=groups, alphas=alphas, folds=4, seed=7)
    fold = fold_of(groups, 4, 7)
    expected = np.zeros(len(alphas))
    for i, alpha in enumerate(alphas):
        for k in range(4):
            mean, std, w, y_bar = _reference_ridge(x[fold != k], y[fold != k], alpha)
            expected[i] += np.sum((y_bar + ((x[fold == k] - mean) / std) @ w - y[fold == k]) ** 2)
    np.testing.assert_allclose(probe.cv_mse, expected / 60, rtol=1e-9)
    assert probe.alpha == alphas[int(np.argmin(expected))]


def test_folds_keep_groups_together_and_ignore_row_order():
    groups = np.array(list("aabbbcdddeff"))
    fold = fold_of(groups, 3, seed=0)
    for g in set(groups):
        assert len(set(fold[groups == g])) == 1
    perm = np.random.default_rng(1).permutation(len(groups))
    np.testing.assert_array_equal(fold_of(groups[perm], 3, seed=0), fold[perm])
    assert set(fold) == {0, 1, 2}


def test_test_rows_are_never_read():
    """Replacing everything outside the training rows by NaN or garbage, or dropping it, changes nothing."""
    x, y, _ = _linear_data(n=100, noise=0.3, seed=5)
    groups = np.arange(100) // 2
    train = np.sort(np.random.default_rng(0).choice(100, 70, replace=False))
    other = np.setdiff1d(np.arange(100), train)
    reference = fit_probe(x, y, train, groups=groups, seed=3)
    x_bad, y_bad, g_bad = x.copy(), y.copy(), groups.astype(object)
    x_bad[other], y_bad[other], g_bad[other] = np.nan, np.nan, "garbage"
    poisoned = fit_probe(x_bad, y_bad, train, groups=g_bad, seed=3)
    alone = fit_probe(x[train], y[train], np.arange(70), groups=groups[train], seed=3)
    x_big, y_big = x.copy(), y.copy()
    x_big[other] *= 1e6
    y_big[other] = -y_big[other] * 50
    changed = fit_probe(x_big, y_big, train, groups=groups, seed=3)
    for probe in (poisoned, alone, changed):
        assert probe.alpha == reference.alpha
        for name in ("mean", "scale", "coef", "cv_mse"):
            np.testing.assert_array_equal(getattr(probe, name), getattr(reference, name))
        assert probe.intercept == reference.intercept


def test_constant_features_get_no_weight_and_edges_are_flagged():
    x, y, _ = _linear_data(n=50)
    x = np.column_stack([x, np.full(50, 3.25), np.zeros(50)])
    probe = fit_probe(x, y, np.arange(50), alphas=[1e-6, 1e-5])
    assert probe.coef[-2:].tolist() == [0.0, 0.0] and probe.scale[-2:].tolist() == [1.0, 1.0]
    assert np.all(np.isfinite(predict_probe(probe, x)))
    assert probe.alpha_at_edge and probe.summary()["n_constant_features"] == 2
    with pytest.raises(ValueError, match="not all finite"):
        fit_probe(np.where(x == 3.25, np.nan, x), y, np.arange(50))


def test_save_and_load_without_pickle(tmp_path):
    x, y, _ = _linear_data()
    probe = fit_probe(x, y, np.arange(100), seed=2)
    save_probe(tmp_path / "probe.npz", probe, {"run": "r1"})
    loaded, extra = load_probe(tmp_path / "probe.npz")
    assert extra == {"run": "r1"} and loaded.alpha == probe.alpha and loaded.meta == probe.meta
    np.testing.assert_array_equal(predict_probe(loaded, x), predict_probe(probe, x))
    with np.load(tmp_path / "probe.npz", allow_pickle=False) as npz:  # plain arrays only
        assert sorted(npz.files) == ["alphas", "coef", "cv_mse", "mean", "meta", "scale"]


# ------------------------------------------------------------------------------------- the network
def test_card_and_a_frozen_backbone_unchanged_by_training():
    """The engine's training step on the probe network: the head learns, the backbone (weights and
    BatchNorm statistics) stays as it was."""
    from gmc.config import TrainSettings
    from gmc.data.loading import ImageSet
    from gmc.losses import build_loss
    from gmc.models import build_model, get_model_card
    from gmc.training.engine import build_optimizer, make_grad_scaler, train_one_epoch
    from tests.conftest import tiny_run_config

    card = get_model_card("linear_probe")
    assert card.trainer == "probe" and card.native_loss == "mse" and card.weights() == []
    assert card.weights(backbone="resnet50", pretrained="tv_in1k") == [
        "resources/weights/resnet50.tv_in1k.safetensors"
    ]
    torch.manual_seed(0)
    model = build_model("linear_probe", pretrained=None, input_size=32)
    backbone = {k: v.clone() for k, v in model.features.state_dict().items()}
    head = model.head.weight.detach().clone()
    train = tiny_run_config(optimizer="adamw", weight_decay=0.1, batch_size=4)["train"]
    settings = TrainSettings.from_dict(train)
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    data = ImageSet(images=images, mos=torch.rand(8), names=[f"{i}.png" for i in range(8)])
    train_one_epoch(
        model,
        build_loss("mse", n_train=8),
        build_optimizer(model, settings),
        data,
        data.mos,
        settings,
        torch.Generator().manual_seed(0),
        torch.device("cpu"),
        make_grad_scaler(torch.device("cpu"), False),
        epoch=0,
    )
    assert all(torch.equal(backbone[k], v) for k, v in model.features.state_dict().items())
    assert not torch.equal(head, model.head.weight)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["head.weight", "head.bias"]


# -------------------------------------------------------------------------------------- end to end
def _dataset(root, name, n, seed):
    """A tiny dataset whose MOS is the mean brightness: PNGs, manifest, 32 px image cache, 2 splits."""
    from PIL import Image

    from gmc.data.cache import build_cache
    from gmc.data.splits import make_splits
    from gmc.io import write_csv

    rng = np.random.default_rng(seed)
    folder = root / name
    folder.mkdir(parents=True)
    level = rng.uniform(0.1, 0.9, n)
    rows = []
    for i, b in enumerate(level):
        pixels = np.clip(rng.normal(b * 255, 40, (32, 32, 3)), 0, 255).astype(np.uint8)
        image = f"im{i:02d}.png"
        Image.fromarray(pixels).save(folder / image)
        rows.append((image, (folder / image).as_posix(), "", image, 1 + 4 * b, b))
    manifest = pd.DataFrame(rows, columns=["image", "path", "reference_path", "content", "mos_raw", "mos"])
    manifest.insert(5, "std_raw", np.nan)
    write_csv(root / f"{name}.csv", manifest)
    build_cache(root / f"{name}.csv", 32, root / f"{name}.32.npy")
    splits = make_splits(manifest, n_splits=2, test_fraction=0.25, val_fraction=0.2, seed=0)
    write_csv(root / f"{name}.splits.csv", splits)
    return root / f"{name}.csv", root / f"{name}.32.npy", root / f"{name}.splits.csv"


def _run_config(split, **options):
    from tests.conftest import tiny_run_config

    cfg = tiny_run_config()
    return {
        **cfg,
        "model": "probe",
        "arch": "linear_probe",
        "model_options": {"pretrained": None, "input_size": 32, **options},
        "input_size": 32,
        "loss": "native",
        "loss_type": "mse",
        "loss_role": "native",
        "loss_options": {},
        "train_set": "seta",
        "split": split,
        "seed": split,
    }


def test_features_then_probe_commands_end_to_end(tmp_path, capsys):
    from gmc.cli import main
    from gmc.evaluation import PREDICTION_COLUMNS, read_predictions, score_predictions
    from gmc.inference import TestSet, predict_run
    from gmc.results import collect_curves, collect_runs

    sets = {"seta": _dataset(tmp_path, "seta", 40, 0), "setb": _dataset(tmp_path, "setb", 12, 1)}
    key = "efficientnet_lite0.random.32.mean_std"
    feats = {}
    for name, (manifest, cache, _) in sets.items():
        feats[name] = tmp_path / "features" / name / f"{key}.npy"
        argv = ["features", "--manifest", manifest, "--cache", cache, "--pretrained", "none"]
        argv += ["--input-size", "32", "--out", feats[name], "--batch-size", "8"]
        assert main([str(a) for a in argv]) == 0
    stamp = {n: (f.read_bytes(), f.stat().st_mtime_ns) for n, f in feats.items()}
    manifest, cache, splits = sets["seta"]
    tests = [a for n in ("seta", "setb") for a in ("--test-features", n, sets[n][0], feats[n])]
    for split in (0, 1):  # two runs on one feature cache
        run, pred = tmp_path / "runs" / f"split{split}", tmp_path / "pred" / f"split{split}"
        argv = ["probe", "--run-config", json.dumps(_run_config(split)), "--features", feats["seta"]]
        argv += ["--manifest", manifest, "--splits", splits, "--out-dir", run, "--predictions-dir", pred]
        assert main([str(a) for a in [*argv, *tests, *(["--checkpoint"] if split == 0 else [])]]) == 0
    assert {n: (f.read_bytes(), f.stat().st_mtime_ns) for n, f in feats.items()} == stamp  # reused as is

    run, pred = tmp_path / "runs" / "split0", tmp_path / "pred" / "split0"
    intra, cross = read_predictions(pred / "seta.csv"), read_predictions(pred / "setb.csv")
    split_rows = pd.read_csv(splits).query("split == 0")
    assert set(intra["image"]) == set(split_rows.loc[split_rows["part"] == "test", "image"])
    assert len(cross) == 12 and set(PREDICTION_COLUMNS) <= set(cross.columns)
    assert set(intra["selection"]) == {"train_cv"} and set(intra["tta"]) == {"none"}
    scores = score_predictions(sorted((tmp_path / "pred").rglob("*.csv")))
    assert len(scores) == 4 * 5 and scores.query("metric == 'SROCC'")["value"].notna().all()
    runs = collect_runs(sorted((tmp_path / "runs").rglob("run.json")))
    assert runs["selection"].tolist() == ["train_cv"] * 2 and runs["n_train"].gt(0).all()
    curves = collect_curves(sorted((tmp_path / "runs").rglob("run.json")))
    assert len(curves) == 2 and "val_SROCC" in curves
    summary = json.loads((run / "summary.json").read_text())
    assert summary["probe"]["folds"] == 5 and summary["features"]["dim"] == 992

    # the exported network scores images as the probe scores their features
    out = predict_run(run / "model.pt", [TestSet("setb", *sets["setb"][:2])], tmp_path / "net")
    by_network = pd.read_csv(out[0], dtype={"image": str})
    assert list(by_network.columns) == list(cross.columns)  # the same file format as `gmc predict`
    np.testing.assert_allclose(by_network["prediction"], cross["prediction"], rtol=1e-5, atol=1e-6)

    # features of another pooling are refused, naming the mismatch
    argv = ["probe", "--run-config", json.dumps(_run_config(0, pooling="mean")), "--features", feats["seta"]]
    argv += ["--manifest", manifest, "--splits", splits, "--out-dir", tmp_path / "bad"]
    assert main([str(a) for a in argv]) == 2
    assert "pooling: cache has 'mean_std', asked for 'mean'" in capsys.readouterr().err
    assert not (tmp_path / "bad" / "probe.npz").exists()


def test_probe_refuses_another_loss_and_crops():
    from gmc.errors import ConfigError
    from gmc.training.probe import probe_spec

    spec, _ = probe_spec(_run_config(0))
    assert spec.key() == "efficientnet_lite0.random.32.mean_std"
    with pytest.raises(ConfigError, match="closed form"):
        probe_spec({**_run_config(0), "loss_type": "gcc"})
    with pytest.raises(ConfigError, match="not from crops"):
        probe_spec({**_run_config(0), "protocol": {"kind": "crop", "train_crops": 2, "test_crops": 1}})


def test_probe_modules_import_no_model_code():
    """Fitting and predicting from cached features needs no torch (design.md, light index)."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    code = "import sys, gmc.cli, gmc.features, gmc.probe, gmc.training.probe, gmc.models.cards; "
    code += "print(sorted(m for m in ('torch', 'timm', 'pyiqa') if m in sys.modules))"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
