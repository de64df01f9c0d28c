"""Fountain source text for parsed elements, dialogue and shot notes.

Shared by the coverage planner (which keeps the script's non-dialogue text beside each shot so
a timeline can give it back) and the writer. Text is written so that reading it again gives
the same element: ambiguous action lines are forced with `!`, odd names with `@`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from render_engine.screenplay.model import DialogueBlock, Element, Note
from render_engine.screenplay.parser import HEADING_RE, character_cue, is_transition

LINE_LEVEL_MARKS = ("!", "@", "#", "=", "~", ">", ".")


def _ambiguous(first: str, more_lines: bool) -> bool:
    """Would this first line of an action paragraph be read as something else?"""
    stripped = first.strip()
    if not stripped:
        return False
    if stripped.startswith(LINE_LEVEL_MARKS) or HEADING_RE.match(stripped):
        return True
    if is_transition(stripped):
        return True
    return more_lines and character_cue(stripped) is not None


def notes_source(notes: Iterable[Note]) -> str:
    """Notes as `[[text]]`, space separated."""
    return " ".join(f"[[{note.text}]]" for note in notes)


def _with_notes(text: str, notes: Sequence[Note]) -> str:
    if not notes:
        return text
    return f"{text} {notes_source(notes)}" if text else notes_source(notes)


def action_source(text: str, forced: bool = False) -> str:
    """An action paragraph: every line kept, empty lines as two spaces, forced where needed."""
    lines = text.split("\n")
    out = []
    for index, line in enumerate(lines):
        if not line.strip():
            out.append("!" if index == 0 else "  ")
            continue
        first = index == 0 and (forced or _ambiguous(line, len(lines) > 1))
        later = index > 0 and line.strip().startswith(LINE_LEVEL_MARKS[:-1])
        out.append("!" + line if first or later else line)
    return "\n".join(out)


def element_source(element: Element, notes: Sequence[Note] = ()) -> str:
    """One non-dialogue element as Fountain (with the given notes of it appended)."""
    kind, text = element.kind, element.text
    if kind == "action":
        body = action_source(text, element.forced)
    elif kind == "lyrics":
        body = "\n".join("~" + line for line in text.split("\n"))
    elif kind == "transition":
        body = text if is_transition(text) else ">" + text
    elif kind == "centered":
        body = f">{text}<"
    elif kind == "section":
        body = "#" * max(1, element.depth) + " " + text
    elif kind == "synopsis":
        body = "= " + text
    elif kind == "page_break":
        body = "==="
    elif kind == "note":
        return notes_source(notes)
    else:
        body = text
    return _with_notes(body, notes)


def cue_source(name: str, extensions: Sequence[str] = (), dual: bool = False) -> str:
    """A character cue line: `JANE (V.O.)`, `@McCLANE`, `STEEL ^`."""
    plain = name.strip()
    forced = character_cue(plain) is None or plain.startswith(LINE_LEVEL_MARKS) \
        or HEADING_RE.match(plain) is not None or is_transition(plain)
    line = ("@" if forced else "") + plain
    line += "".join(f" ({ext})" for ext in extensions)
    return line + (" ^" if dual else "")


def speech_source(text: str) -> str:
    """Dialogue lines: empty lines become two spaces so the speech stays one block."""
    return "\n".join(line if line.strip() else "  " for line in text.split("\n"))


def block_source(block: DialogueBlock, keep: Sequence[Note] = ()) -> str:
    """A parsed dialogue block as written (cue, parentheticals, dialogue, lyrics)."""
    lines = [cue_source(block.name, block.extensions, block.cue.dual)]
    for part in block.parts:
        if part.kind == "lyrics":
            lines += ["~" + line for line in part.text.split("\n")]
        elif part.kind == "dialogue":
            lines.append(speech_source(part.text))
        else:
            lines.append(part.text)
    if keep:
        lines.append(notes_source(keep))
    return "\n".join(lines)


def format_amount(amount: float) -> str:
    """0.25 → "0.25", 0.3 → "0.3" (shortest exact form)."""
    return f"{amount:.4f}".rstrip("0").rstrip(".") or "0"


def shot_note_source(size: str, subjects: Sequence[str], over: str | None, move: str,
                     amount: float, angle: str, handheld: bool,
                     extras: Sequence[str] = ()) -> str:
    """A `[[shot: …]]` note that gives every camera choice of a shot explicitly; `subjects`
    and `over` are names as the script spells them."""
    words = [size]
    if over and subjects:
        words.append(f"{over}>{subjects[0]}")
        words += subjects[1:]
    else:
        words += list(subjects)
    if move != "static":
        words.append(move.replace("_", "-") + (f":{format_amount(amount)}" if amount else ""))
    if angle != "eye":
        words.append(angle)
    if handheld:
        words.append("handheld")
    words += list(extras)
    return "[[shot: " + " ".join(words) + "]]"
