"""Fountain 1.1 text → `Screenplay`, read the way screenwriting apps read it.

Anything odd is read generously (and noted in `Screenplay.warnings` where a writer may have
meant something else); only truly broken input raises `FountainError` with its line: a binary
file (NUL bytes) or a boneyard `/*` that never closes and would hide the rest of the script,
and a script past the reader's bounds (MAX_SPEAKERS_PER_SCENE, MAX_SPEECH_CHARS).

Order of work: normalise the text (BOM, CRLF/CR, control characters), cut boneyards, lift
notes out of the lines (they may span lines), read the title page, then classify line by line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from render_engine.screenplay.casting import name_key
from render_engine.screenplay.errors import FountainError
from render_engine.screenplay.model import (
    DialogueBlock,
    Element,
    Note,
    ParseWarning,
    Scene,
    Screenplay,
)

MAX_SPEAKERS_PER_SCENE = 200
"""At most this many different speakers (cue names) in one scene. Every shot of a scene
carries the scene's blocking, so a crowd of speakers costs every shot; past this a script is
almost surely generated or broken. Raise it per call (`parse_fountain(max_speakers=…)`)."""
MAX_SPEECH_CHARS = 2_000
"""At most this many characters in one spoken line (a speech's text up to the next
parenthetical or lyric): about two and a half minutes of talk, more than any voice engine
takes in one go. Split a longer speech with `(beat)` or a new cue."""

HEADING_RE = re.compile(
    r"^(int\.?\s*/\s*ext|ext\.?\s*/\s*int|i\.?\s*/\s*e|int|ext|est)(?:\.|\s)", re.IGNORECASE)
SCENE_NUMBER_RE = re.compile(r"\s*#([A-Za-z0-9][A-Za-z0-9.\-]*)#\s*$")
PAGE_BREAK_RE = re.compile(r"^={3,}$")
TITLE_KEY_RE = re.compile(r"^([A-Za-z][A-Za-z0-9 _'.-]{0,40}?)\s*:(.*)$")
EXTENSIONS_RE = re.compile(r"^(.*?)((?:\s*\([^()]*\))*)\s*$")
TIME_SPLIT_RE = re.compile(r"\s+[-–—]{1,2}\s+|\s*(?:--|–|—)\s*")
_CONTROL_RE = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")

KNOWN_TITLE_KEYS = frozenset({
    "title", "credit", "author", "authors", "source", "draft date", "date", "contact",
    "copyright", "notes", "revision", "episode", "format", "coverage", "production",
})

TIMES_OF_DAY = {
    "DAY": "DAY", "DAYTIME": "DAY", "NOON": "DAY", "MIDDAY": "DAY",
    "AFTERNOON": "AFTERNOON", "MORNING": "MORNING", "EVENING": "EVENING",
    "NIGHT": "NIGHT", "NIGHTTIME": "NIGHT", "MIDNIGHT": "NIGHT",
    "DUSK": "DUSK", "SUNSET": "DUSK", "TWILIGHT": "DUSK",
    "DAWN": "DAWN", "SUNRISE": "DAWN", "DAYBREAK": "DAWN",
}
"""Words after a heading's last dash → the canonical time of day they name."""
INHERITING_TIMES = frozenset({"LATER", "CONTINUOUS", "SAME", "CONTD", "SIMULTANEOUS"})
"""Words meaning "the time of the scene before" (MOMENTS LATER, CONTINUOUS…)."""


def time_of_day(text: str | None) -> str | None:
    """The canonical time of day a heading's time names (DAY, NIGHT, MORNING, AFTERNOON,
    EVENING, DUSK, DAWN), "CONTINUOUS" for LATER/CONTINUOUS/SAME (inherit), else None."""
    if not text:
        return None
    words = re.findall(r"[A-Z']+", text.upper().replace("’", "'"))
    for word in words:
        if word in TIMES_OF_DAY:
            return TIMES_OF_DAY[word]
    if any(word.replace("'", "") in INHERITING_TIMES for word in words):
        return "CONTINUOUS"
    return None


