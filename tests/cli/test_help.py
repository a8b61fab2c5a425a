"""Every ``--help`` shows what a person needs: each default, no ``<bool>`` on flags."""
import re

import pytest
import typer

from imsim.cli.main import app, main

_GROUP = typer.main.get_command(app)
_NAMES = sorted(_GROUP.commands)


def _render(capsys, monkeypatch, *argv) -> str:
    monkeypatch.setenv("COLUMNS", "240")
    monkeypatch.setenv("TERMINAL_WIDTH", "240")
    assert main([*argv, "--help"]) == 0
    text = capsys.readouterr().out
    # one line of words: box drawing and the columns' padding removed
    return re.sub(r"\s+", " ", re.sub(r"[│╭╮╰╯─┃━]", " ", text))


def _plain(help_text: str) -> str:
    return re.sub(r"\s+", " ", help_text.replace("\\[", "[")).strip()


def test_there_are_commands():
    assert {"index", "query", "groups", "map", "serve", "search", "demo"} <= set(_NAMES)


@pytest.mark.parametrize("name", _NAMES)
def test_help_shows_every_default(name, capsys, monkeypatch):
    text = _render(capsys, monkeypatch, name)
    assert "<bool>" not in text
    command = _GROUP.commands[name]
    ctx = command.make_context(name, [], resilient_parsing=True)
    for param in command.params:
        help_text = _plain(getattr(param, "help", None) or "")
        if not help_text:
            continue
        assert help_text in text, f"{name}: help of {param.name} lost: {help_text!r}"
        # what the source writes in brackets ("[new: 64]") survives Rich's markup
        for bracket in re.findall(r"\[[^\]]*\]", help_text):
            assert bracket in text, f"{name} {param.name}: {bracket} was eaten"
        default = param.get_default(ctx, call=False) if param.param_type_name == "option" else None
        if default is None or (getattr(param, "is_flag", False) and not param.secondary_opts
                               and default is False):
            continue
        after = text[text.index(help_text) + len(help_text):][:120]
        assert "[default: " in after, f"{name}: {param.name} has default {default!r}, not shown"


def test_root_help_has_no_placeholders(capsys, monkeypatch):
    text = _render(capsys, monkeypatch)
    assert "<bool>" not in text and "--version" in text
