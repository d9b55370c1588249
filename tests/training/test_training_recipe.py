"""Training-recipe parts of the engine that any model can use (ASNA's protocol, docs/asna.md section 3):
the model's L2 penalty in the loss, the step schedule, paired augmentation inside ``fit`` (deterministic
and resumable) and test-time augmentation in ``predict``, validation and ``gmc predict``; and the
settings/schema of their options."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from torch import nn

from gmc.config.schema import load_schema
from gmc.config.settings import ADDED_TRAIN_DEFAULTS, TrainSettings
from gmc.data.loading import ImageSet
from gmc.errors import ConfigError
from gmc.models import MODELS, register_model
from gmc.training import engine
from gmc.training.augment import AUGMENTATIONS, TTA_VARIANTS, scale_lightness
from gmc.training.checkpoint import load_checkpoint
from gmc.training.engine import SCHEDULERS, build_scheduler, fit, predict, train_one_epoch
from tests.conftest import tiny_run_config

pytestmark = pytest.mark.usefixtures("one_thread")


class TinyFR(nn.Module):
    """A full-reference test model, ``forward(reference, distorted)``, with a Keras-style penalty
    ``1e-3 * sum of squared conv kernel entries``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(6, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 4 * 4, 1)

    def forward(self, reference, distorted):
        x = torch.relu(self.bn(self.conv(torch.cat([reference, distorted - reference], dim=1))))
        return self.fc(nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)).reshape(-1)

    def l2_penalty(self):
        return 1e-3 * self.conv.weight.square().sum()


if "tiny_fr_test" not in MODELS:
    register_model("tiny_fr_test", native_loss="mse", default_input_size=16, full_reference=True)(TinyFR)


def _fr_sets():
    g = torch.Generator().manual_seed(0)

    def make(n):
        refs = torch.randint(0, 256, (n, 3, 16, 16), generator=g, dtype=torch.uint8)
        noise = torch.randint(-60, 61, (n, 1, 1, 1), generator=g) * torch.rand(n, 3, 16, 16, generator=g)
        images = (refs.float() + noise).clamp(0, 255).to(torch.uint8)
        mos = 1.0 - (images.float() - refs.float()).abs().mean(dim=(1, 2, 3)) / 60.0
        return ImageSet(images=images, mos=mos, names=[f"d{i:03d}.png" for i in range(n)], references=refs)

    return make(24), make(8)


def _fr_config(**train):
    config = tiny_run_config(**{"epochs": 4, "batch_size": 4, "hflip": False, **train})
    config.update(arch="tiny_fr_test", model="tiny_fr", loss="mse", loss_type="mse", loss_role="native")
    config["loss_options"] = {}
    return config


