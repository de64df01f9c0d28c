"""What a Fountain screenplay is made of, as the parser hands it on: plain dataclasses.

Elements keep the text as written (emphasis markup included, forcing characters removed) and
the 1-based line they start on, so every later message can point at the script.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

ElementKind = Literal[
    "scene_heading", "action", "character", "dialogue", "parenthetical", "lyrics",
    "transition", "centered", "note", "section", "synopsis", "page_break",
]

_ESCAPES = {"\\*": "\x01", "\\_": "\x02"}
_SPAN = r"(?:(?!\n[ \t]*\n).)+?"
"""Emphasised text: any characters, line breaks included, but never across a blank line."""
_STARS = re.compile(r"(\*{1,3})(?=\S)(" + _SPAN + r")(?<=\S)\1", re.DOTALL)
_UNDERLINE = re.compile(r"_(?=\S)(" + _SPAN + r")(?<=\S)_", re.DOTALL)


def plain_text(text: str) -> str:
    """Text without Fountain emphasis (`*italic*`, `**bold**`, `***both***`, `_underline_`);
    escaped `\\*` and `\\_` stay as literal characters. Dialog is spoken from this.

    Emphasis may span the line breaks of one paragraph or speech but not a blank
    line, as the Fountain spec says; a mark with no partner stays as written."""
    for escape, mark in _ESCAPES.items():
        text = text.replace(escape, mark)
    previous = None
    while previous != text:
        previous = text
        text = _STARS.sub(r"\2", text)
        text = _UNDERLINE.sub(r"\1", text)
    return text.replace("\x01", "*").replace("\x02", "_")


@dataclass
class Note:
    """A `[[note]]`: its text (without the brackets) and the line it opens on."""

    text: str
    line: int


@dataclass
class Element:
    """One screenplay element in reading order."""

    kind: ElementKind
    text: str
    line: int
    notes: list[Note] = field(default_factory=list)
    """Notes written inside this element (inline or on their own line within it)."""
    forced: bool = False
    scene_number: str | None = None
    """scene_heading: the `#12#` number, if written."""
    depth: int = 0
    """section: how many `#`."""
    name: str = ""
    """character: the name as written, without extensions, `@` or `^`."""
    extensions: tuple[str, ...] = ()
    """character: `V.O.`, `O.S.`, `CONT'D`… as written, without the parentheses."""
    dual: bool = False
    """character: marked `^` (the second speaker of a dual-dialogue pair)."""

    @property
    def plain(self) -> str:
        """The text without emphasis markup."""
        return plain_text(self.text)


@dataclass
class DialogueBlock:
    """A character cue and what follows it: dialogue, parentheticals and sung lyrics."""

    cue: Element
    parts: list[Element] = field(default_factory=list)
    dual: bool = False
    """True for both blocks of a dual-dialogue pair."""
    pair: int | None = None
    """The index (in its scene's blocks) of the other block of a dual pair."""

    @property
    def line(self) -> int:
        """The cue's line."""
        return self.cue.line

    @property
    def name(self) -> str:
        """The speaker as written, without extensions."""
        return self.cue.name

    @property
    def extensions(self) -> tuple[str, ...]:
        """`V.O.`, `O.S.`, `CONT'D`… as written."""
        return self.cue.extensions

    @property
    def notes(self) -> list[Note]:
        """Every note written inside the block, cue line included."""
        found = list(self.cue.notes)
        for part in self.parts:
            found += part.notes
        return found

    def has_extension(self, *names: str) -> bool:
        """Whether any extension is one of `names` (compared without dots, spaces, case)."""
        wanted = {_ext_key(n) for n in names}
        return any(_ext_key(ext) in wanted for ext in self.extensions)


def _ext_key(text: str) -> str:
    """An extension compared without dots, spaces, apostrophes or case; a zero typed for the
    letter O next to a letter counts as O (`V.0.` ~ `V.O.`, `0.S.` ~ `O.S.`)."""
    key = re.sub(r"[\s.’']", "", text).upper()
    return re.sub(r"(?<=[A-Z])0|0(?=[A-Z])", "O", key)


@dataclass
class Scene:
    """A scene heading and everything up to the next one."""

    index: int
    """1-based position among the scenes."""
    heading: Element
    prefix: str
    """INT, EXT, INT/EXT, EST, or "" for a forced heading."""
    location: str
    time: str | None
    """The time of day as written after the last dash (NIGHT, MOMENTS LATER…), if any."""
    body: list[Element | DialogueBlock] = field(default_factory=list)
    """The scene's elements in order, dialogue grouped into blocks."""

    @property
    def number(self) -> str | None:
        """The heading's `#12#` scene number, if written."""
        return self.heading.scene_number

    @property
    def line(self) -> int:
        """The heading's line."""
        return self.heading.line

    @property
    def blocks(self) -> list[DialogueBlock]:
        """The scene's dialogue blocks in order."""
        return [item for item in self.body if isinstance(item, DialogueBlock)]


@dataclass
class ParseWarning:
    """Something the parser read generously; reported, never fatal."""

    line: int | None
    message: str

    def text(self) -> str:
        """`line 12: message` (or just the message)."""
        return f"line {self.line}: {self.message}" if self.line is not None else self.message


@dataclass
class Screenplay:
    """A parsed Fountain document."""

    title_page: dict[str, str] = field(default_factory=dict)
    """Keys as written (first spelling), values with markup, lines joined by newlines."""
    elements: list[Element] = field(default_factory=list)
    """Every element in reading order (dialogue blocks flattened)."""
    prologue: list[Element | DialogueBlock] = field(default_factory=list)
    """What comes before the first scene heading."""
    scenes: list[Scene] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    """Every note of the document, title page included, in order."""
    boneyards: int = 0
    """How many `/* */` passages were removed."""
    warnings: list[ParseWarning] = field(default_factory=list)

    def title_value(self, key: str) -> str | None:
        """A title-page value by key, case-insensitively (None when absent)."""
        for name, value in self.title_page.items():
            if name.strip().lower() == key.lower():
                return value
        return None

    @property
    def title(self) -> str:
        """The title (plain text, one line), or "" when the title page has none."""
        value = self.title_value("title") or ""
        return " ".join(plain_text(value).split())

    def blocks(self) -> list[DialogueBlock]:
        """Every dialogue block in the scenes, in order."""
        return [block for scene in self.scenes for block in scene.blocks]

    def count(self, kind: ElementKind) -> int:
        """How many elements of a kind the document has."""
        return sum(1 for element in self.elements if element.kind == kind)
