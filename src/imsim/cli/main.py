"""The ``imsim`` command.

Every module in ``imsim.cli`` that defines ``register(app)`` adds its subcommands.
Commands are thin: parse, call one library function, print. Heavy imports (torch,
matplotlib, faiss, fastapi) happen inside the command functions so ``imsim --help``
stays fast. Errors print one line (``error: ...``) and exit non-zero; ``--debug``
shows the traceback instead.
"""
from __future__ import annotations

import errno
import functools
import importlib
import inspect
import os
import pkgutil
import sys

import typer

from .. import __version__

app = typer.Typer(
    name="imsim",
    help="Image similarity: autoencoder embeddings, nearest-neighbour search, "
         "Earth Mover's Distance, clustering and photo collections.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool):
    if value:
        typer.echo(f"imsim {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
):
    """imsim: which images in my collection look like this one?"""


# `imsim --help` lists the commands in the order of the work: data, reduce, search,
# EMD, cluster and classify, photo collections, demo and report, web; a new module
# not named here comes last.
_ORDER = ("datasets", "reduce", "search", "emd", "cluster", "classify", "collection", "duplicates",
          "collections", "demo", "serve")


def _register_all() -> None:
    import imsim.cli as pkg

    def rank(info):
        return (_ORDER.index(info.name) if info.name in _ORDER else len(_ORDER), info.name)

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=rank):
        if info.name in ("main",) or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"imsim.cli.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_all()


def _plain_help(app: typer.Typer) -> None:
    """Help text is written as plain text, whatever Rich would make of it.

    Typer renders help through Rich markup, where ``[new: 64]`` or ``[the collection's]``
    is a style tag and vanishes; escaping every help string and docstring keeps them.
    Boolean flags take no value, so their ``<bool>`` placeholder goes (``--help`` too).
    """
    from rich.markup import escape
    from typer.core import TyperOption
    from typer.models import ArgumentInfo, ParameterInfo

    seen: set[int] = set()  # an option shared by several commands is escaped once
    for info in app.registered_commands:
        if info.help:
            info.help = escape(info.help)
        elif info.callback is not None and info.callback.__doc__:
            info.callback.__doc__ = escape(info.callback.__doc__)
        if info.callback is None:
            continue
        for name, param in inspect.signature(info.callback).parameters.items():
            default = param.default
            if not isinstance(default, ParameterInfo) or id(default) in seen:
                continue
            seen.add(id(default))
            if default.help:
                default.help = escape(default.help)
            if isinstance(default, ArgumentInfo) and default.metavar is None:
                default.metavar = name.upper()  # "IMAGE", as the docstrings name it
    # recent Typer (0.29 here) prints a type beside every option, "<bool>" on flags too; older
    # versions print none and have no such method
    if hasattr(TyperOption, "display_type_rich") and not getattr(TyperOption, "_imsim_flags",
                                                                   False):
        shown = TyperOption.display_type_rich

        def display_type_rich(self, ctx):
            flag = getattr(self, "is_flag", False) and not getattr(self, "count", False)
            return None if flag else shown(self, ctx)

        TyperOption.display_type_rich = display_type_rich
        TyperOption._imsim_flags = True
    # and writes a required argument as "{PHOTOS_DIR}" on the usage line, a set in
    # Python's notation: the usage line names it as the help does, "PHOTOS_DIR"
    from typer.core import TyperArgument

    if hasattr(TyperArgument, "_usage_display_name") and not getattr(TyperArgument,
                                                                     "_imsim_usage", False):
        def _usage_display_name(self):
            name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
            return name + ("..." if self.nargs != 1 else "")

        TyperArgument._usage_display_name = _usage_display_name
        TyperArgument._imsim_usage = True


_plain_help(app)


def _usage_errors() -> tuple[type, ...]:
    """Click's exception base, wherever this Typer version keeps it."""
    try:  # Typer >= 0.26 vendors click
        from typer._click.exceptions import ClickException
    except ImportError:  # pragma: no cover - older Typer
        from click.exceptions import ClickException
    return (ClickException,)


_USAGE_ERRORS = _usage_errors()

# Errors a user can cause (bad files, bad flags, missing data): one line, no traceback.
USER_ERRORS = (ValueError, TypeError, OSError, KeyError, RuntimeError)
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)  # a write to a stream with no name (stdout)


# Warnings meant for the programmers of a library, not for the person at the command line.
_DEVELOPER_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning,
                       ImportWarning)


def _one_line_warnings(debug: bool):
    """Format each warning as one ``warning: ...`` line, without a source path or code line.

    Replaces ``warnings.formatwarning`` (not ``showwarning``, so code that records
    warnings still records them) and returns the previous one for the caller to put
    back. Library deprecation notices are hidden unless ``--debug``.
    """
    import warnings

    def format_warning(message, category, filename, lineno, line=None):
        if issubclass(category, _DEVELOPER_WARNINGS) and not debug:
            return ""
        text = " ".join(str(message).split()) or category.__name__
        if debug:
            text += f" ({category.__name__} at {filename}:{lineno})"
        return f"warning: {text}\n"

    previous = warnings.formatwarning
    warnings.formatwarning = format_warning
    return previous


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    import warnings

    argv = list(sys.argv[1:] if argv is None else argv)
    previous = _one_line_warnings("--debug" in argv)
    try:
        return _run(argv)
    finally:
        warnings.formatwarning = previous


@functools.cache
def _command():
    """The click command tree of ``app``, built once per process (calling the Typer app
    rebuilds it each time, 40 ms; tests run the CLI in-process hundreds of times)."""
    return typer.main.get_command(app)


def _run(argv: list[str]) -> int:
    # Before torch and faiss load: OpenMP threads that sleep while they wait instead of
    # spinning. Where other work shares the cores, spinning threads fight it and training
    # ran 4-8x slower (measured on 2 busy cores); on idle cores sleeping costs about 15%.
    # OMP_WAIT_POLICY=ACTIVE in the environment keeps spinning.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    debug = "--debug" in argv
    try:
        result = _command()(args=argv, prog_name="imsim", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except _USAGE_ERRORS as exc:  # bad flags: click's own message and usage line
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except USER_ERRORS as exc:
        if debug:
            raise
        message = str(exc) or type(exc).__name__
        if isinstance(exc, KeyError):
            message = f"missing key {exc}"
        elif (isinstance(exc, OSError) and exc.filename is None and exc.errno in _DISK_FULL
              and exc.strerror):  # a stream with no name; a named file's error names it
            message = f"cannot write the output: {exc.strerror[:1].lower()}{exc.strerror[1:]}"
        from .._text import safe_name

        # messages quote file names and file contents: never print their escapes raw
        typer.echo(f"error: {safe_name(message)}", err=True)
        return 1


def _entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    _entry()
