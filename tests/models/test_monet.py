import pytest
import torch

from gmc.models import build_model, get_model_card
from gmc.models.backbones import load_local_weights, remap_lite0_pypi, vit_block_indices
from gmc.models.monet import MAL

TINY_VIT = {
    "backbone": "vit_tiny_patch16_224",
    "input_size": 32,
    "backbone_options": {"depth": 4, "embed_dim": 24, "num_heads": 2},
}


def test_block_indices_follow_depth():
    assert vit_block_indices(12) == [2, 5, 8, 11]
    assert vit_block_indices(4) == [0, 1, 2, 3]


def test_mal_keeps_shape_and_mixes_inputs():
    mal = MAL(n_inputs=3, channels=8, positions=4, dropout=0.0).eval()
    xs = [torch.randn(2, 8, 4) for _ in range(3)]
    out = mal(xs)
    assert out.shape == (2, 8, 4)
    xs2 = [xs[0], xs[1], xs[2] + 1.0]
    assert not torch.allclose(mal(xs2), out)
    with pytest.raises(ValueError, match="expects 3 inputs"):
        mal(xs[:2])


@pytest.mark.parametrize(
    "options",
    [
        TINY_VIT,
        {
            "backbone": "efficientnet_lite0",
            "pretrained": None,
            "feature_channels": 8,
            "feature_size": 2,
            "input_size": 64,
        },
    ],
    ids=["tiny-vit", "lite0"],
)
def test_monet_output_and_gradient_reach_backbone(options):
    torch.manual_seed(0)
    model = build_model("monet", **options)
    x = torch.rand(3, 3, options["input_size"], options["input_size"])
    out = model(x)
    assert out.shape == (3,) and torch.isfinite(out).all()
    out.sum().backward()
    first = next(p for p in model.backbone.parameters() if p.requires_grad)
    assert first.grad is not None and first.grad.abs().sum() > 0


def test_tiny_vit_uses_the_paper_head_geometry_when_s_is_28():
    # 28 x 28 tokens: the exact paper CNN (valid convs and pools 2, 2, 3)
    model = build_model(
        "monet",
        backbone="vit_tiny_patch16_224",
        input_size=224,
        backbone_options={"depth": 4, "embed_dim": 24, "num_heads": 2, "patch_size": 8},
    )
    assert model.size == 28
    assert isinstance(model.cnn[-2], torch.nn.AvgPool2d)
    assert model(torch.rand(1, 3, 224, 224)).shape == (1,)


def test_lite0_pypi_weights_load_and_are_recorded():
    model = build_model(
        "monet",
        backbone="efficientnet_lite0",
        pretrained="efficientnet_lite0_pypi",
        feature_channels=8,
        feature_size=2,
        input_size=64,
    )
    assert "PyPI" in model.weights_source
    assert get_model_card("monet").weights(pretrained="efficientnet_lite0_pypi") == []


def test_remap_refuses_a_shape_mismatch():
    import timm

    target = timm.create_model("efficientnet_lite0", pretrained=False)
    state = {k: v.clone() for k, v in target.state_dict().items()}
    first = next(iter(state))
    state[first] = torch.zeros(1)
    with pytest.raises(ValueError, match="shape mismatch"):
        remap_lite0_pypi(state, target)


def test_missing_weight_file_names_the_file_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="vit.bin.*fetch_weights"):
        load_local_weights(
            torch.nn.Linear(1, 1), tmp_path / "vit.bin", "vit_base_patch8_224.augreg_in21k_ft_in1k"
        )


def test_full_vit_b8_monet_has_the_published_size():
    # built on the meta device: shapes only, no memory; ~86 M backbone + ~230 M head (gmc-iqa.md)
    with torch.device("meta"):
        model = build_model("monet")
    backbone = sum(p.numel() for p in model.backbone.parameters())
    total = sum(p.numel() for p in model.parameters())
    assert backbone == pytest.approx(85.81e6, rel=1e-3)
    assert total - backbone == pytest.approx(229.56e6, rel=1e-3)
    assert model.size == 28
