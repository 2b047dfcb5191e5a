"""Text people type: names free of control and bidi-override characters, uploaded bytes decoded or located."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

# C0 and C1 controls (NUL included), DEL, lone surrogates, and the characters that reorder text on screen:
# embeddings and overrides (U+202A-U+202E), isolates (U+2066-U+2069) and the invisible direction marks.
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f\ud800-\udfff{_BIDI}]")
_UNSAFE_MULTILINE = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff{_BIDI}]")
_BIDI_CHARS = re.compile(f"[{_BIDI}]")


def _describe(char: str) -> str:
    code = f"U+{ord(char):04X}"
    if char == "\x00":
        return f"a NUL character ({code})"
    if _BIDI_CHARS.match(char):
        name = unicodedata.name(char, "direction control").lower()
        return f"a bidirectional control character, {name} ({code}), which reorders text on screen"
    if 0xD800 <= ord(char) <= 0xDFFF:
        return f"a lone surrogate ({code}), which is not a character"
    return f"a control character ({code})"


def unsafe_character(value: str, *, multiline: bool = False) -> str | None:
    """Why `value` is not plain text (what is where), or None when it is.

    Names (single line) refuse every control character; `multiline` text allows tabs and line breaks.
    """
    match = (_UNSAFE_MULTILINE if multiline else _UNSAFE).search(value)
    if match is None:
        return None
    return f"contains {_describe(match.group())} at character {match.start() + 1}; write plain text"


_LINE_BREAKS = re.compile(r"[ \t\r\n]*[\t\r\n][ \t\r\n]*")


def _plain(value: str) -> str:
    value = _LINE_BREAKS.sub(" ", value)  # a cell typed over two lines is one line with a space; not hidden
    reason = unsafe_character(value)
    if reason is not None:
        raise PydanticCustomError("unsafe_text", "{reason}", {"reason": reason})
    return value


def _plain_multiline(value: str) -> str:
    reason = unsafe_character(value, multiline=True)
    if reason is not None:
        raise PydanticCustomError("unsafe_text", "{reason}", {"reason": reason})
    return value


# A name, an address line, a number: one line of plain text (tabs and line breaks become a space).
PlainText = Annotated[str, AfterValidator(_plain)]
# Free text such as a reason: plain text that may span lines.
MultilineText = Annotated[str, AfterValidator(_plain_multiline)]


class UndecodableText(ValueError):
    """Uploaded bytes that are neither UTF-8 nor Windows-1250; says which byte, on which line."""

    def __init__(self, data: bytes, position: int) -> None:
        self.byte = data[position]
        self.offset = position
        self.line = data.count(b"\n", 0, position) + 1
        super().__init__(
            f"the file is neither UTF-8 nor Windows-1250: byte 0x{self.byte:02X} on line {self.line} "
            f"(byte {position + 1} of the file) is no character in either; save the file as CSV UTF-8"
        )


def decode_upload(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1250 as older Polish Excel saves; raises UndecodableText."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1250")
    except UnicodeDecodeError as error:
        raise UndecodableText(data, error.start) from None
