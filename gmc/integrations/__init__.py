"""Hooks that let other tools use what this harness produces (light: importing this package imports none of
them); :mod:`gmc.integrations.pyiqa_plugin` registers trained runs with pyiqa."""
