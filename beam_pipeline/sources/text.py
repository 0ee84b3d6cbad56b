"""Strings that enter the job from outside (file names, sidecar fields) made safe to store and to show.

Why: on Linux a file name that is not UTF-8 reaches Python as a str holding
surrogate escapes (U+DC80..U+DCFF), and JSON may spell a lone surrogate
(``"\\ud800"``). Both are valid Python strings that no UTF-8 encoder accepts, so
one of them in a row fails the write of its whole batch (DuckDB and BigQuery
alike). They are caught where strings enter, shown as escapes in reasons, and
never stored as they are.
"""
from __future__ import annotations

MAX_REASON_CHARS = 500        # an errors.reason is read by a person: long enough for any real cause


def is_valid_text(text: str) -> bool:
    """True when the string encodes as UTF-8: no lone surrogates, whatever their origin."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(text: str) -> str:
    """The string with every surrogate written as an escape: undecodable file-name bytes as ``\\xNN``, others ``\\uNNNN``."""
    if is_valid_text(text):
        return text
    return "".join(_escape(char) if "\ud800" <= char <= "\udfff" else char for char in text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def capped(text: str, max_chars: int = MAX_REASON_CHARS) -> str:
    """At most `max_chars` characters, marked when cut, so one huge value cannot make a huge row."""
    if len(text) <= max_chars:
        return text
    kept = max(0, max_chars - 48)             # the marker below is under 48 characters
    return text[:kept] + f"... [{len(text) - kept} more characters cut]"