def _log(run_dir):
    drop = ("train_seconds", "images_per_s")
    lines = (run_dir / "log.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in drop} for line in lines]


# ----------------------------------------------------------------------------------------- penalty
class PenalisedLinear(nn.Module):
    """Mean colour -> linear score; penalty ``0.5 * ||w||^2`` (no dropout or BatchNorm: exact by hand)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 1)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[0.5, -1.0, 2.0]]))
            self.fc.bias.fill_(0.1)

    def forward(self, x):
        return self.fc(x.mean(dim=(2, 3))).reshape(-1)

    def l2_penalty(self):
        return 0.5 * self.fc.weight.square().sum()


class Unpenalised(PenalisedLinear):
    l2_penalty = None  # not callable: the engine adds nothing


def _one_step(model, data, lr=0.1):
    settings = TrainSettings.from_dict(tiny_run_config(batch_size=len(data), hflip=False)["train"])
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    generator = torch.Generator().manual_seed(0)
    return train_one_epoch(
        model, nn.MSELoss(), optimizer, data, data.mos, settings, generator, torch.device("cpu"), scaler, 0
    )


def test_the_models_l2_penalty_is_added_to_the_training_loss():
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (8, 3, 4, 4), generator=g, dtype=torch.uint8)
    data = ImageSet(images=images, mos=torch.rand(8, generator=g), names=[str(i) for i in range(8)])
    # by hand: loss = mean (w . m_i + b - y_i)^2 + 0.5 ||w||^2, m_i the mean colour; SGD: p -= lr * grad
    w = torch.tensor([[0.5, -1.0, 2.0]], requires_grad=True)
    b = torch.tensor([0.1], requires_grad=True)
    means = images.float().div(255.0).mean(dim=(2, 3))
    mse = ((means @ w.T).reshape(-1) + b - data.mos).square().mean()
    penalty = 0.5 * w.square().sum()
    (mse + penalty).backward()

    model = PenalisedLinear()
    stats = _one_step(model, data)
    assert stats["train_loss"] == pytest.approx((mse + penalty).item(), rel=1e-6)
    assert stats["train_penalty"] == pytest.approx(penalty.item(), rel=1e-6)  # 0.5 * 5.25
    torch.testing.assert_close(model.fc.weight.detach(), (w - 0.1 * w.grad).detach())
    torch.testing.assert_close(model.fc.bias.detach(), (b - 0.1 * b.grad).detach())

    stats = _one_step(Unpenalised(), data)  # the same network without a penalty: none, no log entry
    assert "train_penalty" not in stats and stats["train_loss"] == pytest.approx(mse.item(), rel=1e-6)


def test_asna_exposes_its_penalty_to_the_engine():
    from gmc.models.asna import ASNA

    model = ASNA(input_size=16)
    assert engine.model_penalty(model) is not None
    assert engine.model_penalty(model)().item() == pytest.approx(model.l2_penalty().item())


# ---------------------------------------------------------------------------------------- schedule
def test_step_schedule_follows_the_hand_computed_rates():
    settings = TrainSettings.from_dict(
        tiny_run_config(scheduler="step", lr=0.1, lr_step=3, lr_gamma=0.5)["train"]
    )
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = build_scheduler(optimizer, settings)
    rates = []
    for _ in range(8):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025], rel=1e-12)
    with pytest.raises(ConfigError, match="train.scheduler.*valid: cosine, step, none"):
        build_scheduler(optimizer, TrainSettings.from_dict(tiny_run_config(scheduler="linear")["train"]))


# ------------------------------------------------------------------------------ fit: FR recipe, resume
def test_fit_with_the_asna_recipe_is_deterministic_and_resumes_exactly(tmp_path):
    """Step schedule + paired augmentation + TTA in validation + the model's penalty, on a tiny FR model:
    the learning rate per epoch is the hand-computed one, two runs agree, and a run interrupted after
    epoch 1 resumes (scheduler, data generator) to the uninterrupted result, byte for byte."""
    train, val = _fr_sets()
    recipe = {
        "scheduler": "step",
        "lr": 0.01,
        "lr_step": 2,
        "lr_gamma": 0.5,
        "augment": "asna",
        "tta": "asna",
    }
    fit(_fr_config(**recipe), train, val, tmp_path / "full")
    log = _log(tmp_path / "full")
    assert [r["lr"] for r in log] == pytest.approx([0.01, 0.01, 0.005, 0.005], rel=1e-12)
    assert all(r["train_penalty"] > 0 for r in log)

    class Interrupt(Exception):
        pass

    def stop_after_first(epoch, record):
        if epoch == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        fit(_fr_config(**recipe), train, val, tmp_path / "cut", on_epoch_end=stop_after_first)
    last = torch.load(tmp_path / "cut" / "checkpoints" / "last.pt", weights_only=True)
    assert last["scheduler"]["last_epoch"] == 2 and last["scheduler"]["step_size"] == 2
    fit(_fr_config(**recipe), train, val, tmp_path / "cut")
    assert _log(tmp_path / "cut") == log
    a, b = load_checkpoint(tmp_path / "full" / "model.pt"), load_checkpoint(tmp_path / "cut" / "model.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])

    fit(_fr_config(**{**recipe, "augment": "none"}), train, val, tmp_path / "plain")
    assert _log(tmp_path / "plain")[0]["train_loss"] != log[0]["train_loss"]  # the augmentation is active


# ----------------------------------------------------------------------------------------------- TTA
class PositionWeighted(nn.Module):
    """Not invariant to any variant: a fixed weighted sum of the pixels (and of the reference's)."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.w = nn.Parameter(torch.randn(3, 8, 8, generator=g))
        self.v = nn.Parameter(torch.randn(3, 8, 8, generator=g))

    def forward(self, *images):
        if len(images) == 1:
            return (images[0] * self.w).sum(dim=(1, 2, 3))
        reference, distorted = images
        return (distorted * self.w + reference * self.v).sum(dim=(1, 2, 3))


class Pooled(nn.Module):
    """Invariant to rotations and flips: a function of the global mean colour."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 1)

    def forward(self, x):
        return torch.tanh(self.fc(x.mean(dim=(2, 3)))).reshape(-1)


def _image_set(n=5, references=False):
    g = torch.Generator().manual_seed(4)
    images = torch.randint(0, 256, (n, 3, 8, 8), generator=g, dtype=torch.uint8)
    refs = torch.randint(0, 256, (n, 3, 8, 8), generator=g, dtype=torch.uint8) if references else None
    return ImageSet(images=images, mos=torch.rand(n, generator=g), names=list("abcde")[:n], references=refs)


def _hand_variants(t):
    """The 22 variants of ``tta: asna`` written out: 4 rotations, 3 flips, 15 lightness factors."""
    out = [torch.rot90(t, k, dims=(2, 3)) for k in range(4)]
    out += [torch.flip(t, dims=[2]), torch.flip(t, dims=[3]), torch.flip(t, dims=[2, 3])]
    return out + [scale_lightness(t, 0.1 * i) for i in range(1, 16)]


@pytest.mark.parametrize("references", [False, True], ids=["nr", "fr"])
def test_tta_is_the_mean_over_the_hand_applied_variants(references):
    data = _image_set(references=references)
    model = PositionWeighted().eval()
    x = data.images.float() / 255.0
    with torch.no_grad():
        if references:
            ref = data.references.float() / 255.0
            scores = [model(r, d) for r, d in zip(_hand_variants(ref), _hand_variants(x))]
        else:
            scores = [model(d) for d in _hand_variants(x)]
    expected = torch.stack(scores).mean(dim=0).double().numpy()
    got = predict(model, data, torch.device("cpu"), batch_size=2, amp=False, tta="asna")
    assert got == pytest.approx(expected, rel=1e-5, abs=1e-5)
    plain = predict(model, data, torch.device("cpu"), batch_size=2, amp=False)
    assert abs(got - plain).max() > 1e-3


def test_tta_of_an_invariant_model_equals_plain_prediction(monkeypatch):
    """``Pooled`` is invariant to the 7 geometric variants of ``asna`` (not to lightness, which no
    non-constant image model is): with those variants TTA returns the plain prediction."""
    monkeypatch.setitem(TTA_VARIANTS, "geometric", TTA_VARIANTS["asna"][:7])
    data = _image_set()
    model = Pooled().eval()
    plain = predict(model, data, torch.device("cpu"), batch_size=2, amp=False)
    assert predict(model, data, torch.device("cpu"), 2, False, tta="geometric") == pytest.approx(
        plain, abs=1e-6
    )


def test_validation_selects_on_tta_scores(tmp_path, image_sets):
    train, val = image_sets
    fit(tiny_run_config(epochs=1, tta="asna"), train, val, tmp_path / "run")
    model, state = engine.load_trained_model(tmp_path / "run" / "model.pt", torch.device("cpu"))
    with_tta = engine.evaluate(model, val, torch.device("cpu"), 32, False, tta="asna")
    assert state["selection"]["metrics"] == pytest.approx(with_tta)
    assert _log(tmp_path / "run")[0]["val_SROCC"] == pytest.approx(with_tta["SROCC"])


def test_gmc_predict_applies_and_records_the_runs_tta(tmp_path):
    from gmc.data.loading import load_image_set
    from gmc.inference import TestSet, predict_run
    from tests.reliability.helpers_ckpt import make_dataset

    data = make_dataset(tmp_path / "data")
    parts = {
        p: load_image_set(data.manifest, data.cache, split_csv=data.splits, split=0, part=p)
        for p in ("train", "val")
    }
    fit(tiny_run_config(epochs=1, tta="asna"), parts["train"], parts["val"], tmp_path / "run")
    written = predict_run(
        tmp_path / "run" / "model.pt",
        [TestSet("rand", data.manifest, data.cache)],
        tmp_path / "pred",
        split_csv=data.splits,
        device="cpu",
    )
    frame = pd.read_csv(written[0])
    assert set(frame["tta"]) == {"asna"}
    test = load_image_set(data.manifest, data.cache, split_csv=data.splits, split=0, part="test")
    model, _ = engine.load_trained_model(tmp_path / "run" / "model.pt", torch.device("cpu"))
    expected = predict(model, test, torch.device("cpu"), 64, False, tta="asna")
    assert frame["prediction"].to_numpy() == pytest.approx(expected, rel=1e-6)


# ------------------------------------------------------------------------------------ settings, schema
@pytest.mark.parametrize(
    ("key", "value"), [("augment", "mixup"), ("tta", "ten_crop"), ("scheduler", "linear")]
)
def test_an_unknown_name_stops_fit_before_training(tmp_path, image_sets, key, value):
    with pytest.raises(ConfigError, match=rf"train.{key}: unknown value '{value}'; valid: "):
        fit(tiny_run_config(**{key: value}), *image_sets, tmp_path / "run")
    assert not (tmp_path / "run" / "log.jsonl").exists()


def test_schema_defaults_and_names_match_the_code():
    train = load_schema()["properties"]["train"]["properties"]
    for key, default in ADDED_TRAIN_DEFAULTS.items():
        assert train[key]["default"] == default, key
    assert train["scheduler"]["enum"] == list(SCHEDULERS)
    assert train["augment"]["enum"] == list(AUGMENTATIONS)
    assert train["tta"]["enum"] == list(TTA_VARIANTS)
    assert set(train) == set(TrainSettings.__dataclass_fields__)


def test_a_run_config_written_before_the_new_keys_still_loads():
    old = tiny_run_config()["train"]  # no lr_multipliers, lr_step, lr_gamma, augment, tta
    assert not set(ADDED_TRAIN_DEFAULTS) & set(old)
    settings = TrainSettings.from_dict(old)
    assert (settings.lr_step, settings.lr_gamma, settings.augment, settings.tta) == (10, 0.1, "none", "none")
