"""The allocator prefix every job runs with: the default, the explicit choices, and a user's own setting
winning (checked by running the prefix in bash, as Snakemake does)."""

from __future__ import annotations

import subprocess

import pytest

from gmc import allocator


def env_after(prefix: str, preset: dict[str, str]) -> dict[str, str]:
    keys = ("GLIBC_TUNABLES", "LD_PRELOAD", "MALLOC_CONF")
    script = prefix + "; ".join(f'echo "{k}=${{{k}:-}}"' for k in keys)
    out = subprocess.run(["bash", "-c", script], env=preset, capture_output=True, text=True, check=True)
    return dict(line.split("=", 1) for line in out.stdout.splitlines())


def test_default_raises_the_glibc_thresholds(monkeypatch):
    monkeypatch.delenv("GMC_ALLOCATOR", raising=False)
    env = env_after(allocator.shell_prefix(), {})
    assert env["GLIBC_TUNABLES"] == allocator.GLIBC_TUNABLES and env["LD_PRELOAD"] == ""


def test_a_users_own_tunables_win():
    env = env_after(allocator.shell_prefix("glibc-tunables"), {"GLIBC_TUNABLES": "glibc.malloc.arena_max=1"})
    assert env["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=1"


def test_plain_glibc_sets_nothing():
    assert allocator.shell_prefix("glibc") == ""


def test_jemalloc_preloads_the_library_unless_the_user_preloads_something(tmp_path, monkeypatch):
    lib = tmp_path / "libjemalloc.so.2"
    lib.write_bytes(b"")
    monkeypatch.setattr(allocator, "find_jemalloc", lambda: str(lib))
    env = env_after(allocator.shell_prefix("jemalloc"), {})
    assert env["LD_PRELOAD"] == str(lib) and env["MALLOC_CONF"] == allocator.JEMALLOC_CONF
    env = env_after(allocator.shell_prefix("jemalloc"), {"LD_PRELOAD": "/opt/profiler.so"})
    assert env["LD_PRELOAD"] == "/opt/profiler.so" and env["MALLOC_CONF"] == ""


def test_unknown_or_missing_allocator_is_a_clear_error(monkeypatch):
    with pytest.raises(ValueError, match="GMC_ALLOCATOR='tcmalloc'"):
        allocator.shell_prefix("tcmalloc")
    monkeypatch.setattr(allocator, "find_jemalloc", lambda: None)
    with pytest.raises(ValueError, match="apt-get install libjemalloc2"):
        allocator.shell_prefix("jemalloc")
