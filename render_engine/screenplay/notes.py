"""Directing notes inside a screenplay: `[[shot: …]]`, `[[set: …]]`, `[[lighting: …]]`.

Grammar of a shot note (words in any order, case-insensitive, separated by spaces or commas):

    [[shot: SIZE  NAMES  MOVE[:AMOUNT]  ANGLE  OPTIONS]]

- SIZE: EWS WS FS MWS MS MCU CU ECU OTS TWO (also EST = WS, XCU = ECU, 2SHOT = TWO, LS = WS,
  ELS = EWS, MLS = MWS).
- NAMES: characters as the script spells them (any case, accents optional); `A>B` is over A's
  shoulder onto B (an OTS), `A+B` or two names frame both (a TWO).
- MOVE: static pan-left pan-right tilt-up tilt-down zoom-in zoom-out push-in pull-out
  truck-left truck-right crane-up crane-down track (also dolly-in, dolly-out); `push-in:0.3`
  or `push-in:30%` sets how far (0–1).
- ANGLE: eye high low overhead dutch.
- MOOD: `(surprised)` sets the expression of the framed characters.
- OPTIONS: `handheld`; `xN` (this note shapes the next N shots); `lines=N` (one shot holds
  the next N speeches); `4s` / `4.5s` / `96f` (duration); `insert` (a shot of its own right
  here: a reaction or cutaway); `skip` (the next shot is left out); `id=s03-012`; `seed=N`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from render_engine.screenplay.casting import name_key
from render_engine.screenplay.errors import FountainError
from render_engine.screenplay.model import Note
from render_engine.spec import MOVES, SHOT_SIZES

SIZE_ALIASES = {"EST": "WS", "ESTABLISHING": "WS", "XCU": "ECU", "2SHOT": "TWO",
                "TWOSHOT": "TWO", "LS": "WS", "ELS": "EWS", "XWS": "EWS", "MLS": "MWS"}
MOVE_ALIASES = {"dolly_in": "push_in", "dolly_out": "pull_out", "push": "push_in",
                "pull": "pull_out", "zoom": "zoom_in"}
ANGLES = {"eye": "eye", "eye_level": "eye", "high": "high", "high_angle": "high", "low": "low",
          "low_angle": "low", "overhead": "overhead", "dutch": "dutch"}
FLAGS = ("handheld", "insert", "skip")
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
NOTE_KEY_RE = re.compile(r"^\s*(shot|set|lighting)\s*:(.*)$", re.IGNORECASE | re.DOTALL)
DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(s|sec|f)$")
MAX_NOTE_SECONDS = 600.0
"""The longest shot a note may ask for in seconds (`600s`): ten minutes of footage."""
MAX_NOTE_FRAMES = 72_000
"""The longest shot a note may ask for in frames (`72000f`): ten minutes at 120 fps, at most
ten minutes at any rate up to 120 fps. Longer asks are typos (`999999999f`) that would plan,
and render, hours of footage in one shot."""
REPEAT_RE = re.compile(r"^[x×](\d+)$")


@dataclass
class ShotNote:
    """A parsed `[[shot: …]]`; names are cast names."""

    line: int
    text: str
    size: str | None = None
    names: list[str] = field(default_factory=list)
    over: str | None = None
    """OTS foreground (A in `A>B`)."""
    move: str | None = None
    amount: float | None = None
    angle: str | None = None
    handheld: bool = False
    repeat: int = 1
    lines: int | None = None
    seconds: float | None = None
    frames: int | None = None
    insert: bool = False
    skip: bool = False
    shot_id: str | None = None
    seed: int | None = None
    mood: str | None = None
    """`(surprised)`: the expression of the framed characters."""


@dataclass
class SceneNote:
    """`[[set: NAME]]` or `[[lighting: PRESET]]`."""

    key: str
    value: str
    line: int


def _fail(note: Note, message: str) -> FountainError:
    return FountainError(f"[[{note.text}]]: {message}", note.line)


def _vocabulary() -> list[str]:
    moves = [m.replace("_", "-") for m in MOVES]
    return [*SHOT_SIZES, *moves, *ANGLES, *FLAGS]


def _tokens(text: str) -> list[str]:
    spaced = text.replace(">", " > ").replace("+", " + ").replace("&", " + ")
    return [t for t in re.split(r"[\s,;]+", spaced) if t]


def _number(note: Note, token: str, value: str, low: int, high: int) -> int:
    if not value.isdigit() or not low <= int(value) <= high:
        raise _fail(note, f'"{token}" needs a whole number from {low} to {high}')
    return int(value)


def _amount(note: Note, token: str, value: str) -> float:
    try:
        amount = float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError:
        raise _fail(note, f'"{token}": the move amount must be 0–1 or a percentage') from None
    if not 0.0 <= amount <= 1.0:
        raise _fail(note, f'"{token}": the move amount must be between 0 and 1 (0%–100%)')
    return amount


class _NoteReader:
    def __init__(self, note: Note, body: str, spellings: dict[str, str],
                 new_name: Callable[[str, int], str] | None) -> None:
        self.note = note
        self.shot = ShotNote(note.line, note.text)
        moods = [m.strip() for m in re.findall(r"\(([^()]*)\)", body)]
        if len(moods) > 1 or (moods and not moods[0]):
            raise _fail(note, "give at most one (mood) in a shot note, e.g. (surprised)")
        self.shot.mood = moods[0] if moods else None
        self.tokens = _tokens(re.sub(r"\([^()]*\)", " ", body))
        self.spellings = spellings
        self.new_name = new_name
        self.pending_over = False

    def set_once(self, field_name: str, value: object, token: str) -> None:
        if getattr(self.shot, field_name) not in (None, False):
            raise _fail(self.note, f'"{token}": the note already gives a {field_name}')
        setattr(self.shot, field_name, value)

    def name_at(self, index: int) -> tuple[str, int] | None:
        """The longest run of tokens from `index` that spells a known character."""
        for length in range(min(4, len(self.tokens) - index), 0, -1):
            words = self.tokens[index:index + length]
            if any(w in (">", "+") for w in words):
                continue
            found = self.spellings.get(name_key(" ".join(words)))
            if found is not None:
                return found, length
        return None

    def option(self, token: str) -> bool:
        low = token.lower()
        key, sep, value = low.partition("=")
        if sep and key in ("lines", "id", "seed"):
            if key == "lines":
                self.set_once("lines", _number(self.note, token, value, 1, 999), token)
            elif key == "seed":
                self.set_once("seed", _number(self.note, token, value, 0, 2**32 - 1), token)
            else:
                raw = token.partition("=")[2]
                if not ID_RE.match(raw):
                    raise _fail(self.note, f'"{token}": a shot id is letters, digits, ".", "_" '
                                "and \"-\", starting with a letter or digit")
                self.set_once("shot_id", raw, token)
            return True
        if match := REPEAT_RE.match(low):
            self.shot.repeat = _number(self.note, token, match.group(1), 1, 999)
            return True
        if match := DURATION_RE.match(low):
            value = float(match.group(1))
            if value <= 0:
                raise _fail(self.note, f'"{token}": a duration must be more than zero')
            if match.group(2) == "f":
                if not match.group(1).isdigit():
                    raise _fail(self.note, f'"{token}": frames are a whole number')
                if value > MAX_NOTE_FRAMES:
                    raise _fail(self.note, f'"{token}" is longer than ten minutes of footage; a '
                                f"shot note asks for at most {MAX_NOTE_FRAMES}f "
                                "(MAX_NOTE_FRAMES): write the length you mean, e.g. 96f or 4s")
                self.set_once("frames", int(value), token)
            else:
                if value > MAX_NOTE_SECONDS:
                    raise _fail(self.note, f'"{token}" is longer than ten minutes of footage; a '
                                f"shot note asks for at most {MAX_NOTE_SECONDS:g}s "
                                "(MAX_NOTE_SECONDS): write the length you mean, e.g. 4s")
                self.set_once("seconds", value, token)
            return True
        if low in FLAGS:
            self.set_once(low, True, token)
            return True
        if low.endswith("%") and self.shot.move is not None and self.shot.amount is None:
            self.shot.amount = _amount(self.note, token, low)
            return True
        return False

    def camera(self, token: str) -> bool:
        upper = token.upper()
        size = upper if upper in SHOT_SIZES else SIZE_ALIASES.get(upper)
        if size is not None:
            self.set_once("size", size, token)
            return True
        word, _, amount = token.lower().partition(":")
        word = word.replace("-", "_")
        move = MOVE_ALIASES.get(word, word)
        if move in MOVES:
            self.set_once("move", move, token)
            if amount:
                self.shot.amount = _amount(self.note, token, amount)
            return True
        if word in ANGLES:
            self.set_once("angle", ANGLES[word], token)
            return True
        return False

    def read(self) -> ShotNote:
        index = 0
        while index < len(self.tokens):
            token = self.tokens[index]
            if token == ">":
                if not self.shot.names or self.pending_over or self.shot.over:
                    raise _fail(self.note, '">" goes between two names: A>B is over A\'s '
                                "shoulder onto B")
                self.pending_over = True
                index += 1
                continue
            if token == "+":
                index += 1
                continue
            if self.camera(token) or self.option(token):
                index += 1
                continue
            named = self.name_at(index)
            if named is not None:
                self.add_name(named[0])
                index += named[1]
            elif self.new_name is not None and _all_caps_name(token):
                self.add_name(self.new_name(token, self.note.line))
                index += 1
            else:
                self.unknown(token)
        if self.pending_over:
            raise _fail(self.note, '">" needs a name after it: A>B is over A\'s shoulder onto B')
        return self.shot

    def add_name(self, name: str) -> None:
        if self.pending_over:
            self.shot.over = self.shot.names.pop()
            self.pending_over = False
        if name not in self.shot.names:
            self.shot.names.append(name)

    def unknown(self, token: str) -> None:
        words = _vocabulary() + sorted({w.upper() for w in self.spellings})
        guess = difflib.get_close_matches(token.lower(), [w.lower() for w in words], n=1)
        hint = f' (did you mean "{guess[0]}"?)' if guess else ""
        raise _fail(self.note, f'"{token}" is not a shot size, camera move, angle, option or a '
                    f"character of this script{hint}; sizes: {' '.join(SHOT_SIZES)}; moves: "
                    f"{' '.join(m.replace('_', '-') for m in MOVES)}; see docs/fountain.md")


def _all_caps_name(token: str) -> bool:
    return token == token.upper() and any(c.isupper() for c in token) and token[0].isalnum()


def read_note(note: Note, spellings: dict[str, str],
              new_name: Callable[[str, int], str] | None = None) -> ShotNote | SceneNote | None:
    """A directing note, or None for an ordinary note (kept as the writer's own).

    `spellings` maps `name_key` spellings to cast names; an unknown ALL-CAPS word is a new
    character when `new_name(word, line)` is given (it returns the cast name). Raises
    FountainError (with the note's line) when a `shot:` note says something it cannot mean.
    """
    match = NOTE_KEY_RE.match(note.text)
    if match is None:
        return None
    key, body = match.group(1).lower(), match.group(2).strip()
    if key != "shot":
        if not body:
            raise _fail(note, f"[[{key}: NAME]] needs a name")
        return SceneNote(key, body, note.line)
    if not body:
        raise _fail(note, "an empty shot note; write e.g. [[shot: CU JANE push-in]]")
    shot = _NoteReader(note, body, spellings, new_name).read()
    if shot.over and shot.size not in (None, "OTS"):
        raise _fail(note, f"A>B is an over-the-shoulder shot, but the note also says {shot.size}")
    if shot.over and len(shot.names) > 1:
        raise _fail(note, "A>B frames one shoulder and one face; name nobody else "
                    "(multi-word names must be known from a cue or the cast)")
    if shot.insert and shot.skip:
        raise _fail(note, "a note cannot both insert a shot and skip one")
    return shot
