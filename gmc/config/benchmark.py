"""The benchmark a validated config describes: which runs to train, which test sets each is scored on,
and the exact settings of each run (:meth:`Benchmark.run_config`). The workflow (workflow/rules/common.smk)
asks these questions at parse time; answering them imports no torch, timm or pyiqa.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from gmc.config.ablations import expand_ablations
from gmc.config.settings import NATIVE, TrainSettings
from gmc.config.validate import loss_options, loss_type, model_card, validate_config
from gmc.data.protocol import DataProtocol, resolve_protocol
from gmc.errors import ConfigError


@dataclass(frozen=True)
class RunSpec:
    """One training run: model x loss x training set x split. Paths follow design.md."""

    model: str
    loss: str  # resolved loss name (mse, l1, gcc, ...)
    loss_role: str  # "native" or the name listed in benchmark.losses
    train_set: str
    split: int

    @property
    def run_dir(self) -> str:
        return f"results/runs/{self.model}/{self.loss}/{self.train_set}/split{self.split}"

    def prediction(self, test_set: str) -> str:
        return (
            f"results/predictions/{self.model}/{self.loss}/{self.train_set}/split{self.split}/{test_set}.csv"
        )


@dataclass(frozen=True)
class Benchmark:
    """A validated config with the questions the workflow asks of it."""

    raw: MappingProxyType = field(repr=False)
    ablations: tuple = ()  # gmc.config.ablations.Ablation, in config order
    #: the validated config as given (defaults filled in), without the entries ablation grids generate
    config: MappingProxyType = field(default_factory=lambda: MappingProxyType({}), repr=False)

    @classmethod
    def from_dict(cls, config: dict, *, sources: Iterable[str | Path] = ()) -> Benchmark:
        """Validate ``config`` and resolve its ablation grids (their generated model/loss entries are
        added to the catalogues of :attr:`raw`; the caller's dict is not modified). ``sources``: the YAML
        files the config came from, named in error messages."""
        validated = validate_config(config, sources=sources)
        given = MappingProxyType(json.loads(json.dumps(validated)))
        probe = cls(MappingProxyType(validated))
        ablations = expand_ablations(validated, probe.native_loss, len(probe.split_indices()))
        benchmark = cls(MappingProxyType(validated), ablations, given)
        benchmark.check_crops()
        benchmark.check_sorter_batches()
        benchmark.check_probe_losses()
        benchmark.check_feature_runs()
        benchmark.check_init_runs()
        return benchmark

    @property
    def bench(self) -> dict:
        return self.raw["benchmark"]

    def tracks(self) -> list[dict]:
        """The grids trained: ``benchmark`` (no-reference), then ``fr_benchmark`` (full-reference) when
        configured. Splits, split protocol and fractions are ``benchmark``'s for both."""
        return [self.bench] + ([self.raw["fr_benchmark"]] if "fr_benchmark" in self.raw else [])

    def models(self) -> list[str]:
        """Every model key of the main grids, NR first, in config order."""
        return [m for track in self.tracks() for m in track["models"]]

    def track_of(self, train_set: str) -> dict:
        """The grid ``train_set`` is trained in (ablation sets: ``benchmark``)."""
        return next((t for t in self.tracks() if train_set in t["train_sets"]), self.bench)

    def full_reference_sets(self) -> list[str]:
        """The datasets of the full-reference track (trained or tested on), sorted."""
        fr = self.raw.get("fr_benchmark")
        return sorted(set(fr["train_sets"]) | set(fr["test_sets"])) if fr else []

    def sorter_path(self) -> str:
        """The pre-trained sorter every run with the ``asna_surrogate`` loss reads (rule pretrain_sorter)."""
        return f"results/sorters/sorter{self.raw['sorter']['length']}.pt"

    def sorter_files(self, model: str, loss: str) -> list[str]:
        """``[sorter_path()]`` for a run whose loss is ``asna_surrogate`` without its own ``sorter``
        option, else ``[]`` (the workflow's input of the train rule)."""
        if self.loss_type(loss) != "asna_surrogate" or "sorter" in self.loss_options(loss):
            return []
        return [self.sorter_path()]

    def native_loss(self, model: str) -> str:
        entry = self.raw["models"][model]
        if "native_loss" in entry:
            return entry["native_loss"]
        return model_card(self.raw, model).native_loss

    def resolve_loss(self, model: str, loss: str) -> str:
        return self.native_loss(model) if loss == NATIVE else loss

    def loss_type(self, loss_name: str) -> str:
        """The registered loss behind a loss name (a ``losses`` entry's ``type``, else the name)."""
        return loss_type(self.raw, loss_name)

    def loss_options(self, loss_name: str) -> dict:
        """The options a loss name is built with (its ``losses`` entry without ``type``)."""
        return loss_options(self.raw, loss_name)

    def loss_role(self, model: str, loss_name: str) -> str:
        """``native`` for the model's own loss, else the registered loss type (e.g. ``gcc``)."""
        return NATIVE if loss_name == self.native_loss(model) else self.loss_type(loss_name)

    def split_indices(self) -> list[int]:
        return [0] if self.bench["split_protocol"] == "official" else list(range(self.bench["splits"]))

    def model_losses(self, model: str, track: dict | None = None) -> list[str]:
        """The losses ``model`` is trained with: its entry's ``losses``, else its grid's ``losses``."""
        track = track or self.bench
        return list(self.raw["models"][model].get("losses", track["losses"]))

    def runs(self) -> Iterator[RunSpec]:
        """Every training run of the main grids (``benchmark``, then ``fr_benchmark``), once each."""
        seen = set()
        for track in self.tracks():
            for model in track["models"]:
                for loss in self.model_losses(model, track):
                    name = self.resolve_loss(model, loss)
                    for train_set in track["train_sets"]:
                        for split in self.split_indices():
                            spec = RunSpec(model, name, self.loss_role(model, name), train_set, split)
                            if spec not in seen:
                                seen.add(spec)
                                yield spec

    def ablation_runs(self) -> Iterator[RunSpec]:
        """The runs of every ablation grid, once each (runs shared with the main benchmark included)."""
        seen = set()
        for ablation in self.ablations:
            for variant in ablation.variants:
                for train_set in ablation.train_sets:
                    for split in self.split_indices()[: ablation.splits]:
                        role = self.loss_role(variant.model, variant.loss)
                        spec = RunSpec(variant.model, variant.loss, role, train_set, split)
                        if spec not in seen:
                            seen.add(spec)
                            yield spec

    def test_sets(self, train_set: str) -> list[str]:
        """Intra-dataset (the split's test part) first, then every cross-dataset test set of its grid."""
        return [train_set] + [t for t in self.track_of(train_set)["test_sets"] if t != train_set]

    def scatter_predictions(self) -> list[str]:
        """The prediction files the report's predictions-vs-MOS figures draw: for every model, loss and
        test set, one run on the first split: the run trained on that test set (intra-dataset) when
        there is one, else the run of the first training set (``benchmark.train_sets`` order), scored on
        the whole test set (cross-dataset)."""
        first = self.split_indices()[0]
        files = []
        for run in self.runs():
            if run.split != first:
                continue
            train_sets = self.track_of(run.train_set)["train_sets"]
            for test_set in self.test_sets(run.train_set):
                owner = test_set if test_set in train_sets else train_sets[0]
                if run.train_set == owner:
                    files.append(run.prediction(test_set))
        return files

    def prepared_datasets(self) -> list[str]:
        ablation_sets = {d for a in self.ablations for d in a.train_sets}
        used = {d for t in self.tracks() for d in [*t["train_sets"], *t["test_sets"]]}
        return sorted(used | set(self.bench["extra_datasets"]) | ablation_sets)

    def train_settings(self, model: str) -> TrainSettings:
        """The ``train`` section, then (``recipe: published``) the card's published recipe, then the model
        entry's own ``train`` overrides."""
        entry = self.raw["models"][model]
        recipe = model_card(self.raw, model).recipe if entry.get("recipe") == "published" else {}
        merged = {**self.raw["train"], **recipe, **entry.get("train", {})}
        return TrainSettings.from_dict(merged)

    def protocol(self, model: str) -> DataProtocol:
        """The model's data protocol: its card's published protocol with ``models.<key>.protocol`` on top."""
        entry = self.raw["models"][model]
        return resolve_protocol(
            model_card(self.raw, model).protocol, entry.get("protocol"), f"models.{model}.protocol"
        )

    def input_size(self, model: str) -> int:
        entry = self.raw["models"][model]
        if "input_size" in entry:
            return int(entry["input_size"])
        return model_card(self.raw, model).default_input_size

    def feature_spec(self, model: str):
        """The frozen-backbone features ``model``'s runs train on (:func:`gmc.features.run_feature_spec`),
        or ``None`` when they train on images; an option the card's spec cannot use is a ConfigError."""
        from gmc.features import run_feature_spec

        entry = self.raw["models"][model]
        try:
            return run_feature_spec(entry["arch"], entry.get("options", {}), self.input_size(model))
        except ValueError as err:
            raise ConfigError(f"models.{model}.options: {err}") from None

    def check_feature_runs(self) -> None:
        """A gradient-trained run on cached features (e.g. MoNet with ``freeze_backbone``) sees each image's
        features as computed once, from the whole image: a flip, an augmentation, test-time augmentation
        or a crop protocol cannot apply to them, so any of these is a :class:`ConfigError` naming the fix
        (:func:`gmc.config.settings.feature_run_conflicts`)."""
        from gmc.config.settings import feature_run_conflicts, feature_run_message

        models = sorted({r.model for r in [*self.runs(), *self.ablation_runs()]})
        for model in models:
            if model_card(self.raw, model).trainer != "engine" or self.feature_spec(model) is None:
                continue
            fixes = feature_run_conflicts(self.train_settings(model).__dict__, self.protocol(model).as_dict())
            if fixes:
                raise ConfigError(feature_run_message(f"models.{model}", fixes))

    def stored_size(self, dataset: str) -> tuple[int, int]:
        """(width, height) of ``dataset`` in the cache of crop-protocol models:
        ``datasets.<key>.stored_size``, else the dataset's own default; a :class:`ConfigError` when
        neither exists."""
        entry = self.raw["datasets"][dataset]
        if "stored_size" in entry:
            return tuple(entry["stored_size"])
        from gmc.data.datasets import build_dataset_spec

        size = build_dataset_spec(dataset, entry).stored_size
        if size is None:
            raise ConfigError(
                f"datasets.{dataset}: a model with a crop protocol uses this dataset, and its type has no "
                "default resolution; add stored_size: [width, height] (e.g. [512, 384]) to the entry"
            )
        return size

    def cache_key(self, dataset: str, model: str) -> str:
        """The cache a model reads ``dataset`` from: ``<input_size>`` (whole images resized) or
        ``<width>x<height>`` (stored resolution, for crop protocols)."""
        if self.protocol(model).kind == "crop":
            width, height = self.stored_size(dataset)
            return f"{width}x{height}"
        return str(self.input_size(model))

    def check_crops(self) -> None:
        """Every dataset a crop-protocol model trains or tests on is stored at least as large as its
        crops; otherwise a :class:`ConfigError` names the model, the dataset and the two fixes."""
        pairs = {
            (run.model, dataset)
            for run in [*self.runs(), *self.ablation_runs()]
            for dataset in self.test_sets(run.train_set)
        }
        for model, dataset in sorted(pairs):
            if self.protocol(model).kind != "crop":
                continue
            size = self.input_size(model)
            width, height = self.stored_size(dataset)
            if min(width, height) < size:
                raise ConfigError(
                    f"models.{model} cuts {size} px crops, but datasets.{dataset} is stored at "
                    f"{width}x{height}; set datasets.{dataset}.stored_size larger or "
                    f"models.{model}.input_size smaller"
                )

    def check_probe_losses(self) -> None:
        """A frozen-feature probe (card ``trainer: probe``) is fitted in closed form: it has only its native
        loss. Any other loss of such a model is a :class:`ConfigError` naming the fix."""
        for model in sorted({r.model for r in self.runs()}):
            if model_card(self.raw, model).trainer != "probe":
                continue
            others = sorted({r.loss for r in self.runs() if r.model == model and r.loss_role != NATIVE})
            if others:
                raise ConfigError(
                    f"models.{model}: a {self.raw['models'][model]['arch']} model is fitted in closed form "
                    f"(ridge), not trained with a loss; it cannot use {', '.join(others)}. Fix: add "
                    f"`losses: [native]` to models.{model}"
                )

    def check_sorter_batches(self) -> None:
        """Every run with the workflow's sorter (:meth:`sorter_files`) trains with batches of the sorter's
        length (``sorter.length``); otherwise a :class:`ConfigError` before any job runs
        (:func:`gmc.losses.asna_check.check_sorter_batch_size`)."""
        from gmc.losses.asna_check import check_sorter_batch_size

        for model, loss in sorted({(r.model, r.loss) for r in [*self.runs(), *self.ablation_runs()]}):
            if self.sorter_files(model, loss):
                batch = self.train_settings(model).batch_size
                check_sorter_batch_size(batch, self.raw["sorter"]["length"], f"models.{model} (loss {loss})")

    def run_loss_options(self, run: RunSpec) -> dict:
        """The loss's options, plus the workflow's sorter checkpoint for ``asna_surrogate``
        (:meth:`sorter_files`)."""
        options = dict(self.loss_options(run.loss))
        for path in self.sorter_files(run.model, run.loss):
            options["sorter"] = path
        return options

    def run_config(self, run: RunSpec) -> dict:
        """Everything a training run depends on, as plain JSON (passed to ``gmc train``)."""
        entry = self.raw["models"][run.model]
        return {
            "model": run.model,
            "arch": entry["arch"],
            "model_options": dict(entry.get("options", {})),
            "input_size": self.input_size(run.model),
            "loss": run.loss,
            "loss_type": self.loss_type(run.loss),
            "loss_role": run.loss_role,
            "loss_options": self.run_loss_options(run),
            "train_set": run.train_set,
            "split": run.split,
            "seed": self.raw["seed"] + run.split,
            "device": self.raw["device"],
            "train": dict(self.train_settings(run.model).__dict__),
            "protocol": self.protocol(run.model).as_dict(),
            # only when set, so that the config hashes of other runs stay as they were
            **({"init_from": entry["init_from"]} if "init_from" in entry else {}),
        }

    def init_run(self, run: RunSpec) -> RunSpec | None:
        """The run whose ``model.pt`` warm-starts ``run`` (``models.<key>.init_from``): the init model's run
        with the same loss, training set and split; ``None`` without ``init_from``."""
        init = self.raw["models"][run.model].get("init_from")
        if init is None:
            return None
        return RunSpec(init, run.loss, self.loss_role(init, run.loss), run.train_set, run.split)

    def check_init_runs(self) -> None:
        """Every warm-started run has its init run in the grids (same loss, training set and split), of
        the same architecture; otherwise a :class:`ConfigError` naming the fix."""
        planned = {*self.runs(), *self.ablation_runs()}
        for run in sorted(planned, key=lambda r: (r.model, r.loss, r.train_set, r.split)):
            key = self.raw["models"][run.model].get("init_from")
            if key is None:
                continue
            where = f"models.{run.model}.init_from"
            if key not in self.raw["models"]:
                raise ConfigError(f"{where}: {key!r} is not a key of models")
            arch, init_arch = self.raw["models"][run.model]["arch"], self.raw["models"][key]["arch"]
            if arch != init_arch:
                raise ConfigError(f"{where}: {key!r} is a {init_arch} model, not a {arch} one")
            if self.raw["models"][key].get("init_from"):
                raise ConfigError(f"{where}: {key!r} is itself warm-started; chains are not supported")
            init = self.init_run(run)
            if init not in planned:
                raise ConfigError(
                    f"{where}: the run {run.model}/{run.loss}/{run.train_set}/split{run.split} starts from "
                    f"{init.model}/{init.loss}/{init.train_set}/split{init.split}, which no grid trains; add "
                    f"{init.model!r} to the same benchmark models with the same losses"
                )
