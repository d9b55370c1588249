r"""ASNA: the attention-based Siamese-difference network for full-reference IQA (heavy: imports torch).

Source: S. M. Ayyoubzadeh, A. Royat, "(ASNA) An Attention-based Siamese-Difference Neural Network with
Surrogate Ranking Loss function for Perceptual Image Quality Assessment", CVPR 2021 Workshops (NTIRE 2021,
team MACS), arXiv 2105.02531; official TensorFlow code github.com/smehdia/NTIRE2021-IQA-MACS
(``model_attention.py``, ``configs/configs_attention.txt``), re-implemented here in PyTorch (our own code).
docs/asna.md, section 1, lists what is reproduced. With ``s`` the input size (288 in the paper):

* **Input.** ``forward(reference, distorted)``, both (B, 3, s, s) RGB in [0, 1] (the harness contract,
  :mod:`gmc.models`); the model maps them to [-1, 1] by ``2x - 1``, which is the official
  ``(x - 127.5) / 127.5`` on 0..255 pixels. The trunk runs on the *distorted* image (the official PIPAL
  loader swaps the order by mistake; not reproduced).
* **Shared (Siamese) encoder**, applied to each image separately (so that BatchNorm sees each image batch
  on its own, as the Keras shared model called twice), every conv "same"-padded and followed by
  LeakyReLU(0.5) *then* BatchNorm: pre conv 5x5 3->3 (linear); E1 conv 5x5 ->8 (f1, s); E2 maxpool 2,
  conv 5x5 ->16 (f2, s/2); E3 maxpool 2, conv 3x3 ->32 (f3, s/4); E4 maxpool 2, conv 3x3 ->64 (f4, s/8).
* **Siamese-difference decoder** on the distorted image's f4: maxpool 2, conv 3x3 ->64, upsample x2;
  then for k = 4, 3, 2 concatenate ``|f_k(ref) - f_k(dist)|`` and apply conv 3x3 (64, 32, 16 filters) and
  nearest upsample x2; concatenate ``|f_1(ref) - f_1(dist)|`` (s x s x 24); conv 3x3 ->32 stride 4
  (s/4), conv 3x3 ->32 stride 2 (s/8). Each conv: LeakyReLU(0.5), BatchNorm. The strided convs use
  TensorFlow's "same" padding (total ``max((ceil(n/t) - 1) t + k - n, 0)``, the extra pixel on the
  right/bottom), which for these sizes is no padding at stride 4 and one pixel right/bottom at stride 2.
* **Attention block** (the authors' own, 8 filters): ``u = conv3x3(BN(ReLU(conv3x3(x))))``; channel gate
  ``g_c = sigmoid(conv1x1(ReLU(conv1x1(GAP(u)))))``; "spatial" gate ``g_s = sigmoid(conv1x1(ReLU(
  conv1x1(u))))`` (per pixel *and* channel); output ``conv1x1(concat[x, u * g_c, u * g_s])`` (8 ch).
* **3 residual blocks** ``x + conv3x3(ReLU(conv3x3(x)))`` (8 ch, no BN).
* **Head**: flatten ((s/8)^2 * 8 = 10,368 at 288) -> Linear 32, ReLU -> Dropout (0.0) -> Linear 1, tanh ->
  Linear 1. Output shape (B,). Targets in the paper: z-scored MOS.

**Size.** ``input_size`` must be a multiple of 16: the encoder and the decoder's bottleneck halve the
map four times, and the decoder's upsampled maps must match the skips. (The flatten size follows.)

**Parameters**: 528,367 trainable at ``input_size=288``, plus 736 BatchNorm running statistics (buffers
here; Keras lists them as non-trainable parameters, 529,103 in all); the paper says about 0.53 M. 331,808
of them (63 %) are the first dense layer, which grows with ``(s/8)^2``: 212,975 trainable at ``s = 64``.

**Differences from the official code** (choices, docs asna.md "[open]"):

* BatchNorm ``eps=1e-3`` as Keras, but PyTorch's running-average momentum 0.1 (Keras' 0.99 is 0.01 in
  PyTorch's convention; with it the running statistics would lag the batch statistics for thousands of
  steps, far longer than the CPU demo trains).
* Initialisation as Keras: Glorot-uniform kernels, zero biases (BatchNorm weight 1, bias 0).
* The Keras L2 kernel regularisers (``1e-4 * ||W||^2`` on every encoder/decoder conv kernel, ``1e-6 *
  ||W||^2`` on the first dense kernel) are part of the official *loss*; the harness's optimiser has one
  global ``weight_decay``, so the model exposes the penalty as :meth:`ASNA.l2_penalty`, which the training
  engine adds to the training loss at every step, as Keras does (:mod:`gmc.training.engine`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: L2 factors of the official config ``l2_reg: [1e-6, 1e-4]`` (dense, conv)
L2_DENSE, L2_CONV = 1e-6, 1e-4
#: encoder filters and kernel sizes (``nfs[:4]``, ``kss``), the bottleneck and decoder filters
#: (``nfs[4:8]``), the attention filters (``nfs[8]``) and the strided convs' filters (``nfs[9]``)
ENCODER = ((8, 5), (16, 5), (32, 3), (64, 3))
BOTTLENECK, DECODER, ATTENTION, STRIDED = 64, (64, 32, 16), 8, 32
LEAKY_SLOPE = 0.5
BN_EPS = 1e-3
#: input sizes must be a multiple of this (four 2x poolings before the decoder upsamples back)
SIZE_MULTIPLE = 16


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "same" padding of one axis: (before, after), the odd pixel after."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class ConvAct(nn.Module):
    """conv k x k (TensorFlow "same" padding, any stride) -> LeakyReLU(0.5) -> BatchNorm (the official
    order: activation before normalisation). Its kernel carries the conv L2 penalty."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = tf_same_padding(x.shape[-2], self.kernel, self.stride)
        left, right = tf_same_padding(x.shape[-1], self.kernel, self.stride)
        x = self.conv(F.pad(x, (left, right, top, bottom)))
        return self.bn(F.leaky_relu(x, LEAKY_SLOPE))


