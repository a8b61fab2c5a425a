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


# Options whose absence means "do not do this" (no file written, no model reused).
_ACTIONS = {"export", "grid", "model", "weights", "out", "allow_host"}
_PHOTO_COMMANDS = ("index", "query", "duplicates", "groups", "map", "collections", "serve")


@pytest.mark.parametrize("name", _PHOTO_COMMANDS)
def test_photo_commands_say_what_an_absent_option_means(name, capsys, monkeypatch):
    """An option without a value of its own ([default: None]) says in brackets what
    happens without it: the collection's setting, the folder's, no limit."""
    text = _render(capsys, monkeypatch, name)
    command = _GROUP.commands[name]
    ctx = command.make_context(name, [], resilient_parsing=True)
    for param in command.params:
        if (param.param_type_name != "option" or param.required or param.name in _ACTIONS
                or getattr(param, "is_flag", False) and not param.secondary_opts):
            continue
        if param.get_default(ctx, call=False) is not None:
            continue
        help_text = _plain(param.help or "")
        assert re.search(r"\[(default|new): [^\]]+\]|\[[^\]]+\]|[Dd]efault", help_text), \
            f"{name} {param.opts}: the help does not say what happens without it: {help_text!r}"
        assert help_text in text


@pytest.mark.parametrize("name", ["index", "search"])
def test_engine_flags_show_their_defaults(name, capsys, monkeypatch):
    text = _render(capsys, monkeypatch, name)
    engine = text[text.index("--engine"):]
    assert "[default: local]" in engine[:400]
    address = text[text.index("--address"):][:300]
    assert "default with --engine dask" in address