def split_heading(text: str, forced: bool) -> tuple[str, str, str | None, str | None]:
    """A heading's (prefix, location, time, scene number): `EXT. FOREST - NIGHT #3#` →
    ("EXT", "FOREST", "NIGHT", "3"). Forced headings may have no prefix."""
    number = None
    match = SCENE_NUMBER_RE.search(text)
    if match:
        number = match.group(1)
        text = text[:match.start()].rstrip()
    prefix = ""
    match = HEADING_RE.match(text)
    if match:
        raw = re.sub(r"[\s.]", "", match.group(1)).upper()
        prefix = {"I/E": "INT/EXT", "EXT/INT": "INT/EXT"}.get(raw, raw)
        text = text[match.end():]
    rest = text.strip(" .\t")
    parts = [p.strip() for p in TIME_SPLIT_RE.split(rest) if p.strip()]
    if len(parts) > 1 and time_of_day(parts[-1]):
        return prefix, " - ".join(parts[:-1]), parts[-1], number
    words = rest.split()
    if len(words) > 1 and words[-1].upper() in TIMES_OF_DAY:
        return prefix, " ".join(words[:-1]), words[-1], number
    return prefix, " - ".join(parts), None, number


def character_cue(text: str) -> tuple[str, tuple[str, ...], bool, bool] | None:
    """(name, extensions, dual, forced) when a stripped line can be a character cue.

    A cue is all upper case before its extensions (which may be any case), holds at least one
    upper-case letter, and doesn't end in a colon; `@` forces any name (McCLANE, 黒澤),
    a trailing `^` marks the second speaker of dual dialogue.
    """
    dual = text.endswith("^")
    if dual:
        text = text[:-1].rstrip()
    forced = text.startswith("@")
    if forced:
        text = text[1:].strip()
    match = EXTENSIONS_RE.match(text)
    name = match.group(1).strip() if match else text
    extensions = tuple(part for group in re.findall(r"\(([^()]*)\)", match.group(2))
                       for part in split_extensions(group)) if match else ()
    if not name or name.endswith(":"):
        return None
    if not forced and (name != name.upper() or not any(c.isupper() for c in name)):
        return None
    return name, extensions, dual, forced


def split_extensions(group: str) -> list[str]:
    """One parenthesis of a cue's extensions as separate extensions: `O.S., PRELAP` →
    ["O.S.", "PRELAP"]; a parenthesis with no comma stays one extension as written."""
    parts = [part.strip() for part in group.split(",")]
    return [part for part in parts if part] if len(parts) > 1 else parts


def is_transition(text: str) -> bool:
    """An unforced transition: upper case, ending in `TO:` (CUT TO:, SMASH CUT TO:)."""
    return text.endswith("TO:") and text == text.upper()


# --------------------------------------------------------------------------- lines


@dataclass
class _Line:
    text: str
    number: int
    notes: list[Note] = field(default_factory=list)
    note_only: bool = False
    """The line held nothing but notes: transparent to the element around it."""
    after_boneyard: bool = False
    """The line comes right after a boneyard's closing `*/` (see `_cut_boneyards`)."""


def _is_spacer(text: str) -> bool:
    """Two or more spaces alone on a line: a deliberate empty line inside dialogue or a note."""
    return len(text) >= 2 and not text.strip(" ")


def _truly_blank(text: str) -> bool:
    return not text.strip() and not _is_spacer(text)


def _normalise(text: str) -> str:
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise FountainError("holds NUL bytes: this is a binary file, not a Fountain "
                            "screenplay; open the script's text (.fountain) instead", line)
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL_RE.sub("", text)


