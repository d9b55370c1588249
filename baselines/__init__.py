"""Baselines: one module per family, each registering model cards with ``gmc.models.register_model``.

gmc finds this package through the ``gmc.models`` entry point (pyproject.toml) and this file imports
every module in it, so adding a baseline is one new module here and one line in the config
(docs/adding-a-baseline.md). Modules must stay light: torch, timm and pyiqa are imported inside the
build functions, never at module level (tests/test_light_imports.py checks it).
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