class Encoder(nn.Module):
    """The shared encoder: returns [f1 (8, s), f2 (16, s/2), f3 (32, s/4), f4 (64, s/8)]."""

    def __init__(self) -> None:
        super().__init__()
        self.pre = nn.Conv2d(3, 3, ENCODER[0][1], padding="same")
        channels = [3] + [c for c, _ in ENCODER]
        self.stages = nn.ModuleList(ConvAct(channels[i], c, k) for i, (c, k) in enumerate(ENCODER))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats, x = [], self.pre(x)
        for i, stage in enumerate(self.stages):
            x = stage(x if i == 0 else F.max_pool2d(x, 2))
            feats.append(x)
        return feats


class Attention(nn.Module):
    """The authors' attention block (module docstring): channel and per-pixel-and-channel sigmoid gates
    on ``u``, fused with the input by a 1x1 conv."""

    def __init__(self, cin: int, filters: int = ATTENTION) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, filters, 3, padding=1)
        self.bn = nn.BatchNorm2d(filters, eps=BN_EPS)
        self.conv2 = nn.Conv2d(filters, filters, 3, padding=1)
        self.channel = nn.Sequential(
            nn.Conv2d(filters, filters, 1), nn.ReLU(), nn.Conv2d(filters, filters, 1), nn.Sigmoid()
        )
        self.spatial = nn.Sequential(
            nn.Conv2d(filters, filters, 1), nn.ReLU(), nn.Conv2d(filters, filters, 1), nn.Sigmoid()
        )
        self.out = nn.Conv2d(cin + 2 * filters, filters, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.conv2(self.bn(F.relu(self.conv1(x))))
        channel_gated = u * self.channel(u.mean(dim=(2, 3), keepdim=True))
        spatially_gated = u * self.spatial(u)
        return self.out(torch.cat([x, channel_gated, spatially_gated], dim=1))


class ResBlock(nn.Module):
    """``x + conv3x3(ReLU(conv3x3(x)))``, no normalisation."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class ASNA(nn.Module):
    """ASNA (module docstring): ``forward(reference, distorted)`` on (B, 3, s, s) RGB in [0, 1] returns
    the (B,) quality score of the distorted image, higher = better.

    ``input_size`` (s): a multiple of 16 (288 in the paper); ``dense`` (32), ``dropout`` (0.0) and
    ``res_blocks`` (3) are the official ``dense_num``, ``drop_out`` and ``num_resblocks``."""

    def __init__(
        self, input_size: int = 288, dense: int = 32, dropout: float = 0.0, res_blocks: int = 3
    ) -> None:
        super().__init__()
        check_input_size(input_size)
        self.input_size = input_size
        self.encoder = Encoder()
        f = [c for c, _ in ENCODER]
        self.bottleneck = ConvAct(f[3], BOTTLENECK, 3)
        self.decoder = nn.ModuleList(
            [
                ConvAct(BOTTLENECK + f[3], DECODER[0], 3),
                ConvAct(DECODER[0] + f[2], DECODER[1], 3),
                ConvAct(DECODER[1] + f[1], DECODER[2], 3),
            ]
        )
        self.down4 = ConvAct(DECODER[2] + f[0], STRIDED, 3, stride=4)
        self.down2 = ConvAct(STRIDED, STRIDED, 3, stride=2)
        self.attention = Attention(STRIDED, ATTENTION)
        self.res_blocks = nn.Sequential(*(ResBlock(ATTENTION) for _ in range(res_blocks)))
        self.flat_features = ATTENTION * (input_size // 8) ** 2
        self.fc = nn.Linear(self.flat_features, dense)
        self.dropout = nn.Dropout(dropout)
        self.score = nn.Linear(dense, 1)
        self.out = nn.Linear(1, 1)
        self._keras_init()

    def _keras_init(self) -> None:
        """Glorot-uniform kernels and zero biases (the Keras defaults of the official code)."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def _check_inputs(self, reference: torch.Tensor, distorted: torch.Tensor) -> None:
        s = self.input_size
        for what, t in (("reference", reference), ("distorted", distorted)):
            if t.dim() != 4 or t.shape[1] != 3 or tuple(t.shape[-2:]) != (s, s):
                raise ValueError(
                    f"ASNA({s}): {what} must have shape (B, 3, {s}, {s}), got {tuple(t.shape)}; "
                    "build the model with input_size equal to the image size"
                )
        if reference.shape != distorted.shape:
            raise ValueError(
                f"ASNA: reference and distorted differ in shape: {tuple(reference.shape)} vs "
                f"{tuple(distorted.shape)}"
            )

    def forward(self, reference: torch.Tensor, distorted: torch.Tensor) -> torch.Tensor:
        self._check_inputs(reference, distorted)
        ref = self.encoder(reference * 2.0 - 1.0)
        dist = self.encoder(distorted * 2.0 - 1.0)
        x = F.interpolate(self.bottleneck(F.max_pool2d(dist[3], 2)), scale_factor=2, mode="nearest")
        for k, conv in zip((3, 2, 1), self.decoder):
            x = torch.cat([x, (ref[k] - dist[k]).abs()], dim=1)
            x = F.interpolate(conv(x), scale_factor=2, mode="nearest")
        x = torch.cat([x, (ref[0] - dist[0]).abs()], dim=1)
        x = self.res_blocks(self.attention(self.down2(self.down4(x))))
        x = self.dropout(F.relu(self.fc(x.flatten(1))))
        return self.out(torch.tanh(self.score(x))).reshape(-1)

    def l2_penalty(self) -> torch.Tensor:
        """The official Keras kernel regularisers as a loss term: ``1e-4 * sum ||W||^2`` over the encoder
        and decoder conv kernels (not the attention or residual convs, which have none) plus ``1e-6 *
        ||W||^2`` of the first dense kernel."""
        convs = [m.conv.weight for m in self.modules() if isinstance(m, ConvAct)] + [self.encoder.pre.weight]
        return L2_CONV * sum(w.square().sum() for w in convs) + L2_DENSE * self.fc.weight.square().sum()


def check_input_size(input_size) -> None:
    """Raise ``ValueError`` naming ``input_size`` unless it is a positive multiple of 16 (module
    docstring, "Size")."""
    is_int = isinstance(input_size, int) and not isinstance(input_size, bool)
    if not (is_int and input_size >= SIZE_MULTIPLE and input_size % SIZE_MULTIPLE == 0):
        hint = ""
        if is_int and input_size > SIZE_MULTIPLE:
            below = input_size // SIZE_MULTIPLE * SIZE_MULTIPLE
            hint = f" (the nearest are {below} and {below + SIZE_MULTIPLE})"
        raise ValueError(
            f"ASNA: input_size={input_size!r} is not a positive multiple of {SIZE_MULTIPLE}{hint}: the "
            "network halves the map four times and upsamples back to the encoder's skips; 288 in the paper"
        )


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (BatchNorm running statistics are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
