"""Baselines: one module per family, each registering model cards with ``gmc.models.register_model``.

gmc finds these modules through the ``gmc.models`` entry-point group (pyproject.toml); to add a
baseline, add a module here and one line under that group, then name it in the config.
"""
