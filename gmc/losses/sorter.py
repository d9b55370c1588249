r"""ASNA's "sorter": a 1-D CNN that maps a vector of ``n`` scores to their ranks 1..n, pre-trained once on
synthetic vectors and then frozen inside the surrogate ranking loss (:mod:`gmc.losses.asna_surrogate`).
Heavy (imports torch).

Source: ASNA (Ayyoubzadeh and Royat, arXiv 2105.02531; docs/asna.md, section 2), official code
github.com/smehdia/NTIRE2021-IQA-MACS ``ranking_model/train.py``, re-implemented in PyTorch:

* **Network** (:class:`Sorter`), input (B, n) seen as n positions x 1 channel, every Conv1D "same"-padded
  (for even kernels the extra position on the right, as TensorFlow):
  Conv1D 8 k2, PReLU; 16 k3, BN, PReLU; 32 k5, BN, PReLU; 64 k7, BN, PReLU; 96 k10, PReLU;
  128 k7, BN, PReLU; 256 k7, BN, PReLU; flatten (256 n); Dense n. PReLU as Keras' default: one slope per
  position and channel, initialised at 0. BatchNorm ``eps=1e-3`` (Keras) with PyTorch's momentum 0.1;
  Glorot-uniform kernels and zero biases (Keras defaults). 470,872 parameters at n = 16 (9,600 of
  them PReLU slopes).
* **Data** (:func:`synthetic_vectors`): ``n_vectors`` vectors of length n, the first half with entries
  i.i.d. N(0, 2^2) (numpy ``normal(0, 2)``: standard deviation 2), the second half U(-10, 10); targets their
  ranks 1..n (no ties with probability 1). Seeded numpy PCG64, so the same seed gives the same data on
  every platform.
* **Training** (:func:`pretrain_sorter`): L1 between predicted and true ranks, Adam at ``lr``, the
  official step decay ``lr * lr_gamma ** floor((epoch + 1) / lr_step)`` (0-based epochs; the first drop
  comes at the ``lr_step``-th epoch, as the Keras callback), shuffled batches. Official: 2,000,000
  vectors, 100 epochs, batch 1024, lr 1e-3, x0.1 every 30 epochs (the defaults here). The official
  code keeps the epoch with the best loss on a 20 % validation split; here the last epoch is kept and
  measured on separate held-out pairs.
* **Accuracy** (:func:`sorter_accuracy`), the number asked for in asna.md ("mean |Spearman(true) -
  Spearman(sorter)| on held-out vectors"), computed exactly as follows. Held-out pairs (y, y_hat):
  y from :func:`synthetic_vectors` (half normal, half uniform), ``y_hat = a y + (1 - |a|) e`` with
  ``a ~ U(-1, 1)`` per pair and ``e`` an independent generator vector (rows shuffled), so that the pairs'
  Spearman correlations spread over [-1, 1]. With ``D = n (n^2 - 1) / 6``::

      rho_exact  = 1 - sum_i (R(y)_i - R(y_hat)_i)^2 / D        R = exact ranks (= scipy's spearmanr)
      rho_sorter = 1 - sum_i (S(y)_i - S(y_hat)_i)^2 / D        S = the sorter's (soft) ranks, eval mode
      accuracy   = mean over pairs of |rho_exact - rho_sorter|   (lower is better; 0 = exact)

  ``rho_sorter`` is what the loss's ranking term sees: for n = 16, D = 680 and the term
  ``mean_i (S(y)_i - S(y_hat)_i)^2 = 42.5 (1 - rho_sorter)``.

**Checkpoint** (:func:`save_sorter` / :func:`load_sorter`): one plain dict ``{"format", "length",
"state_dict", "meta"}`` of tensors, strings and numbers, readable with ``torch.load(weights_only=True)``,
written atomically (:func:`gmc.io.atomic_path`).

**Determinism**: with the same arguments the weights are identical on CPU (seeded initialisation inside
``torch.random.fork_rng``, so the caller's global RNG is untouched; data and batch order from seeded
generators); thread counts can change floating-point summation order, so compare on one thread count.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gmc.errors import InputFileError
from gmc.io import atomic_path

#: (filters, kernel, batchnorm) of the official ranking model's Conv1D layers
LAYERS = (
    (8, 2, False),
    (16, 3, True),
    (32, 5, True),
    (64, 7, True),
    (96, 10, False),
    (128, 7, True),
    (256, 7, True),
)
BN_EPS = 1e-3
#: the ``format`` entry of a sorter checkpoint
SORTER_FORMAT = "gmc-asna-sorter/1"
DEFAULT_LENGTH = 16


class PositionPReLU(nn.Module):
    """PReLU with one slope per (channel, position), initialised at 0 (Keras ``PReLU()`` defaults):
    ``max(x, 0) + alpha * min(x, 0)``."""

    def __init__(self, channels: int, length: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(channels, length))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x) - self.alpha * F.relu(-x)


class Sorter(nn.Module):
    """The official ranking network for vectors of ``length`` scores (module docstring): (B, n) -> (B, n)
    approximate ranks 1..n; a 1-D input (n,) gives (n,)."""

    def __init__(self, length: int = DEFAULT_LENGTH) -> None:
        super().__init__()
        if isinstance(length, bool) or not isinstance(length, int) or length < 2:
            raise ValueError(f"sorter length must be an integer >= 2, got {length!r}")
        self.length = length
        layers: list[nn.Module] = []
        cin = 1
        for filters, kernel, batchnorm in LAYERS:
            # "same" padding, the extra position of an even kernel on the right (TensorFlow's choice)
            layers.append(nn.ConstantPad1d(((kernel - 1) // 2, kernel // 2), 0.0))
            layers.append(nn.Conv1d(cin, filters, kernel))
            if batchnorm:
                layers.append(nn.BatchNorm1d(filters, eps=BN_EPS))
            layers.append(PositionPReLU(filters, length))
            cin = filters
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(cin * length, length)
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.dim() == 1
        if flat:
            x = x[None]
        if x.dim() != 2 or x.shape[1] != self.length:
            raise ValueError(
                f"sorter of length {self.length}: input must be (B, {self.length}), got {tuple(x.shape)}"
            )
        out = self.fc(self.features(x[:, None, :]).flatten(1))
        return out[0] if flat else out


def exact_ranks(x: torch.Tensor) -> torch.Tensor:
    """Ranks 1..n along the last axis (ordinal; equal to average ranks when there are no ties)."""
    return torch.argsort(torch.argsort(x, dim=-1), dim=-1).to(torch.float32) + 1.0


def synthetic_vectors(
    n_vectors: int, length: int = DEFAULT_LENGTH, seed: int | Sequence[int] = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_vectors`` float32 vectors, the first ``n_vectors // 2`` N(0, 2^2), the rest U(-10, 10), and their
    ranks 1..n (float32), from numpy's PCG64 seeded with ``seed``."""
    rng = np.random.default_rng(seed)
    half = n_vectors // 2
    x = np.concatenate(
        [rng.normal(0.0, 2.0, (half, length)), rng.uniform(-10.0, 10.0, (n_vectors - half, length))]
    )
    x = torch.from_numpy(x)
    return x.to(torch.float32), exact_ranks(x)


