"""Docs that cannot drift: every command, global option and environment variable is in the
README, and every command and option explains itself in `--help`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
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


def commands(command: click.Command, name: str = "harvest") -> Iterator[tuple[str, click.Command]]:
    """The command and, for a group, every command below it, each with its full name."""
    yield name, command
    if isinstance(command, click.Group):
        for sub_name, sub in sorted(command.commands.items()):
            yield from commands(sub, f"{name} {sub_name}")


COMMANDS = list(commands(cli))


def test_the_walk_finds_every_command():
    groups = [c for c in cli.commands.values() if isinstance(c, click.Group)]
    # The group, its commands, and the commands of its groups (`harvest retractions load`).
    assert len(COMMANDS) == len(cli.commands) + 1 + sum(len(g.commands) for g in groups)
    assert ("harvest show", cli.commands["show"]) in COMMANDS
    retractions = cli.commands["retractions"]
    assert ("harvest retractions load", retractions.commands["load"]) in COMMANDS


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[name for name, _ in COMMANDS])
def test_commands_have_help(name, command):
    """As sqlite-utils' tests/test_docs.py: a command without help shows a bare name in
    `harvest --help`, and its own `--help` says nothing of what it does."""
    assert command.help and command.help.strip(), f"{name} is missing its help text"


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[name for name, _ in COMMANDS])
def test_options_have_help(name, command):
    bare = [p.opts[0] for p in command.params if isinstance(p, click.Option) and not p.help]
    assert not bare, f"{name}: options without help text: {bare}"
