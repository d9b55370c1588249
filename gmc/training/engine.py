"""The training engine: ``train_one_epoch``, ``predict``, ``evaluate`` and ``fit``.

``fit`` trains one run (model x loss x training set x split), checkpointing every epoch atomically
(``last.pt``) and resuming from it when rerun after an interruption; a job killed at any instant is
completed by rerunning it (the write order is explained in :mod:`gmc.training.checkpoint`). Model
selection reads the validation part only (``selection: val``, best validation SROCC); the GMC-IQA
authors' protocol (``selection: best_on_test``, best test SROCC + PLCC) exists only as that explicitly
named option.

Training recipe parts any model can use, each named in the ``train`` section:

* **Model penalty**: a model with a callable ``l2_penalty()`` (e.g. ASNA's Keras kernel regularisers,
  :meth:`gmc.models.asna.ASNA.l2_penalty`: ``1e-4 sum ||W_conv||^2 + 1e-6 ||W_dense||^2``) has it added to
  the training loss, ``loss = loss_fn(pred, y) + model.l2_penalty()`` at every step (as Keras adds
  regularisation losses), never at evaluation; ``train_loss`` in the log is that sum and ``train_penalty``
  its penalty part (the epoch mean; only for such models). The penalty is computed in float32, outside
  autocast.
* **Learning-rate schedule** (``scheduler``, :data:`SCHEDULERS`), stepped once per epoch: ``cosine``
  (``t_max``, ``eta_min``), ``step`` (``lr * lr_gamma ** (epoch // lr_step)``, torch ``StepLR``) or
  ``none``.
* **Augmentation** (``augment``, :data:`gmc.training.augment.AUGMENTATIONS`): applied to each training
  batch after ``hflip`` (which is unchanged), the same transform for a distorted image and its
  reference, drawn from the run's data generator (so saved and restored with ``last.pt``).
* **Test-time augmentation** (``tta``, :data:`gmc.training.augment.TTA_VARIANTS`): :func:`predict`
  averages the scores of the variants; used for validation (model selection) and by ``gmc predict``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gmc.config import TrainSettings, config_hash
from gmc.config.settings import feature_run_conflicts, feature_run_message
from gmc.data.crops import Views
from gmc.data.loading import ImageSet
from gmc.errors import ConfigError, InputFileError
from gmc.features import network_feature_spec
from gmc.io import kill_point, write_json, write_text
from gmc.losses import build_loss
from gmc.models import build_model
from gmc.training.augment import get_augmentation, get_tta
from gmc.training.checkpoint import ADDED_LAST_KEYS, BEST_KEYS, LAST_KEYS, load_checkpoint, save_checkpoint
from gmc.training.seeding import record_nondeterministic_ops, seed_everything, select_device

log = logging.getLogger(__name__)

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": lambda params, lr, weight_decay: torch.optim.SGD(
        params, lr=lr, momentum=0.9, weight_decay=weight_decay
    ),
}


# autocast dtype per device type: float16 (with loss scaling) on CUDA; CPU autocast supports bfloat16
AMP_DTYPES = {"cuda": torch.float16, "cpu": torch.bfloat16}


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or inf; the message gives the epoch and step."""


def parameter_groups(model: nn.Module, lr: float, multipliers: dict[str, float]) -> list[dict]:
    """Optimiser parameter groups: a parameter named ``n`` learns at ``lr * multipliers[p]`` for the
    longest prefix ``p`` of ``n`` in ``multipliers``, at ``lr`` when none matches (one group per distinct
    rate, in order of first appearance, so that the optimiser state is deterministic)."""
    prefixes = sorted(multipliers, key=len, reverse=True)
    groups: dict[float, list] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        prefix = next((p for p in prefixes if name.startswith(p)), None)
        rate = lr * multipliers[prefix] if prefix is not None else lr
        groups.setdefault(rate, []).append(param)
    return [{"params": params, "lr": rate} for rate, params in groups.items()]


def build_optimizer(model: nn.Module, settings: TrainSettings) -> torch.optim.Optimizer:
    """The configured optimiser; all trainable parameters in one group at ``lr`` (GMC-IQA fine-tunes end
    to end), or per-module rates from ``lr_multipliers`` (:func:`parameter_groups`)."""
    params = (
        parameter_groups(model, settings.lr, settings.lr_multipliers)
        if settings.lr_multipliers
        else model.parameters()
    )
    return OPTIMIZERS[settings.optimizer](params, lr=settings.lr, weight_decay=settings.weight_decay)


