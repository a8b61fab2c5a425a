import subprocess
import sys

from imsim import __version__
from imsim.cli.main import main


def test_version(capsys):
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    assert "Usage" in capsys.readouterr().out


def test_unknown_command_exits_nonzero(capsys):
    assert main(["no-such-command"]) != 0


def test_import_imsim_is_light():
    code = ("import sys, imsim, imsim.cli.main; "
            "heavy = [m for m in ('torch', 'matplotlib', 'fastapi', 'faiss') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
