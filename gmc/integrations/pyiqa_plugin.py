"""pyiqa plug-in: a checkpoint trained by this harness as a pyiqa network (issue #14, part 4).

**How pyiqa finds it.** pyiqa 0.1.16 (``pyiqa/utils/registry.py``) reads the entry-point groups
``pyiqa.archs``, ``pyiqa.models``, ``pyiqa.datasets``, ``pyiqa.losses`` and ``pyiqa.metrics`` the first
time it looks a name up in the matching registry, and calls each entry that is callable. pyproject.toml
declares ``[project.entry-points."pyiqa.archs"] gmc = "gmc.integrations.pyiqa_plugin:register"``;
:func:`register` adds :data:`ARCH_NAME` (``GMCRun``) to pyiqa's architecture registry *lazily*: the
network code (:mod:`gmc.integrations.pyiqa_arch`, torch and the harness's model code) is imported only
when a ``GMCRun`` is built, so any other pyiqa metric pays nothing for the plug-in, and this module
imports neither torch nor pyiqa (``tests/test_pyiqa_plugin.py`` checks it).

**The call.** ::

    from pyiqa.archs import build_network

    run = "results/runs/<model>/<loss>/<train_set>/split<k>/model.pt"
    net = build_network({"type": "GMCRun", "pretrained_model_path": run})
    scores = net(images)  # images: RGB float tensor (B, 3, H, W) in [0, 1]; scores: (B,) float32

``pretrained_model_path`` is a run's ``model.pt`` (or its run folder). Other options:
``stored_size=(width, height)`` (crop-protocol models only, see :class:`gmc.integrations.pyiqa_arch.GMCRun`),
``batch_size`` (default 64), and, for a full-reference model, ``net(distorted, reference)``.

**Why not** ``pyiqa.create_metric("<name>", ...)``: in pyiqa 0.1.16, ``create_metric`` and
``InferenceModel`` accept only names of the static dict ``pyiqa.default_model_configs.DEFAULT_CONFIGS``
(``assert metric_name in DEFAULT_CONFIGS``), checked before any registry, hence before any entry point,
is consulted; no entry-point group adds to it. Adding a name there would mean patching pyiqa's module
state, which this plug-in does not do. The arch registry is the hook pyiqa offers: besides
``build_network``, it serves pyiqa's own option files (``network: {type: GMCRun, pretrained_model_path:
...}``, built by ``GeneralIQAModel`` in ``pyiqa/test.py``). A workaround, not the documented call:
``pyiqa.create_metric("entropy", type="GMCRun", pretrained_model_path=...)`` builds this network inside
pyiqa's ``InferenceModel`` (file paths as input, the [0, 1] check), because pyiqa lets keyword options
replace a metric's default ``type``; it works only with a borrowed NR metric whose default options are its
type alone, and the metric then carries that metric's name and ``score_range``.

**What it returns**: the model's raw prediction, exactly what ``gmc predict`` writes in its CSV's
``prediction`` column for the same image: higher = better quality (so, as a pyiqa metric,
``lower_better=False``), on the scale of the run's training targets (``train.label_scaling``; by default
the training set's MOS normalised to [0, 1]), not clipped. It is a scorer, not a loss: images are
quantised to 8 bits as in an image cache (:mod:`gmc.integrations.pyiqa_arch`) and no gradient flows
(``as_loss`` is not supported).
"""

from __future__ import annotations

#: the type name under which trained runs are registered in pyiqa's arch registry
ARCH_NAME = "GMCRun"
#: where the network lives (imported by pyiqa only when a ``GMCRun`` is built)
ARCH_PATH = "gmc.integrations.pyiqa_arch:GMCRun"


def register() -> None:
    """Entry point of the group ``pyiqa.archs`` (pyproject.toml): register :data:`ARCH_NAME` lazily in
    pyiqa's arch registry. pyiqa calls it when it first looks up an arch, so pyiqa is imported already;
    calling it again (a second distribution declaring the same entry point) is harmless."""
    from pyiqa.utils.registry import ARCH_REGISTRY

    ARCH_REGISTRY.register_lazy(ARCH_NAME, ARCH_PATH, override=True)
