"""Drawing the live view of `make run` in place, with ANSI escapes and the stdlib.

The terminal's alternate screen holds the view while it runs (as `top` does), so the
shell's own lines come back untouched on exit; each frame rewrites the screen from its
top-left corner, clearing what the previous, longer lines left.
"""

from __future__ import annotations

import shutil
from types import TracebackType
from typing import TextIO

ENTER = "\x1b[?1049h\x1b[?25l"  # alternate screen, cursor hidden
LEAVE = "\x1b[?25h\x1b[?1049l"  # cursor shown, normal screen back
HOME = "\x1b[H"
CLEAR_LINE_END = "\x1b[K"
CLEAR_BELOW = "\x1b[J"


def frame(lines: list[str]) -> str:
    """The bytes that redraw a whole screen: no newline after the last line, so a screen
    exactly as tall as the lines does not scroll."""
    return HOME + (CLEAR_LINE_END + "\n").join(lines) + CLEAR_LINE_END + CLEAR_BELOW


class Screen:
    """A terminal the live view redraws; `with` enters and leaves its alternate screen."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        encoding = getattr(out, "encoding", None) or "ascii"
        try:
            "∞".encode(encoding)
            self.unlimited = "∞"
        except (UnicodeEncodeError, LookupError):
            self.unlimited = "-"

    def size(self) -> tuple[int, int]:
        """Columns and rows now (the terminal may have been resized)."""
        columns, rows = shutil.get_terminal_size((160, 45))
        return columns, rows

    def draw(self, lines: list[str]) -> None:
        self.out.write(frame(lines))
        self.out.flush()

    def __enter__(self) -> Screen:
        self.out.write(ENTER)
        self.out.flush()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.out.write(LEAVE)
        self.out.flush()
