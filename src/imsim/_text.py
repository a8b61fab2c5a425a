"""Text that is safe to print: file names come from the disk, not from imsim.

A file name may hold terminal escape sequences (``\\x1b]0;...``, colours, cursor
moves), carriage returns or bytes that are not UTF-8; printed raw, it could rewrite
the terminal or forge lines. Every CLI line that shows a name passes it through
:func:`safe_name`.
"""
from __future__ import annotations

import os
import unicodedata


def safe_name(text, *, keep_newlines: bool = False) -> str:
    """``text`` with control characters, bidi overrides and undecodable bytes escaped.

    C0/C1 controls and DEL become ``\\xNN`` (``\\n`` too unless ``keep_newlines``),
    format characters such as U+202E (right-to-left override) become ``\\uNNNN``, and
    surrogate-escaped bytes of a non-UTF-8 name become ``\\xNN``; everything else is
    kept, so ordinary names (accents, CJK, emoji, spaces) print unchanged.
    """
    text = os.fspath(text) if isinstance(text, os.PathLike) else str(text)
    out = []
    for ch in text:
        code = ord(ch)
        if ch == "\n" and keep_newlines:
            out.append(ch)
        elif code < 0x20 or 0x7F <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        elif 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's escape for a byte that is not UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF or unicodedata.category(ch) == "Cf":
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)