def _cut_boneyards(lines: list[str]) -> tuple[list[tuple[str, int]], int, set[int]]:
    """Remove `/* … */` (across lines too); a line emptied by a boneyard disappears, and text
    on either side of a multi-line boneyard joins into one line.

    Returns the kept (text, line number) pairs, how many boneyards were cut, and the numbers
    of the lines that come right after a line ending in a boneyard's closing `*/`: such a line
    starts afresh when it is a scene heading (the cut text stood where a blank line was).
    """
    out: list[tuple[str, int]] = []
    after: set[int] = set()
    count = 0
    opened_at = 0
    inside = False
    kept = ""
    kept_number = 0
    touched = False
    closed_last = False
    for number, raw in enumerate(lines, start=1):
        if closed_last:
            after.add(number)
        closed_last = False
        if not inside:
            kept, kept_number, touched = "", number, False
        pos = 0
        while True:
            if inside:
                end = raw.find("*/", pos)
                if end < 0:
                    break
                inside, pos = False, end + 2
                closed_last = not raw[pos:].strip()
            else:
                start = raw.find("/*", pos)
                if start < 0:
                    kept += raw[pos:]
                    break
                kept += raw[pos:start]
                inside, touched, opened_at, pos = True, True, number, start + 2
                count += 1
        if inside:
            continue
        if touched and not kept.strip():
            continue
        out.append((kept, kept_number))
    if inside:
        raise FountainError("this boneyard `/*` is never closed, so it would hide the rest of "
                            "the script; close it with `*/` or delete the `/*`", opened_at)
    return out, count, after


def _note_text(parts: list[str]) -> str:
    return "\n".join(part.strip() for part in parts).strip()


def _find_note_end(pairs: list[tuple[str, int]], first: int) -> tuple[int, int] | None:
    for index in range(first, len(pairs)):
        text = pairs[index][0]
        end = text.find("]]")
        if end >= 0:
            return index, end
        if _truly_blank(text):
            return None
    return None


def _lift_notes(pairs: list[tuple[str, int]]) -> list[_Line]:
    """Take `[[notes]]` out of the text; a note may span lines but not a blank line (two
    spaces keep it going). An unclosed `[[` stays as literal text, as apps show it."""
    lines: list[_Line] = []
    index = 0
    while index < len(pairs):
        rest, number = pairs[index]
        done = ""
        notes: list[Note] = []
        while True:
            start = rest.find("[[")
            if start < 0:
                done += rest
                break
            end = rest.find("]]", start + 2)
            if end >= 0:
                notes.append(Note(_note_text([rest[start + 2:end]]), pairs[index][1]))
                done, rest = done + rest[:start], rest[end + 2:]
                continue
            closing = _find_note_end(pairs, index + 1)
            if closing is None:
                done += rest
                break
            last, end = closing
            body = [rest[start + 2:], *(p[0] for p in pairs[index + 1:last]), pairs[last][0][:end]]
            notes.append(Note(_note_text(body), pairs[index][1]))
            done, rest, index = done + rest[:start], pairs[last][0][end + 2:], last
        index += 1
        note_only = bool(notes) and not done.strip()
        lines.append(_Line("" if note_only else done, number, notes, note_only))
    return lines


# --------------------------------------------------------------------------- title page


def _title_key(text: str) -> tuple[str, str] | None:
    match = TITLE_KEY_RE.match(text)
    if not match:
        return None
    key = match.group(1).strip()
    if key.lower() not in KNOWN_TITLE_KEYS and (key == key.upper() or HEADING_RE.match(text)):
        return None
    return key, match.group(2).strip()


def _read_title_page(lines: list[_Line], play: Screenplay) -> int:
    """Read `Key: value` lines (values may continue on indented lines) up to the first blank
    line; returns the index of the first line after the title page."""
    first = next((i for i, line in enumerate(lines)
                  if not line.note_only and line.text.strip()), None)
    if first is None or lines[first].text[:1].isspace() or _title_key(lines[first].text) is None:
        return 0
    for line in lines[:first]:
        play.notes += line.notes
    key = ""
    index = first
    while index < len(lines):
        line = lines[index]
        play.notes += line.notes
        if not line.note_only and not line.text.strip():
            return index + 1
        pair = None if line.text[:1].isspace() else _title_key(line.text)
        if pair is not None:
            key = next((k for k in play.title_page if k.lower() == pair[0].lower()), pair[0])
            old = play.title_page.get(key)
            play.title_page[key] = (old + "\n" + pair[1]).strip() if old else pair[1]
        elif line.text.strip():
            old = play.title_page.get(key, "")
            play.title_page[key] = (old + "\n" + line.text.strip()).strip()
        index += 1
    return index


# --------------------------------------------------------------------------- body


