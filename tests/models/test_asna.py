"""ASNA (gmc.models.asna): shapes, the two Siamese branches, input order, input sizes, parameter count and
the registered card."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from gmc.models import build_model, get_model_card
from gmc.models.asna import ASNA, count_parameters

SIZE = 64  # the demo-sized test input (a multiple of 16)


pytestmark = pytest.mark.usefixtures("one_thread")


def pair(batch: int = 2, size: int = SIZE, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, size, size, generator=g), torch.rand(batch, 3, size, size, generator=g)


def test_output_shape_and_finite_in_train_and_eval():
    torch.manual_seed(0)
    model = build_model("asna", input_size=SIZE)
    ref, dist = pair(3)
    out = model(ref, dist)
    assert out.shape == (3,) and torch.isfinite(out).all()
    model.eval()
    with torch.no_grad():
        out = model(ref, dist)
    assert out.shape == (3,) and torch.isfinite(out).all()


def test_gradients_reach_both_inputs_and_the_shared_encoder():
    """Non-zero gradients flow back to the reference *and* the distorted image (the reference enters only
    through the |f_k(ref) - f_k(dist)| skips, the distorted image also through the trunk)."""
    torch.manual_seed(0)
    model = ASNA(SIZE)
    ref, dist = pair(2)
    ref.requires_grad_(True)
    dist.requires_grad_(True)
    model(ref, dist).sum().backward()
    assert ref.grad is not None and ref.grad.abs().sum() > 0
    assert dist.grad is not None and dist.grad.abs().sum() > 0
    first_conv = model.encoder.pre.weight.grad
    assert first_conv is not None and first_conv.abs().sum() > 0
    # the reference alone: its gradient must come from the skips, not be a copy of the distorted one's
    assert not torch.allclose(ref.grad, dist.grad)


def test_the_reference_changes_the_score():
    """The same distorted image scored against itself (zero difference skips) and against another
    reference gives different scores: the reference reaches the output."""
    torch.manual_seed(0)
    model = ASNA(SIZE).eval()
    ref, dist = pair(2)
    with torch.no_grad():
        same = model(dist, dist)
        other = model(ref, dist)
    assert not torch.allclose(same, other)


def test_swapping_reference_and_distorted_changes_the_score():
    torch.manual_seed(0)
    model = ASNA(SIZE).eval()
    ref, dist = pair(4)
    with torch.no_grad():
        forward, swapped = model(ref, dist), model(dist, ref)
    assert (forward - swapped).abs().max() > 1e-4


@pytest.mark.parametrize("size", [40, 100, 8, 0, -32, 64.0, True, "64"])
def test_input_size_not_a_multiple_of_16_is_an_error_naming_it(size):
    with pytest.raises(ValueError, match=rf"input_size={size!r} is not a positive multiple of 16"):
        ASNA(size)


@pytest.mark.parametrize("size", [16, 48, 96])
def test_other_multiples_of_16_work_and_the_flatten_size_follows(size):
    """Multiples of 16 (not only of 32) fit: four 2x poolings; the head's input is 8 (s/8)^2."""
    model = ASNA(size).eval()
    assert model.fc.in_features == 8 * (size // 8) ** 2
    with torch.no_grad():
        assert model(*pair(2, size)).shape == (2,)


def test_image_of_another_size_than_input_size_is_an_error():
    model = ASNA(SIZE)
    with pytest.raises(ValueError, match=r"must have shape \(B, 3, 64, 64\), got \(2, 3, 96, 96\)"):
        model(*pair(2, 96))
    ref, dist = pair(2)
    with pytest.raises(ValueError, match="differ in shape"):
        model(ref[:1], dist)


def _hand_count(size: int) -> int:
    """Trainable parameters tallied layer by layer from docs/asna.md section 1 (independent of the code)."""

    def conv(k, cin, cout):
        return k * k * cin * cout + cout

    bn = 2  # weight and bias per channel
    encoder = conv(5, 3, 3) + conv(5, 3, 8) + 8 * bn + conv(5, 8, 16) + 16 * bn
    encoder += conv(3, 16, 32) + 32 * bn + conv(3, 32, 64) + 64 * bn
    decoder = conv(3, 64, 64) + 64 * bn  # bottleneck on f4 of the distorted image
    decoder += (
        conv(3, 64 + 64, 64) + 64 * bn + conv(3, 64 + 32, 32) + 32 * bn + conv(3, 32 + 16, 16) + 16 * bn
    )
    decoder += conv(3, 16 + 8, 32) + 32 * bn + conv(3, 32, 32) + 32 * bn  # stride 4, stride 2
    attention = conv(3, 32, 8) + 8 * bn + conv(3, 8, 8) + 4 * conv(1, 8, 8) + conv(1, 32 + 8 + 8, 8)
    residual = 3 * 2 * conv(3, 8, 8)
    flat = 8 * (size // 8) ** 2
    head = (flat * 32 + 32) + (32 + 1) + (1 + 1)
    return encoder + decoder + attention + residual + head


def test_parameter_count_matches_the_hand_tally_and_the_paper():
    """The paper reports ~0.53 M parameters: "0.53" rounded to two decimals means [0.525, 0.535) M. Keras'
    summary (the authors' source) also counts BatchNorm's running mean and variance (2 per channel, 368
    channels); both counts must fall in that interval."""
    n = count_parameters(ASNA(288))
    assert n == _hand_count(288) == 528_367
    running = sum(
        b.numel() for name, b in ASNA(288).named_buffers() if name.endswith(("running_mean", "running_var"))
    )
    assert running == 2 * 368
    assert 525_000 <= n < 535_000 and 525_000 <= n + running < 535_000
    assert count_parameters(ASNA(SIZE)) == _hand_count(SIZE)


def test_l2_penalty_is_the_keras_regularisers():
    model = ASNA(SIZE)
    convs = [model.encoder.pre.weight] + [m.conv.weight for m in model.modules() if hasattr(m, "conv")]
    assert len(convs) == 1 + 4 + 1 + 3 + 2  # pre, E1-E4, bottleneck, 3 decoder convs, 2 strided convs
    expected = 1e-4 * sum(float(w.detach().double().square().sum()) for w in convs)
    expected += 1e-6 * float(model.fc.weight.detach().double().square().sum())
    assert model.l2_penalty().item() == pytest.approx(expected, rel=1e-5)


def test_card():
    card = get_model_card("asna")
    assert card.full_reference and card.native_loss == "asna_surrogate" and card.default_input_size == 288
    assert card.recipe["batch_size"] == 16 and card.recipe["lr"] == 1e-4
    assert "2x - 1" in card.normalisation
    assert set(card.options()) == {"input_size", "dense", "dropout", "res_blocks"}


def test_registering_asna_imports_no_torch():
    code = (
        "import sys; from gmc.models import get_model_card; card = get_model_card('asna'); "
        "print(card.full_reference, [m for m in ('torch', 'gmc.models.asna') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True []"