SchedulerBuilder = Callable[[torch.optim.Optimizer, TrainSettings], torch.optim.lr_scheduler.LRScheduler]

#: ``train.scheduler`` name -> ``build(optimizer, settings)``; stepped once per epoch. Names must match the
#: schema's enum (gmc/config/schema.yaml, ``train.scheduler``).
SCHEDULERS: dict[str, SchedulerBuilder] = {
    # cosine annealing from lr to eta_min over t_max epochs (t_max = null: the run's epochs)
    "cosine": lambda opt, s: torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=s.t_max or s.epochs, eta_min=s.eta_min
    ),
    # lr * lr_gamma ** (epoch // lr_step), 0-based epochs (ASNA: x0.1 every 10 epochs, docs/asna.md)
    "step": lambda opt, s: torch.optim.lr_scheduler.StepLR(opt, step_size=s.lr_step, gamma=s.lr_gamma),
    # a constant rate
    "none": lambda opt, s: torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0),
}


def build_scheduler(optimizer: torch.optim.Optimizer, settings: TrainSettings):
    """The learning-rate schedule ``settings.scheduler`` (:data:`SCHEDULERS`); :class:`ConfigError` naming
    the valid ones when unknown."""
    if settings.scheduler not in SCHEDULERS:
        raise ConfigError(
            f"train.scheduler: unknown value {settings.scheduler!r}; valid: {', '.join(SCHEDULERS)}"
        )
    return SCHEDULERS[settings.scheduler](optimizer, settings)


def model_penalty(model: nn.Module) -> Callable[[], torch.Tensor] | None:
    """The model's own loss term, its ``l2_penalty`` method, when it has a callable one (else None)."""
    penalty = getattr(model, "l2_penalty", None)
    return penalty if callable(penalty) else None


def _forward(model: nn.Module, x: torch.Tensor, ref: torch.Tensor | None) -> torch.Tensor:
    out = model(x) if ref is None else model(ref, x)
    return out.reshape(-1)