class _Reader:
    """Classifies the body's lines into elements and dialogue blocks."""

    def __init__(self, lines: list[_Line], play: Screenplay) -> None:
        self.lines = lines
        self.play = play
        self.items: list[Element | DialogueBlock] = []
        self.block: DialogueBlock | None = None
        self.paragraph: Element | None = None

    # -- output ---------------------------------------------------------------------------

    def emit(self, element: Element, notes: list[Note]) -> Element:
        """Record an element (in the open dialogue block, if any) with its notes."""
        element.notes += notes
        self.play.notes += notes
        self.play.elements.append(element)
        if self.block is not None:
            self.block.parts.append(element)
        elif element.kind != "character":  # the cue lives in its DialogueBlock
            self.items.append(element)
        return element

    def close(self) -> None:
        """End the open dialogue block or paragraph."""
        self.block = None
        self.paragraph = None

    def attach(self, notes: list[Note]) -> None:
        """Notes on a line of their own: part of the open block or paragraph, else elements."""
        target = None
        if self.block is not None:
            target = self.block.parts[-1] if self.block.parts else self.block.cue
        elif self.paragraph is not None:
            target = self.paragraph
        if target is not None:
            target.notes += notes
            self.play.notes += notes
            return
        for note in notes:
            self.emit(Element("note", note.text, note.line), [note])

    def warn(self, line: int, message: str) -> None:
        """Note a generous reading."""
        self.play.warnings.append(ParseWarning(line, message))

    # -- reading --------------------------------------------------------------------------

    def next_is_empty(self, index: int) -> bool:
        """Is the next line that isn't only notes blank (or the end)?"""
        for later in range(index + 1, len(self.lines)):
            line = self.lines[later]
            if not line.note_only:
                return not line.text.strip()
        return True

    def read(self, start: int) -> list[Element | DialogueBlock]:
        """Classify every line from `start`; returns elements and blocks in order."""
        for index in range(start, len(self.lines)):
            line = self.lines[index]
            if line.note_only:
                self.attach(line.notes)
                continue
            stripped = line.text.strip()
            if not stripped:
                if _is_spacer(line.text) and self.block is not None:
                    if self.block.parts and self.block.parts[-1].kind == "dialogue":
                        self.block.parts[-1].text += "\n"
                elif _is_spacer(line.text) and self.paragraph is not None:
                    self.paragraph.text += "\n"
                else:
                    self.close()
                continue
            if line.after_boneyard and (self.block is not None or self.paragraph is not None) \
                    and self.heading_here(index, stripped):
                self.close()  # the boneyard stood between the paragraph and this heading
            if self.block is not None:
                self.dialogue(stripped, line)
            elif not self.line_level(stripped, line):
                if self.paragraph is not None:
                    self.action(line, stripped)
                else:
                    self.paragraph_start(index, stripped, line)
        return self.items

    def heading_here(self, index: int, stripped: str) -> bool:
        """Would this line read as a scene heading at the start of a paragraph: forced
        `.HEADING`, or `INT.`/`EXT.`… followed by a blank line or written in capitals?"""
        if stripped.startswith(".") and len(stripped) > 1 and stripped[1].isalnum():
            return self.next_is_empty(index)
        return HEADING_RE.match(stripped) is not None and (
            self.next_is_empty(index) or stripped == stripped.upper())

    def dialogue(self, stripped: str, line: _Line) -> None:
        """A line inside a dialogue block: parenthetical, lyric or speech."""
        assert self.block is not None
        if stripped.startswith("(") and stripped.endswith(")"):
            self.emit(Element("parenthetical", stripped, line.number), line.notes)
        elif stripped.startswith("~"):
            last = self.block.parts[-1] if self.block.parts else None
            if last is not None and last.kind == "lyrics":
                last.text += "\n" + stripped[1:].strip()
                last.notes += line.notes
                self.play.notes += line.notes
            else:
                self.emit(Element("lyrics", stripped[1:].strip(), line.number, forced=True),
                          line.notes)
        elif self.block.parts and self.block.parts[-1].kind == "dialogue":
            last = self.block.parts[-1]
            last.text = (last.text + "\n" + stripped) if last.text else stripped
            last.notes += line.notes
            self.play.notes += line.notes
        else:
            self.emit(Element("dialogue", stripped, line.number), line.notes)

    def line_level(self, stripped: str, line: _Line) -> bool:
        """Elements recognised on any line outside dialogue (they end an open paragraph)."""
        number, notes = line.number, line.notes
        single: Element | None = None
        if PAGE_BREAK_RE.match(stripped):
            single = Element("page_break", "", number)
        elif stripped.startswith("#"):
            depth = len(stripped) - len(stripped.lstrip("#"))
            single = Element("section", stripped[depth:].strip(), number, depth=depth)
        elif stripped.startswith("="):
            single = Element("synopsis", stripped[1:].strip(), number)
        elif stripped.startswith(">") and stripped.endswith("<") and len(stripped) > 1:
            single = Element("centered", stripped[1:-1].strip(), number)
        elif stripped.startswith(">"):
            single = Element("transition", stripped[1:].strip(), number, forced=True)
        elif stripped.startswith("~"):
            if self.paragraph is not None and self.paragraph.kind == "lyrics":
                self.paragraph.text += "\n" + stripped[1:].strip()
                self.paragraph.notes += notes
                self.play.notes += notes
            else:
                self.close()
                self.paragraph = self.emit(
                    Element("lyrics", stripped[1:].strip(), number, forced=True), notes)
            return True
        elif stripped.startswith("!"):
            text = stripped[1:].replace("\t", "    ").rstrip()
            if self.paragraph is not None and self.paragraph.kind == "action":
                self.paragraph.text += "\n" + text
                self.paragraph.notes += notes
                self.play.notes += notes
            else:
                self.close()
                self.paragraph = self.emit(Element("action", text, number, forced=True), notes)
            return True
        if single is None:
            return False
        self.close()
        self.emit(single, notes)
        return True

    def action(self, line: _Line, stripped: str) -> None:
        """A line continuing an open paragraph."""
        assert self.paragraph is not None
        if self.paragraph.kind != "action":
            self.close()
            self.paragraph = self.emit(Element("action", _indented(line.text), line.number),
                                       line.notes)
            return
        self.paragraph.text += "\n" + _indented(line.text)
        self.paragraph.notes += line.notes
        self.play.notes += line.notes

    def paragraph_start(self, index: int, stripped: str, line: _Line) -> None:
        """The first line of a paragraph: heading, transition, cue or action."""
        number, notes = line.number, line.notes
        if stripped.startswith(".") and len(stripped) > 1 and stripped[1].isalnum():
            self.emit(Element("scene_heading", stripped[1:].strip(), number, forced=True), notes)
            return
        if HEADING_RE.match(stripped):
            if self.next_is_empty(index):
                self.emit(Element("scene_heading", stripped, number), notes)
                return
            if stripped == stripped.upper():
                self.warn(number, f'"{stripped[:60]}" has no blank line after it; read as a '
                          "scene heading (add the blank line to be sure)")
                self.emit(Element("scene_heading", stripped, number), notes)
                return
            self.warn(number, f'"{stripped[:60]}" looks like a scene heading but the next line '
                      "is not blank, so it reads as action; add a blank line after it")
            self.paragraph = self.emit(Element("action", _indented(line.text), number), notes)
            return
        if is_transition(stripped) and self.next_is_empty(index):
            self.emit(Element("transition", stripped, number), notes)
            return
        cue = character_cue(stripped)
        if cue is not None and not self.next_is_empty(index):
            self.start_block(cue, stripped, number, notes)
            return
        self.paragraph = self.emit(Element("action", _indented(line.text), number), notes)

    def start_block(self, cue: tuple[str, tuple[str, ...], bool, bool], stripped: str,
                    number: int, notes: list[Note]) -> None:
        """Open a dialogue block; a `^` cue pairs with the block right before it."""
        name, extensions, dual, forced = cue
        element = Element("character", stripped.lstrip("@").rstrip("^").strip(), number,
                          forced=forced, name=name, extensions=extensions, dual=dual)
        previous = next((item for item in reversed(self.items)
                         if not (isinstance(item, Element) and item.kind == "note")), None)
        self.emit(element, notes)
        block = DialogueBlock(element)
        self.items.append(block)
        if dual:
            if isinstance(previous, DialogueBlock) and not previous.dual:
                previous.dual = block.dual = True
                block.pair = -1  # resolved to indices once scenes are split
            else:
                element.dual = False
                self.warn(number, f'"{name} ^" marks dual dialogue, but no dialogue block comes '
                          "right before it; read as ordinary dialogue")
        self.block = block


