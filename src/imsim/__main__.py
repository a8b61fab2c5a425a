from imsim.cli.main import _entry

_entry()
