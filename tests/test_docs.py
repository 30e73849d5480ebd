"""Docs that cannot drift: every command, global option and environment variable is in the README."""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester.cli import cli
from harvester.config import ENV_OVERRIDES

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_is_in_the_readme(command):
    assert f"harvest {command}" in README


@pytest.mark.parametrize(
    "option",
    sorted(o for p in cli.params for o in p.opts if o.startswith("--") and o != "--version"),
)
def test_every_global_option_is_in_the_readme(option):
    assert option in README


@pytest.mark.parametrize("variable", sorted(ENV_OVERRIDES))
def test_every_environment_variable_is_in_the_readme(variable):
    assert variable in README