def _indented(text: str) -> str:
    """Action keeps its indentation (tabs count four spaces) and loses trailing blanks."""
    return text.replace("\t", "    ").rstrip()


def _split_scenes(play: Screenplay, items: list[Element | DialogueBlock]) -> None:
    scene: Scene | None = None
    for item in items:
        if isinstance(item, Element) and item.kind == "scene_heading":
            prefix, location, time, number = split_heading(item.text, item.forced)
            item.scene_number = number
            if number is not None:
                item.text = SCENE_NUMBER_RE.sub("", item.text).rstrip()
            scene = Scene(len(play.scenes) + 1, item, prefix, location, time)
            play.scenes.append(scene)
        elif scene is None:
            play.prologue.append(item)
        else:
            scene.body.append(item)
    for body in [play.prologue, *(s.body for s in play.scenes)]:
        blocks = [item for item in body if isinstance(item, DialogueBlock)]
        for index, block in enumerate(blocks):
            if block.pair == -1:
                block.pair = index - 1
                blocks[index - 1].pair = index


def _check_bounds(play: Screenplay, max_speakers: int, max_chars: int) -> None:
    """FountainError (with its line and the fix) for a scene with more than `max_speakers`
    different speakers or a spoken line longer than `max_chars` characters."""
    for scene in play.scenes:
        speakers: set[str] = set()
        for block in scene.blocks:
            speakers.add(name_key(block.name) or block.name)
            if len(speakers) > max_speakers:
                raise FountainError(
                    f'scene "{scene.heading.text[:60]}" has more than {max_speakers} different '
                    f"speakers (speaker {max_speakers + 1}, {block.name[:40]}, first speaks on "
                    f"line {block.line}); split the scene with more scene headings, or raise "
                    "the bound (MAX_SPEAKERS_PER_SCENE, parse_fountain(max_speakers=…))",
                    scene.line)
    for block in [item for item in play.prologue if isinstance(item, DialogueBlock)] \
            + play.blocks():
        for part in block.parts:
            if part.kind in ("dialogue", "lyrics") and len(part.text) > max_chars:
                raise FountainError(
                    f"{block.name[:40]}'s line is {len(part.text)} characters long; a spoken "
                    f"line holds at most {max_chars} (MAX_SPEECH_CHARS): split it with a "
                    "(beat) line or a new character cue", part.line)


def parse_fountain(text: str, *, max_speakers: int | None = None,
                   max_chars: int | None = None) -> Screenplay:
    """Parse Fountain 1.1 text (str; BOM, CRLF and tabs welcome) into a `Screenplay`.

    Raises FountainError (with the line) only for input no screenwriting app could show
    sensibly, and for scripts past the reader's bounds: more than `max_speakers`
    (MAX_SPEAKERS_PER_SCENE) speakers in a scene or a spoken line longer than `max_chars`
    (MAX_SPEECH_CHARS). Everything else parses, with doubtful readings in `warnings`.
    """
    if not isinstance(text, str):
        raise FountainError(f"expected the script's text, got {type(text).__name__}")
    play = Screenplay()
    pairs, play.boneyards, after = _cut_boneyards(_normalise(text).split("\n"))
    lines = _lift_notes(pairs)
    for line in lines:
        line.after_boneyard = line.number in after
    start = _read_title_page(lines, play)
    reader = _Reader(lines, play)
    _split_scenes(play, reader.read(start))
    _check_bounds(play, MAX_SPEAKERS_PER_SCENE if max_speakers is None else max_speakers,
                  MAX_SPEECH_CHARS if max_chars is None else max_chars)
    return play
