"""bench/RESULTS.md is shared by several bench scripts, each owning one `## ` section: find,
replace or append that section, re-reading the file right before writing so the other
scripts' sections are never touched. (`### ` headings inside a section belong to it.)"""

from __future__ import annotations

import re
from pathlib import Path

_HEADING = re.compile(r"^#{1,2} ", re.M)


def section_span(text: str, section: str) -> tuple[str, int, int]:
    """(text with ``section`` appended when missing, start of its body, end of its body)."""
    start = text.find(section + "\n")
    if start < 0:
        text = text.rstrip("\n") + ("\n\n" if text.strip() else "") + section + "\n"
        start = text.find(section + "\n")
    body_start = start + len(section) + 1
    m = _HEADING.search(text, body_start)
    return text, body_start, m.start() if m else len(text)


def replace_section(path: Path, section: str, body: str) -> None:
    """``section``'s body in ``path`` becomes ``body`` (the section is appended when missing)."""
    text, body_start, end = section_span(path.read_text() if path.exists() else "", section)
    head, tail = text[:body_start], text[end:]
    path.write_text(head + "\n" + body.rstrip("\n") + "\n" + ("\n" + tail if tail else ""))
