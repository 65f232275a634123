"""`herald … --help` reads cleanly at 80 columns: no value placeholder after flags, no default cut off,
the default address shown; a bad HERALD_LOG_FORMAT is refused before anything starts."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from herald.cli import app

COMMANDS = [
    "serve",
    "api",
    "worker",
    "mtls-gateway",
    "migrate",
    "rekey",
    "keygen",
    "bench",
    "simulate",
    "listen",
]


def flat(text: str) -> str:
    """The help as one line: wrapped lines joined (a line broken after a hyphen joins without a space)."""
    return " ".join(text.replace("-\n", "-").split()).replace("- ", "-")


def help_of(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "80", "TERM": "dumb"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_fits_80_columns_without_placeholders_on_flags(command: str) -> None:
    text = help_of(*([command] if command else []))
    assert all(len(line) <= 80 for line in text.splitlines()), text
    assert "<bool>" not in text and "…]" not in text, text
    cut = [ln for ln in text.splitlines() if ln.rstrip().endswith("...") and not ln.startswith("Usage:")]
    assert not cut, cut


def test_defaults_are_shown_whole() -> None:
    serve = flat(help_of("serve"))
    assert "default 127.0.0.1:8080" in serve and "default sqlite:///herald.db" in serve
    assert "--dev " in serve and "--dev <" not in serve
    assert "liveperson-data,liveperson-connector,livechat]" in flat(help_of("simulate"))
    assert "postgresql://postgres@127.0.0.1:5432/postgres]" in flat(help_of("bench"))


def test_every_command_has_a_whole_one_line_summary() -> None:
    top = help_of()
    for command in COMMANDS:
        [line] = [ln for ln in top.splitlines() if ln.strip().startswith(command + " ")]
        assert line.rstrip().endswith("."), line  # a sentence, not cut mid-way


def test_a_bad_log_format_is_refused() -> None:
    result = CliRunner().invoke(app, ["worker"], env={"HERALD_LOG_FORMAT": "xml"})
    assert result.exit_code == 2, result.output