def spearman_from_ranks(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``1 - 6 sum_i (a_i - b_i)^2 / (n (n^2 - 1))`` along the last axis (Spearman's rho for tie-free
    ranks ``a``, ``b``)."""
    n = a.shape[-1]
    return 1.0 - 6.0 * (a - b).square().sum(dim=-1) / (n * (n * n - 1))


def heldout_pairs(n_pairs: int, length: int, seed: int | Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The accuracy's held-out pairs (module docstring): ``y`` and ``y_hat = a y + (1 - |a|) e``."""
    rng = np.random.default_rng(seed)
    y, _ = synthetic_vectors(n_pairs, length, rng.integers(2**63))
    e, _ = synthetic_vectors(n_pairs, length, rng.integers(2**63))
    e = e[torch.from_numpy(rng.permutation(n_pairs))]
    a = torch.from_numpy(rng.uniform(-1.0, 1.0, (n_pairs, 1))).to(torch.float32)
    return y, a * y + (1.0 - a.abs()) * e


@torch.no_grad()
def sorter_accuracy(model: Sorter, n_pairs: int = 2000, seed: int | Sequence[int] = (0, 1)) -> float:
    """Mean |rho_exact - rho_sorter| over ``n_pairs`` held-out pairs (module docstring; eval mode, the
    model's mode is restored)."""
    y, y_hat = heldout_pairs(n_pairs, model.length, seed)
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        s_y, s_hat = model(y.to(device)).cpu(), model(y_hat.to(device)).cpu()
    finally:
        model.train(was_training)
    rho_exact = spearman_from_ranks(exact_ranks(y), exact_ranks(y_hat))
    rho_sorter = spearman_from_ranks(s_y, s_hat)
    return float((rho_exact - rho_sorter).abs().mean())


def step_decay(epoch: int, lr: float, lr_step: int, lr_gamma: float) -> float:
    """The official schedule: ``lr * lr_gamma ** floor((epoch + 1) / lr_step)`` for 0-based ``epoch``."""
    return lr * lr_gamma ** math.floor((epoch + 1) / lr_step)


@dataclass
class PretrainedSorter:
    """What :func:`pretrain_sorter` returns: the trained ``model`` (eval mode), its held-out
    ``accuracy`` (:func:`sorter_accuracy`), the mean training L1 per epoch, and ``meta`` (the settings and
    results, stored in the checkpoint)."""

    model: Sorter
    accuracy: float
    train_l1: list[float] = field(default_factory=list)
    meta: dict = field(default_factory=dict)


def pretrain_sorter(
    length: int = DEFAULT_LENGTH,
    n_vectors: int = 2_000_000,
    epochs: int = 100,
    batch_size: int = 1024,
    lr: float = 1e-3,
    seed: int = 0,
    lr_step: int = 30,
    lr_gamma: float = 0.1,
    n_heldout: int = 2000,
    device: str | torch.device = "cpu",
    progress: Callable[[int, float, float], None] | None = None,
) -> PretrainedSorter:
    """Train a :class:`Sorter` of ``length`` on ``n_vectors`` synthetic vectors (module docstring; the
    defaults are the official settings) and measure it on ``n_heldout`` held-out pairs (seeded from
    ``(seed, 1)``, disjoint from the training stream ``(seed, 0)``). ``progress(epoch, l1, lr)`` is
    called after each epoch. The last batch of an epoch may be smaller than ``batch_size``."""
    for name, value in (("n_vectors", n_vectors), ("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"pretrain_sorter: {name} must be an integer >= 1, got {value!r}")
    if n_vectors < 2:
        raise ValueError(
            f"pretrain_sorter: n_vectors must be >= 2 (BatchNorm needs a batch), got {n_vectors}"
        )
    device = torch.device(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Sorter(length).to(device)
    x, ranks = synthetic_vectors(n_vectors, length, (seed, 0))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    history: list[float] = []
    start = time.perf_counter()
    model.train()
    for epoch in range(epochs):
        rate = step_decay(epoch, lr, lr_step, lr_gamma)
        for group in optimizer.param_groups:
            group["lr"] = rate
        order = torch.randperm(n_vectors, generator=generator)
        total = 0.0
        for first in range(0, n_vectors, batch_size):
            idx = order[first : first + batch_size]
            if len(idx) < 2:  # BatchNorm cannot train on a batch of one; at most one vector per epoch
                continue
            xb, rb = x[idx].to(device), ranks[idx].to(device)
            loss = F.l1_loss(model(xb), rb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        history.append(total / n_vectors)
        if progress is not None:
            progress(epoch, history[-1], rate)
    optimizer.zero_grad(set_to_none=True)
    model.eval()
    accuracy = sorter_accuracy(model, n_heldout, (seed, 1))
    meta = {
        "length": length,
        "n_vectors": n_vectors,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "lr_step": lr_step,
        "lr_gamma": lr_gamma,
        "seed": seed,
        "n_heldout": n_heldout,
        "accuracy": accuracy,
        "final_train_l1": history[-1],
        "train_seconds": time.perf_counter() - start,
        "torch": str(torch.__version__),
    }
    return PretrainedSorter(model, accuracy, history, meta)


def _plain(meta: dict) -> dict:
    """``meta`` with every value cast to its plain builtin type (``torch.__version__`` is a ``str``
    subclass that ``weights_only`` loading refuses); anything else is a ``TypeError`` naming the key."""
    out = {}
    for key, value in meta.items():
        base = next((t for t in (bool, int, float, str) if isinstance(value, t)), None)
        if value is not None and base is None:
            raise TypeError(f"sorter meta {key!r}: {type(value).__name__} is not a str, number, bool or None")
        out[str(key)] = value if value is None else base(value)
    return out


def save_sorter(path: str | Path, model: Sorter, meta: dict | None = None) -> None:
    """Write ``{"format", "length", "state_dict", "meta"}`` to ``path`` atomically (CPU tensors; ``meta``
    holds only strings, numbers, booleans and None, so ``torch.load(weights_only=True)`` reads it)."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    obj = {"format": SORTER_FORMAT, "length": model.length, "state_dict": state, "meta": _plain(meta or {})}
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_sorter(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[Sorter, dict]:
    """Read a checkpoint of :func:`save_sorter` (``weights_only=True``) and return the *frozen* sorter
    (eval mode, ``requires_grad=False``) and its ``meta``. A missing or foreign file raises
    :class:`gmc.errors.InputFileError` naming it and the fix."""
    path = Path(path)
    fix = "pre-train one with gmc.losses.sorter.pretrain_sorter and save_sorter (the workflow's sorter step)"
    if not path.is_file():
        raise InputFileError(f"sorter checkpoint {path} does not exist; {fix}")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001  (pickle, zip and weights_only errors alike)
        raise InputFileError(f"sorter checkpoint {path} cannot be read ({err}); {fix}") from err
    if not isinstance(obj, dict) or obj.get("format") != SORTER_FORMAT:
        found = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise InputFileError(
            f"{path} is not a sorter checkpoint (format {found!r}, expected {SORTER_FORMAT!r}); {fix}"
        )
    model = Sorter(int(obj["length"]))
    model.load_state_dict(obj["state_dict"])
    model.to(map_location).eval().requires_grad_(False)
    return model, dict(obj.get("meta", {}))
