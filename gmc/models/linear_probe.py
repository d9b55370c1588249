"""The linear probe as a network (heavy: torch): frozen backbone + pooling (:class:`FeatureExtractor`),
standardisation, one linear output. Its card is ``linear_probe`` (:mod:`gmc.models.cards`); its weights
are not trained by gradient steps but set from a ridge fit on cached features (:mod:`gmc.probe`,
``python -m gmc probe``), so that the network scores an image exactly as the probe scores its features:
``y_hat = y_bar + ((phi(x) - m) / s) . w`` (in float64 after the float32 backbone).

The network exists so that a probe is a model like the others: ``model.pt`` (:func:`probe_checkpoint`)
loads with :func:`gmc.training.engine.load_trained_model`, so ``gmc predict`` scores images with it, and
the shared model tests build it and run a training step (only the head has gradients).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from gmc.features import FeatureSpec
from gmc.features.extract import FeatureExtractor
from gmc.probe import ProbeModel


class LinearProbe(nn.Module):
    """``forward(x [B, 3, S, S] in [0, 1]) -> [B]``: frozen features, standardised, linear head (module
    docstring). An unfitted probe has an identity standardisation and a randomly initialised head."""

    def __init__(
        self,
        spec: FeatureSpec,
        *,
        weights_file: str | Path | None = None,
        backbone_options: dict | None = None,
    ) -> None:
        super().__init__()
        self.features = FeatureExtractor(spec, weights_file=weights_file, backbone_options=backbone_options)
        dim = self.features.dim
        self.register_buffer("feature_mean", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("feature_scale", torch.ones(dim, dtype=torch.float64))
        self.head = nn.Linear(dim, 1, dtype=torch.float64)
        self.weights_source = self.features.weights_source
        mean, std = self.features.mean.flatten().tolist(), self.features.std.flatten().tolist()
        self.normalization = {"mean": mean, "std": std}

    def set_probe(self, probe: ProbeModel) -> LinearProbe:
        """Take the standardisation and coefficients of a fitted probe."""
        if probe.n_features != self.features.dim:
            raise ValueError(
                f"the probe was fitted on {probe.n_features} features, this backbone and pooling give "
                f"{self.features.dim}"
            )
        with torch.no_grad():
            self.feature_mean.copy_(torch.from_numpy(probe.mean))
            self.feature_scale.copy_(torch.from_numpy(probe.scale))
            self.head.weight.copy_(torch.from_numpy(probe.coef).view(1, -1))
            self.head.bias.fill_(probe.intercept)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (self.features(x).double() - self.feature_mean) / self.feature_scale
        return self.head(z).reshape(-1).to(x.dtype)


def probe_checkpoint(model: LinearProbe, run_config: dict, config_hash: str, selection: dict) -> dict:
    """The content of a probe run's ``model.pt`` (:data:`gmc.training.checkpoint.BEST_KEYS` less the
    format tag): the run config, its hash, epoch 0, ``selection`` and the network's weights on the CPU."""
    return {
        "run_config": run_config,
        "config_hash": config_hash,
        "epoch": 0,
        "selection": selection,
        "model": model.cpu().state_dict(),
    }