def _to_input(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 images [B, 3, H, W] -> float in [0, 1] on ``device``; cached features (float32 [B, D], the
    input of a head-only model, :func:`gmc.data.loading.load_run_part`) go to ``device`` as they are."""
    if images.dtype != torch.uint8:
        return images.to(device, non_blocking=True).float()
    return images.to(device, non_blocking=True).float().div_(255.0)


def amp_active(device: torch.device, amp: bool) -> bool:
    """Whether mixed precision runs: with ``amp`` on CUDA only (the setting is ignored on CPU)."""
    return amp and device.type == "cuda"


def _autocast(device: torch.device, amp: bool):
    """Autocast to the device type's mixed-precision dtype (AMP_DTYPES) when AMP is active, else nothing."""
    if amp_active(device, amp):
        return torch.autocast(device.type, dtype=AMP_DTYPES[device.type])
    return nullcontext()


def make_grad_scaler(device: torch.device, amp: bool) -> torch.amp.GradScaler:
    """The run's loss scaler: enabled when mixed precision is active, else a no-op with empty state."""
    return torch.amp.GradScaler(device.type, enabled=amp_active(device, amp))


def train_one_epoch(
    model: nn.Module,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: ImageSet,
    targets: torch.Tensor,
    settings: TrainSettings,
    generator: torch.Generator,
    device: torch.device,
    scaler: torch.amp.GradScaler,
    epoch: int,
    views: Views | None = None,
) -> dict:
    """One pass over ``data`` in a seeded random order (the last batch is dropped when smaller than
    the batch size, so batch statistics never see a batch of one). Returns loss and throughput.

    ``views`` (the run's data protocol): under a crop protocol an epoch has ``train_crops`` samples per
    image, each a random crop (:class:`gmc.data.crops.Views`); ``None`` feeds the cached images whole.
    Each batch is flipped (``hflip``) then augmented (``augment``), both drawn from ``generator``; the
    loss is the loss function's plus the model's penalty, if it has one (module docstring)."""
    model.train()
    loss_fn.train()
    augment = get_augmentation(settings.augment)
    n = views.train_samples(len(data)) if views is not None else len(data)
    order = torch.randperm(n, generator=generator)
    n_batches = max(1, n // settings.batch_size)
    total, penalty_total, seen, start = 0.0, 0.0, 0, time.perf_counter()
    penalty_fn = model_penalty(model)
    for step in range(n_batches):
        idx = order[step * settings.batch_size : (step + 1) * settings.batch_size] % len(data)
        images = data.images[idx]
        refs = None if data.references is None else data.references[idx]
        if views is not None:
            images, refs = views.train_batch(images, refs, generator)
        x = _to_input(images, device)
        ref = None if refs is None else _to_input(refs, device)
        if settings.hflip:
            flip = (torch.rand(len(idx), generator=generator) < 0.5).to(device)[:, None, None, None]
            x = torch.where(flip, x.flip(-1), x)
            ref = None if ref is None else torch.where(flip, ref.flip(-1), ref)
        x, ref = augment(x, ref, generator)
        y = targets[idx].to(device)
        with _autocast(device, settings.amp):
            pred = _forward(model, x, ref)
        loss = loss_fn(pred.float(), y)
        if penalty_fn is not None:
            penalty = penalty_fn()
            loss = loss + penalty
            penalty_total += penalty.item() * len(idx)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"non-finite training loss ({loss.item()}) at epoch {epoch}, step {step}"
            )
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        kill_point("step")  # test hook, inert unless GMC_TEST_KILL_AT is set (gmc.io)
        scaler.step(optimizer)
        scaler.update()
        total += loss.item() * len(idx)
        seen += len(idx)
    seconds = time.perf_counter() - start
    stats = {
        "train_loss": total / seen,
        "train_images": seen,
        "train_seconds": seconds,
        "images_per_s": seen / seconds if seconds > 0 else math.inf,
    }
    if penalty_fn is not None:
        stats["train_penalty"] = penalty_total / seen
    return stats


@torch.no_grad()
def predict(
    model: nn.Module,
    data: ImageSet,
    device: torch.device,
    batch_size: int,
    amp: bool = True,
    views: Views | None = None,
    tta: str = "none",
) -> np.ndarray:
    """Scores for every image of ``data``, in order (eval mode, no training augmentation). Under a crop
    protocol (``views``) an image's score is the mean of its test crops' scores (:meth:`Views.test_boxes`);
    with test-time augmentation (``tta``, :data:`gmc.training.augment.TTA_VARIANTS`) the mean over every
    crop and variant, a variant applied alike to the image and its reference."""
    model.eval()
    boxes = views.test_boxes(*data.images.shape[-2:]) if views is not None else [(0, 0)]
    variants = get_tta(tta)
    n_views = len(boxes) * len(variants)
    out = []
    for start in range(0, len(data), batch_size):
        sl = slice(start, start + batch_size)
        batch = data.images[sl]  # read once per batch (from disk when memory-mapped), cropped per box
        batch_refs = None if data.references is None else data.references[sl]
        total = None
        for box in boxes:
            images, refs = batch, batch_refs
            if views is not None:
                images = views.test_crops(images, box)
                refs = None if refs is None else views.test_crops(refs, box)
            x = _to_input(images, device)
            ref = None if refs is None else _to_input(refs, device)
            for variant in variants:  # applied in float32, outside autocast (a colour conversion)
                xv, rv = variant(x), None if ref is None else variant(ref)
                with _autocast(device, amp):
                    scores = _forward(model, xv, rv).float().cpu()
                total = scores if total is None else total + scores
        out.append(total if n_views == 1 else total / n_views)
    return torch.cat(out).numpy().astype(np.float64)


def evaluate(
    model: nn.Module,
    data: ImageSet,
    device: torch.device,
    batch_size: int,
    amp: bool = True,
    views: Views | None = None,
    tta: str = "none",
) -> dict:
    from gmc.metrics import compute_metrics  # here: scipy.stats costs ~1 s, prediction jobs never need it

    return compute_metrics(predict(model, data, device, batch_size, amp, views, tta), data.mos.numpy())


def training_targets(train: ImageSet, scaling: str) -> torch.Tensor:
    """``dataset_range``: the manifest's normalised MOS. ``split_minmax`` (the authors' choice): min-max
    scaled over this split's training part."""
    if scaling == "split_minmax":
        lo, hi = train.mos.min(), train.mos.max()
        return (train.mos - lo) / (hi - lo).clamp_min(1e-12)
    return train.mos


def _selection_score(metrics: dict, selection: str) -> float:
    score = metrics["SROCC"] if selection == "val" else metrics["SROCC"] + metrics["PLCC"]
    return -math.inf if math.isnan(score) else score


@dataclass(frozen=True)
class _Run:
    """What stays fixed during one ``fit`` call: the config, its settings and hash, the device and where
    the run's files go."""

    config: dict
    settings: TrainSettings
    config_hash: str
    device: torch.device
    run_dir: Path
    views: Views

    @property
    def last_path(self) -> Path:
        return self.run_dir / "checkpoints" / "last.pt"

    @property
    def model_path(self) -> Path:
        return self.run_dir / "model.pt"

    @property
    def summary_path(self) -> Path:
        return self.run_dir / "summary.json"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "log.jsonl"


@dataclass
class TrainingState:
    """What training changes from epoch to epoch, all of it kept in ``last.pt``: the model, loss (e.g. the
    GCC queue), optimizer, scheduler, AMP loss scaler, the data-order generator, one log record per
    completed epoch (``history``), the selected epoch so far (``selected``: the content of its
    ``model.pt``, weights on the CPU; None before the first epoch) and the names of the ops torch could
    not run deterministically. The global torch RNGs are saved beside it."""

    model: nn.Module
    loss_fn: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    generator: torch.Generator
    history: list[dict] = field(default_factory=list)
    selected: dict | None = None
    nondeterministic_ops: set[str] = field(default_factory=set)


def fit(
    run_config: dict,
    train: ImageSet,
    val: ImageSet,
    run_dir: str | Path,
    *,
    test: ImageSet | None = None,
    on_epoch_end: Callable[[int, dict], None] | None = None,
    init_checkpoint: str | Path | None = None,
) -> dict:
    """Train one run; write ``run_dir/model.pt`` (the selected epoch), ``log.jsonl`` and
    ``summary.json``; return the summary. While it runs, ``run_dir/checkpoints/last.pt`` holds the
    resume state (written every epoch, the selected model included); it is gone at the end.

    Rerunning with the same ``run_config`` resumes after the last completed epoch (model, optimizer,
    scheduler, AMP loss scale, loss queue and every random generator restored), so an interrupted run
    finishes with the same result, byte for byte, as an uninterrupted one, wherever it was killed
    (:mod:`gmc.training.checkpoint`). Rerunning a complete run (``model.pt``, ``log.jsonl`` and
    ``summary.json`` of this config, no ``last.pt``) trains nothing and returns its summary. A
    different config starts afresh. The ops torch has no deterministic implementation for are listed
    in ``summary["nondeterministic_ops"]``.

    ``init_checkpoint``: the ``model.pt`` of the run named by the config's ``init_from`` (a warm start,
    :func:`warm_start`), loaded into the freshly built model before the first epoch (a resumed run
    restores its own weights instead).
    """
    run = _start_run(run_config, Path(run_dir), test)
    if ("init_from" in run.config) != (init_checkpoint is not None):
        raise ConfigError(
            f"model {run.config['model']!r}: init_from is {run.config.get('init_from')!r} but the "
            f"checkpoint given is {init_checkpoint!r}; pass the init run's model.pt (gmc train --init-from)"
        )
    for part, data in (("training", train), ("validation", val)):
        run.views.check_fits(data.images, f"the {part} images of {run.config['train_set']}")
    complete = _complete_run_summary(run)
    if complete is not None:
        return complete
    state = _new_state(run, n_train=len(train), init_checkpoint=init_checkpoint)
    _resume(state, run)
    targets = training_targets(train, run.settings.label_scaling)
    with record_nondeterministic_ops(state.nondeterministic_ops):
        for epoch in range(len(state.history), run.settings.epochs):
            record = _train_epoch(state, run, epoch, train, targets)
            selected_on = _evaluate_epoch(state, run, record, val, test)
            _select(state, run, epoch, record, selected_on)
            state.history.append(record)
            _save(state, run, epoch)
            if on_epoch_end is not None:
                on_epoch_end(epoch, record)
    return _finish(state, run, n_train=len(train), n_val=len(val))


def _start_run(run_config: dict, run_dir: Path, test: ImageSet | None) -> _Run:
    """Check the settings (the augmentation and TTA names too), create ``run_dir`` and select the device
    (with its determinism flags).

    The run keeps a JSON copy of ``run_config`` (a config is JSON data; the CLI reads it as JSON): pickle
    writes an object met twice as a reference, so a config string that is the very object torch uses
    (e.g. an interned literal ``"cpu"``, torch's storage location) would change the checkpoint's bytes
    depending on where the config came from; a copy shares nothing with torch."""
    run_config = json.loads(json.dumps(run_config))
    settings = TrainSettings.from_dict(run_config["train"])
    if settings.selection == "best_on_test" and test is None:
        raise ValueError("selection 'best_on_test' needs the test part; pass test=...")
    get_augmentation(settings.augment)  # an unknown name fails here, before any work
    get_tta(settings.tta)
    if network_feature_spec(run_config["arch"], run_config["model_options"], run_config["input_size"]):
        fixes = feature_run_conflicts(run_config["train"], run_config.get("protocol") or {})
        if fixes:  # the workflow's config check says this before any job; gmc train alone says it here
            raise ConfigError(feature_run_message(f"model {run_config['model']!r}", fixes))
    run_dir.mkdir(parents=True, exist_ok=True)
    device = select_device(run_config.get("device", "auto"), deterministic=settings.deterministic)
    views = Views.from_run_config(run_config)
    return _Run(run_config, settings, config_hash(run_config), device, run_dir, views)


def _complete_run_summary(run: _Run) -> dict | None:
    """The summary of a complete run of this config in ``run_dir`` (no ``last.pt``; ``model.pt``,
    ``log.jsonl`` and ``summary.json`` present, the summary naming this config hash), else None."""
    outputs = (run.model_path, run.log_path, run.summary_path)
    if run.last_path.exists() or not all(p.is_file() for p in outputs):
        return None
    summary = json.loads(run.summary_path.read_text())
    if summary.get("config_hash") != run.config_hash:
        return None
    log.info("%s is complete (model.pt, log.jsonl, summary.json); nothing to train", run.run_dir)
    return summary


def warm_start(model: nn.Module, checkpoint: str | Path) -> list[str]:
    """Load the weights of another run's ``model.pt`` into ``model`` where it has them (LP-FT: a head
    trained on frozen features, then the whole network): every tensor of the checkpoint must exist in
    ``model`` with the same shape; the tensors it lacks (e.g. the backbone of a head-only run) keep
    their values. Returns the names of those. A checkpoint with a tensor ``model`` has no counterpart of
    that shape for (another architecture or head size), or with no tensor at all, is a ConfigError."""
    weights = load_checkpoint(checkpoint, map_location="cpu", keys=BEST_KEYS)["model"]
    own = model.state_dict()
    foreign = sorted(k for k in weights if k not in own or own[k].shape != weights[k].shape)
    if foreign or not weights:
        raise ConfigError(
            f"init_from checkpoint {checkpoint} does not fit model {type(model).__name__}: "
            f"{len(foreign)} of its {len(weights)} tensors have no counterpart of that shape (e.g. "
            f"{foreign[:3]}); warm-start from a run of the same architecture and head options"
        )
    model.load_state_dict({**own, **weights})
    kept = sorted(set(own) - set(weights))
    log.info(
        "warm start from %s: %d tensors loaded, %d kept (%s...)",
        checkpoint,
        len(weights),
        len(kept),
        kept[:2],
    )
    return kept


def _new_state(run: _Run, n_train: int, init_checkpoint: str | Path | None = None) -> TrainingState:
    """Seed every generator from the run's seed, then build the model (warm-started from
    ``init_checkpoint`` when given), loss, optimizer, scheduler and scaler in that fixed order (the order
    decides which random numbers each one draws)."""
    seed_everything(run.config["seed"])
    model = build_model(run.config["arch"], **run.config["model_options"]).to(run.device)
    if init_checkpoint is not None:
        warm_start(model, init_checkpoint)
    loss_fn = build_loss(run.config["loss_type"], n_train=n_train, **run.config["loss_options"]).to(
        run.device
    )
    optimizer = build_optimizer(model, run.settings)
    return TrainingState(
        model=model,
        loss_fn=loss_fn,
        optimizer=optimizer,
        scheduler=build_scheduler(optimizer, run.settings),
        scaler=make_grad_scaler(run.device, run.settings.amp),
        generator=torch.Generator().manual_seed(run.config["seed"]),
    )


def _resume(state: TrainingState, run: _Run) -> None:
    """Continue after the last completed epoch when ``last.pt`` exists: restore every part of ``state``
    and the global torch RNGs from it. Start afresh (leaving ``state`` as built, with a warning) when the
    file cannot be read (it is moved aside, see ``_read_last``), belongs to another config, lacks the
    selected model (written before ``last.pt`` carried it), or when this run scales its loss (AMP) but
    the file holds no scaler state (written before the scaler was saved, or by a run without AMP)."""
    saved = _read_last(run)
    if saved is None:
        return
    if saved["config_hash"] != run.config_hash:
        log.warning("%s belongs to another configuration; starting afresh", run.last_path)
        return
    if "selected" not in saved:
        log.warning(
            "%s was written by an earlier gmc, without the selected model; starting afresh", run.last_path
        )
        return
    if state.scaler.is_enabled() and not saved.get("scaler"):
        log.warning("%s holds no AMP loss-scaler state; starting afresh", run.last_path)
        return
    state.model.load_state_dict(saved["model"])
    state.optimizer.load_state_dict(saved["optimizer"])
    state.scheduler.load_state_dict(saved["scheduler"])
    state.loss_fn.load_state_dict(saved["loss"])
    state.scaler.load_state_dict(saved.get("scaler", {}))
    torch.set_rng_state(saved["rng"]["torch"])
    state.generator.set_state(saved["rng"]["data"])
    if run.device.type == "cuda" and saved["rng"].get("cuda") is not None:
        torch.cuda.set_rng_state(saved["rng"]["cuda"])
    state.history, state.selected = saved["history"], saved["selected"]
    state.nondeterministic_ops.update(saved.get("nondeterministic_ops", []))
    log.info("resuming %s after epoch %d", run.run_dir, saved["epoch"])


def _read_last(run: _Run) -> dict | None:
    """``last.pt`` (tensors on the CPU) when it exists and can be read, else None. One that cannot be
    read (truncated, damaged, refused: :class:`InputFileError`) is moved aside to
    ``last.pt.corrupt-<time>`` with a warning naming it, so that no rerun gets stuck on it."""
    if not run.last_path.exists():
        return None
    try:
        return load_checkpoint(run.last_path, keys=LAST_KEYS - ADDED_LAST_KEYS)
    except InputFileError as err:
        aside = run.last_path.with_name(f"{run.last_path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
        os.replace(run.last_path, aside)
        log.warning("%s. Moved it to %s; starting the run afresh", err, aside)
        return None


def _train_epoch(state: TrainingState, run: _Run, epoch: int, train: ImageSet, targets: torch.Tensor) -> dict:
    """Train one epoch and step the scheduler; return the epoch's log record (epoch, the learning rate it
    trained with, loss, throughput). A non-finite loss stops the run with a message that names the last
    completed epoch and its ``last.pt``, or says that no checkpoint exists yet."""
    try:
        stats = train_one_epoch(
            state.model,
            state.loss_fn,
            state.optimizer,
            train,
            targets,
            run.settings,
            state.generator,
            run.device,
            state.scaler,
            epoch,
            run.views,
        )
    except NonFiniteLossError as err:
        if state.history:
            where = f"the last good state is {run.last_path} (epoch {len(state.history) - 1})"
        else:
            where = "no epoch completed, so no checkpoint of this run exists"
        raise NonFiniteLossError(
            f"{err} in {run.run_dir}; {where}; lower the learning rate or check the labels"
        ) from None
    record = {"epoch": epoch, "lr": state.optimizer.param_groups[0]["lr"], **stats}
    state.scheduler.step()
    return record


def _evaluate_epoch(
    state: TrainingState, run: _Run, record: dict, val: ImageSet, test: ImageSet | None
) -> dict:
    """Add the validation metrics (``val_*``) to ``record``, and the test metrics (``test_*``) under
    ``best_on_test``; return the metrics the epoch is selected on."""
    settings = run.settings
    val_metrics = evaluate(
        state.model, val, run.device, settings.eval_batch_size, settings.amp, run.views, settings.tta
    )
    record.update({f"val_{k}": v for k, v in val_metrics.items()})
    if settings.selection != "best_on_test":
        return val_metrics
    test_metrics = evaluate(
        state.model, test, run.device, settings.eval_batch_size, settings.amp, run.views, settings.tta
    )
    record.update({f"test_{k}": v for k, v in test_metrics.items()})
    return test_metrics


def _select(state: TrainingState, run: _Run, epoch: int, record: dict, selected_on: dict) -> None:
    """When this epoch scores better than the one selected so far (or is the first), select it: keep
    what its ``model.pt`` will hold in ``state.selected`` (weights copied to the CPU; saved with
    ``last.pt``). Mark ``record["selected"]``."""
    score = _selection_score(selected_on, run.settings.selection)
    if state.selected is None or score > state.selected["selection"]["score"]:
        state.selected = {
            "run_config": run.config,
            "config_hash": run.config_hash,
            "epoch": epoch,
            "selection": {"protocol": run.settings.selection, "score": score, "metrics": dict(selected_on)},
            "model": _cpu_copy(state.model.state_dict()),
        }
    record["selected"] = state.selected["epoch"] == epoch


def _cpu_copy(state_dict: dict) -> OrderedDict:
    """A copy of a module's state dict on the CPU, with its ``_metadata`` (the module versions that
    ``load_state_dict`` reads)."""
    copy = OrderedDict((k, v.detach().to("cpu", copy=True)) for k, v in state_dict.items())
    copy._metadata = state_dict._metadata
    return copy


def _save(state: TrainingState, run: _Run, epoch: int) -> None:
    """After ``epoch``: write ``last.pt`` (the whole ``state`` plus the global torch RNGs), then
    ``log.jsonl``, and log the epoch's numbers."""
    rng = {
        "torch": torch.get_rng_state(),
        "data": state.generator.get_state(),
        "cuda": torch.cuda.get_rng_state() if run.device.type == "cuda" else None,
    }
    save_checkpoint(
        run.last_path,
        {
            "run_config": run.config,
            "config_hash": run.config_hash,
            "epoch": epoch,
            "model": state.model.state_dict(),
            "optimizer": state.optimizer.state_dict(),
            "scheduler": state.scheduler.state_dict(),
            "loss": state.loss_fn.state_dict(),
            "scaler": state.scaler.state_dict(),
            "rng": rng,
            "history": state.history,
            "selected": state.selected,
            "nondeterministic_ops": sorted(state.nondeterministic_ops),
        },
        LAST_KEYS - {"format"},
    )
    _write_log(state, run)
    numbers = {k: round(v, 4) for k, v in state.history[-1].items() if isinstance(v, float)}
    log.info("epoch %d: %s", epoch, numbers)


def _write_log(state: TrainingState, run: _Run) -> None:
    """Write ``log.jsonl``: one JSON line per completed epoch."""
    write_text(run.log_path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in state.history))


def _finish(state: TrainingState, run: _Run, n_train: int, n_val: int) -> dict:
    """Write the run's outputs - ``model.pt`` (the selected epoch), ``log.jsonl``, ``summary.json`` -
    and only then remove the resume state ``last.pt``, so that a kill at any point leaves a state that
    a rerun completes (:mod:`gmc.training.checkpoint`); return the summary. Finishing again rewrites the
    same bytes."""
    save_checkpoint(run.model_path, state.selected, BEST_KEYS - {"format"})
    _write_log(state, run)
    device = run.device
    summary = {
        "config_hash": run.config_hash,
        "best_epoch": state.selected["epoch"],
        "selection": run.settings.selection,
        "epochs": run.settings.epochs,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "n_train": n_train,
        "n_val": n_val,
        "nondeterministic_ops": sorted(state.nondeterministic_ops),
    }
    write_json(run.summary_path, summary)
    kill_point("remove-last.pt")  # test hook, inert unless GMC_TEST_KILL_AT is set (gmc.io)
    run.last_path.unlink(missing_ok=True)
    return summary


def load_trained_model(checkpoint: str | Path, device: torch.device) -> tuple[nn.Module, dict]:
    """Rebuild the model of a run's ``model.pt`` and load its weights (read as :func:`load_checkpoint` does).

    Returns ``(model, checkpoint)``."""
    state = load_checkpoint(checkpoint, map_location=device, keys=BEST_KEYS)
    cfg = state["run_config"]
    model = build_model(cfg["arch"], **cfg["model_options"]).to(device)
    model.load_state_dict(state["model"])
    model.eval()
    return model, state
