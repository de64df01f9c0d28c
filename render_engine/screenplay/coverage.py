"""Coverage: each scene of a screenplay becomes shots by film grammar.

A scene opens on an establishing wide with a slow pan (exterior) or zoom (interior) over its
opening action. Dialogue is covered with singles (MCU; a CU pushing in when the line is
whispered, shouted or wept) of the speaker the first time they talk, then over-the-shoulder
reverses across the 180° line; a character who has just walked in gets a medium shot; dual
dialogue is a two-shot; a question or exclamation left hanging gets a reaction of the
listener; an entrance gets a wide that tracks the newcomer; a long action paragraph gets its
own shot and a short one adds its beat to the next shot. V.O./O.S. lines (and PRELAP, ON
PHONE…) are audio only: the picture stays on whoever listens (or on a V.O. speaker who is in
the scene). A joint cue (ANNA AND BEN, BOTH, ALL) says each line once per speaker, together.

Shot notes override all of it (see `notes.py`). With `Coverage: manual` on the title page, a
scene that has shot notes gets exactly the shots its notes open, each holding the dialogue
after it up to the next note: this is how the writer makes a script that reads back into the
same edit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from render_engine.screenplay.blocking import block_scene, cheat_to_camera, heading, scene_pair
from render_engine.screenplay.casting import Casting, name_key
from render_engine.screenplay.direction import (
    ACTION_SECONDS_PER_WORD,
    ENTER_RE,
    EXIT_RE,
    addressee,
    audio_only,
    enters_in,
    exits_in,
    is_intense,
    is_pause,
    is_voice_over,
    mentions,
    mood,
    posture,
    sentences,
    speech_seconds,
    subject_of,
    words,
)
from render_engine.screenplay.model import (
    DialogueBlock,
    Element,
    Note,
    ParseWarning,
    Scene,
    Screenplay,
)
from render_engine.screenplay.notes import SceneNote, ShotNote, read_note
from render_engine.screenplay.parser import time_of_day
from render_engine.screenplay.plan import (
    Plan,
    PlannedLine,
    PlannedScene,
    PlannedShot,
    derive_seed,
)
from render_engine.screenplay.source import block_source, element_source

LINE_LEAD_S = 0.3
LINE_GAP_S = 0.3
SHOT_TAIL_S = 0.5
PAUSE_S = 0.8
ACTION_SHOT_WORDS = 12
"""A mid-scene action paragraph at least this long gets a shot of its own."""
REACTION_S = 1.5
MIN_SHOT_S = 1.5
EST_RANGE_S = (3.0, 8.0)
ENTRANCE_RANGE_S = (3.0, 6.0)
ACTION_RANGE_S = (2.0, 8.0)
DEFAULT_AMOUNTS = {"pan_left": 0.3, "pan_right": 0.3, "push_in": 0.25, "pull_out": 0.3,
                   "zoom_in": 0.15, "zoom_out": 0.15, "track": 0.2}
WIDE_SIZES = ("EWS", "WS", "FS")
CROWD_SHOT_CHARACTERS = 12
"""The most characters a shot lists (`ShotSpec.characters`) unless it is wide. While a shot
has no more people about, it lists them all; in a bigger crowd it lists who it frames, who
speaks, listens, walks in or out or is tracked, then those blocked nearest them. Listing
the whole crowd in every shot made a scene's planning, and its edit, grow with the square of
its cast (400 speakers: 160,000 character entries)."""
WIDE_SHOT_CHARACTERS = 100
"""The most characters a wide shot (EWS, WS, FS) lists: the crowd nearest its subjects, or
nearest the middle of the group when it frames nobody in particular."""
HELD = 10**9
"""`hold` of a manual shot: it takes every speech up to the next note."""


def _clamp(value: float, bounds: tuple[float, float]) -> float:
    return max(bounds[0], min(bounds[1], value))


@dataclass
class _Take:
    """A shot under construction: who is there, what is said when, what it defaults to."""

    kind: str
    line: int
    note: ShotNote | None
    present: list[str]
    enter: list[str]
    exit: list[str]
    t: float
    before: list[str]
    prompt: str
    defaults: dict[str, Any]
    lines: list[PlannedLine] = field(default_factory=list)
    blocks: list[dict[str, Any]] = field(default_factory=list)
    inner: list[list[Any]] = field(default_factory=list)
    """[blocks before it, Fountain text] of what came between the speeches of a held shot."""
    moods: dict[str, str] = field(default_factory=dict)
    fixed_seconds: float | None = None


class _ScenePlanner:
    """Plans one scene; see the module docstring for the grammar."""

    def __init__(self, scene: Scene, casting: Casting, manual: bool,
                 warnings: list[ParseWarning], previous_time: str | None,
                 unused: frozenset[int] = frozenset()) -> None:
        self.scene = scene
        self.unused = unused
        """Line numbers of shot notes that shape no shot: their names don't cast anyone."""
        self.body = scene.body
        self.casting = casting
        self.warnings = warnings
        self.spellings = casting.spellings()
        self.directives: dict[int, ShotNote | SceneNote | None] = {}
        self.scene_notes: dict[str, tuple[str, int]] = {}
        self._read_notes()
        self.manual = manual and any(isinstance(d, ShotNote) and not d.insert
                                     for d in self.directives.values())
        self.time = time_of_day(scene.time)
        if self.time == "CONTINUOUS":
            self.time = previous_time
        # who is in the scene
        self.roster: list[str] = []
        self.seen: set[str] = set()
        """The roster as a set, to look names up in it in constant time."""
        self.entering: list[str] = []
        self.entrances: dict[int, list[str]] = {}
        self.exits: dict[int, list[str]] = {}
        self.postures: dict[str, str] = {}
        self._cast_scene()
        speeches = self._speech_counts()
        self.placements = block_scene(self.roster, self.entering, speeches)
        self.line = scene_pair(self.roster, self.entering, speeches)
        """The scene's principal pair, whose line of action every shot keeps."""
        self.present = [n for n in self.roster if n not in self.entering]
        # the walk through the scene
        self.shots: list[PlannedShot] = []
        self.queue: list[list[Any]] = []  # [ShotNote, how many more shots it shapes]
        self.est_queue: list[list[Any]] | None = None
        self.est_done = self.manual
        self.opening_words = 0
        self.lead = 0.0
        self.before: list[str] = []
        self.lead_text: list[str] = []
        """Action since the last shot began: the next shot's prompt."""
        self.pending_enter: list[str] = []
        self.pending_exit: list[str] = []
        self.take: _Take | None = None
        self.hold = 0
        self.prev_speaker: str | None = None
        self.shown: set[str] = set()
        self.fresh: set[str] = set()
        self.last_was_single = False
        self.consumed: set[int] = set()
        self.rank: dict[str, int] | None = None
        """Roster name → its place in the roster (shots list characters in this order)."""
        self.row: list[str] | None = None
        """The scene's blocked characters left to right (see `_nearest`)."""
        self.row_index: dict[str, int] = {}
        self.voices: dict[int, list[str]] = {}
        """id of a dialogue block → the cast names it speaks as (see `_voices`)."""
        self.said: dict[str, int] = {}
        """How many speeches each character has had so far (BOTH picks the top two)."""

    # -- reading the scene ahead ----------------------------------------------------------

    def _new_name(self, written: str, line: int) -> str:
        name = self.casting.character(written, line)
        self.spellings = self.casting.spellings()
        return name

    def _read_notes(self) -> None:
        for item in self.body:
            for note in item.notes:
                directive = read_note(note, self.spellings, self._new_name)
                self.directives[id(note)] = directive
                if isinstance(directive, SceneNote):
                    self.scene_notes[directive.key] = (directive.value, directive.line)

    def _shot_note(self, note: Note) -> ShotNote | None:
        directive = self.directives.get(id(note))
        return directive if isinstance(directive, ShotNote) else None

    def _cast_scene(self) -> None:
        """Who is in the scene, in order of first appearance; who enters, leaves, sits.
        Names only a shot note mentions come last, so notes never reorder the blocking."""
        spoken: set[str] = set()
        noted: list[str] = []
        for index, item in enumerate(self.body):
            if isinstance(item, DialogueBlock):
                names = [self.casting.character(part, item.line)
                         for part in self.casting.cue_parts(item.name)]
                self._read_parentheticals(index, item, names, spoken)
                for name in names:
                    if not audio_only(item) or item.dual:  # dual dialogue frames both speakers
                        self._see(name)
                        spoken.add(name)
            elif item.kind == "action":
                self._read_action(index, item, spoken)
            for note in item.notes:
                shot = self._shot_note(note)
                if shot is not None and note.line not in self.unused:
                    noted += ([shot.over] if shot.over else []) + shot.names
        for name in sorted(set(noted)):
            self._see(name)

    def _speech_counts(self) -> dict[str, int]:
        """How many speeches each character has in the scene (who the scene is about)."""
        counts: dict[str, int] = {}
        for item in self.body:
            if isinstance(item, DialogueBlock):
                for part in self.casting.cue_parts(item.name):  # ANNA AND BEN: each of them
                    name = self.casting.character(part, item.line)
                    counts[name] = counts.get(name, 0) + 1
        return counts

    def _see(self, name: str) -> None:
        if name not in self.seen:
            self.seen.add(name)
            self.roster.append(name)

    def _read_parentheticals(self, index: int, block: DialogueBlock, names: list[str],
                             spoken: set[str]) -> None:
        """`(entering)`, `(walking in)`: the speakers walk in as they start (like "Anna
        enters." before the block); `(exiting)`, `(leaving)`: they walk out after it."""
        for part in block.parts:
            if part.kind != "parenthetical":
                continue
            if enters_in(part.text):
                for name in names:
                    if name not in spoken and name not in self.entering:
                        self.entering.append(name)
                        self.entrances.setdefault(index, []).append(name)
                        self._see(name)
            if exits_in(part.text):
                for name in names:
                    if name not in self.exits.get(index, []):
                        self.exits.setdefault(index, []).append(name)

    def _read_action(self, index: int, element: Element, spoken: set[str]) -> None:
        for sentence in sentences(element.plain):
            named = [m[0] for m in mentions(sentence, self.spellings)]
            for name in subject_of(ENTER_RE, sentence, self.spellings):
                if name not in spoken and name not in self.entering:
                    self.entering.append(name)
                    self.entrances.setdefault(index, []).append(name)
            for name in subject_of(EXIT_RE, sentence, self.spellings):
                if name in self.roster and name not in self.entrances.get(index, []):
                    self.exits.setdefault(index, []).append(name)
            seated = posture(sentence)
            for name in named:
                self._see(name)
                if seated and name not in self.postures:
                    self.postures[name] = seated

    def _after(self, index: int) -> Iterator[Element | DialogueBlock]:
        """The scene's items after `index`, without copying the rest of the scene."""
        return (self.body[later] for later in range(index + 1, len(self.body)))

    def _next_is_dialogue(self, index: int) -> bool:
        """Does a dialogue block come after `index` before any shot note?"""
        for item in self._after(index):
            if any(self._shot_note(n) for n in item.notes):
                return False
            if isinstance(item, DialogueBlock):
                return True
        return False

    def _note_before_dialogue(self, index: int) -> bool:
        """Does a shot note come before (or inside) the next dialogue block?"""
        for item in self._after(index):
            if any(self._shot_note(n) for n in item.notes):
                return True
            if isinstance(item, DialogueBlock):
                return False
        return False

    # -- notes ----------------------------------------------------------------------------

    def _queue_notes(self, notes: list[Note]) -> None:
        for note in notes:
            shot = self._shot_note(note)
            if shot is not None and not shot.insert:
                self.queue.append([shot, shot.repeat])

    @staticmethod
    def _pop(queue: list[list[Any]]) -> ShotNote | None:
        if not queue:
            return None
        head = queue[0]
        head[1] -= 1
        if head[1] <= 0:
            queue.pop(0)
        return head[0]

    def _skipped(self, note: ShotNote | None, kind: str) -> bool:
        if note is None or not note.skip:
            return False
        if kind in ("dialogue", "dual", "voice"):
            self.warnings.append(ParseWarning(note.line, f"[[{note.text}]]: a shot with dialogue "
                                              "cannot be skipped; skip is ignored"))
            return False
        return True

    # -- takes ----------------------------------------------------------------------------

    def _open(self, kind: str, line: int, note: ShotNote | None, **defaults: Any) -> _Take:
        take = _Take(kind, line, note, list(self.present), self.pending_enter,
                     self.pending_exit, self.lead, self.before, " ".join(self.lead_text),
                     defaults)
        self.pending_enter, self.pending_exit = [], []
        self.lead, self.before, self.lead_text = 0.0, [], []
        self.present += [n for n in take.enter if n not in self.present]
        if take.exit:
            self.present = [n for n in self.present if n not in take.exit]
        self.take = take
        return take

    def _close(self) -> None:
        take, self.take, self.hold = self.take, None, 0
        if take is None:
            return
        shot = self._finish(take)
        self.shots.append(shot)
        if take.lines or take.kind == "reaction":
            single = len(shot.subjects) == 1 and shot.size not in WIDE_SIZES
            self.last_was_single = single and take.kind in ("dialogue", "noted", "reaction")

    # -- the walk through the scene -------------------------------------------------------

    def plan(self) -> list[PlannedShot]:
        """The scene's shots in order."""
        for index, item in enumerate(self.body):
            if index in self.consumed:
                continue
            if self.take is not None and not isinstance(item, DialogueBlock) \
                    and not self._next_is_dialogue(index):
                self._close()  # a held shot ends with its last speech
            if isinstance(item, DialogueBlock):
                self._flush_est()
                self._dialogue(index, item)
            elif item.kind == "note":
                self._note_element(item)
            else:
                self._element(index, item)
        self._flush_est(at_end=True)
        self._close()
        if self.lead and self.shots and not self.shots[-1].timed:
            self.shots[-1].seconds += self.lead
        for note, _left in self.queue:
            self.warnings.append(ParseWarning(note.line, f"[[{note.text}]] comes after the "
                                              "scene's last shot; it shapes no shot"))
        return self.shots

    def unused_notes(self) -> frozenset[int]:
        """Lines of shot notes still waiting when the scene ended."""
        return frozenset(note.line for note, left in self.queue
                         if left == note.repeat)

    def _chunk(self, element: Element) -> str:
        kept = [n for n in element.notes if self.directives.get(id(n)) is None]
        return element_source(element, kept)

    def _element(self, index: int, element: Element) -> None:
        chunk = self._chunk(element)
        text = " ".join(element.plain.split())
        timed = element.kind in ("action", "lyrics")
        if timed and not self.est_done and index not in self.entrances \
                and index not in self.exits:
            if self.est_queue is None:  # notes above or inside the first action: the EST's
                self._queue_notes(element.notes)
                self.est_queue, self.queue = self.queue, []
            else:
                self._queue_notes(element.notes)
            self.opening_words += words(text)
            self.lead_text.append(text)
            self.before.append(chunk)
            return
        if timed:
            self._flush_est()
        self._queue_notes(element.notes)
        if self.take is not None and self.hold > 0:
            self.take.inner.append([len(self.take.blocks), chunk])
        else:
            self.before.append(chunk)
        if timed:
            self._action(index, element, text)

    def _action(self, index: int, element: Element, text: str) -> None:
        entering = self.entrances.get(index, [])
        leaving = self.exits.get(index, [])
        seconds = words(text) * ACTION_SECONDS_PER_WORD
        self.fresh |= set(entering)
        if self.take is not None and self.hold > 0:  # inside a held shot: time passes in it
            self.take.t += seconds
            self.take.enter += [n for n in entering if n not in self.take.enter]
            self.take.exit += [n for n in leaving if n not in self.take.exit]
            self.present += [n for n in entering if n not in self.present]
            self.present = [n for n in self.present if n not in leaving]
            return
        self._close()
        self.pending_enter += [n for n in entering if n not in self.pending_enter]
        self.pending_exit += [n for n in leaving if n not in self.pending_exit]
        self.lead_text.append(text)
        if self.manual:
            self.lead += seconds
            return
        if entering:
            self._shot_for_action("entrance", element, seconds, ENTRANCE_RANGE_S, 2.0,
                                  size="WS", subjects=entering[:1], move="track",
                                  target=entering[0])
        elif words(text) >= ACTION_SHOT_WORDS:
            named = [m[0] for m in mentions(text, self.spellings)]
            subjects = [n for n in dict.fromkeys(named) if n in self.present or n in leaving]
            size = "WS" if not subjects else "MS" if len(subjects) == 1 else "MWS"
            self._shot_for_action("action", element, seconds, ACTION_RANGE_S, 1.5,
                                  size=size, subjects=subjects)
        else:
            self.lead += seconds

    def _shot_for_action(self, kind: str, element: Element, seconds: float,
                         bounds: tuple[float, float], pad: float, **defaults: Any) -> None:
        note = self._pop(self.queue)
        if self._skipped(note, kind):
            self.lead += seconds
            return
        lead = self.lead
        take = self._open(kind, element.line, note, **defaults)
        take.t += seconds
        take.fixed_seconds = _clamp(lead + pad + seconds, bounds)
        self._close()

    def _note_element(self, element: Element) -> None:
        for note in element.notes:
            directive = self.directives.get(id(note))
            if directive is None:
                self.before.append(f"[[{note.text}]]")
            elif isinstance(directive, ShotNote) and directive.insert:
                self._flush_est()
                self._close()
                take = self._open("insert", directive.line, directive,
                                  size=directive.size or "MCU")
                take.fixed_seconds = take.t + REACTION_S
                self._close()
            elif isinstance(directive, ShotNote) and self.manual:
                self._close()
                self._open("noted", directive.line, directive, size="MS")
                self.hold = HELD
            elif isinstance(directive, ShotNote):
                self._queue_notes([note])

    def _flush_est(self, at_end: bool = False) -> None:
        if self.est_done:
            return
        self.est_done = True
        note = self._pop(self.est_queue or [])
        if note is None and at_end:
            note = self._pop(self.queue)  # no other shot in the scene: its notes are the EST's
        if self.est_queue is not None:
            self.queue = self.est_queue + self.queue
            self.est_queue = []
        seconds = self.opening_words * ACTION_SECONDS_PER_WORD
        if self._skipped(note, "establishing"):
            self.lead += seconds
            return
        exterior = self.scene.prefix in ("EXT", "INT/EXT", "EST")
        take = self._open("establishing", self.scene.line, note, size="WS", subjects=[],
                          move="pan_right" if exterior else "zoom_in")
        take.fixed_seconds = _clamp(2.5 + seconds, EST_RANGE_S)
        self._close()

    # -- dialogue -------------------------------------------------------------------------

    def _listener(self, speaker: str, block: DialogueBlock, index: int) -> str | None:
        """Whom a line is said to: a `(to NAME)`, else whoever spoke last, else whoever
        answers it (the next line's speaker), else the first one present."""
        voices = set(self._voices(block)) | {speaker}
        to = addressee(block)
        if to:
            name = self.spellings.get(name_key(to))
            if name and name not in voices and name in self.present:
                return name
        if self.prev_speaker and self.prev_speaker not in voices \
                and self.prev_speaker in self.present:
            return self.prev_speaker
        following = next((i for i in self._after(index) if isinstance(i, DialogueBlock)), None)
        if following is not None:  # an opening line is said to whoever answers it
            answer = self._voices(following, peek=True)[0]
            if answer not in voices and answer in self.present:
                return answer
        return next((n for n in self.present if n not in voices), None)

    def _voices(self, block: DialogueBlock, peek: bool = False) -> list[str]:
        """The cast names a block speaks as: its speaker; every part of a joint cue (ANNA AND
        BEN); the scene's two principal speakers so far for BOTH; everyone present for ALL.
        Worked out once per block, when the walk reaches it (`peek` looks ahead uncached)."""
        if id(block) in self.voices:
            return self.voices[id(block)]
        group = self.casting.group_cue(block.name)
        if group is not None:
            found = self._group(group)
            names = found or [self.casting.character(block.name, block.line)]
        else:
            names = list(dict.fromkeys(self.casting.character(part, block.line)
                                       for part in self.casting.cue_parts(block.name)))
        if not peek:
            self.voices[id(block)] = names
        return names

    def _group(self, group: str) -> list[str]:
        """Who BOTH ("both") or ALL ("all") is at this point of the scene: for BOTH the two
        present who have spoken most (ties: first seen), else the first two present; for ALL
        everyone present, else everyone who has spoken."""
        if group == "all":
            return list(self.present) or list(self.said)
        order = {name: i for i, name in enumerate(self.roster)}
        pool = [n for n in self.present if n in self.said] or list(self.said)
        ranked = sorted(pool, key=lambda n: (-self.said[n], order.get(n, len(order))))[:2]
        ranked += [n for n in self.present if n not in ranked][:2 - len(ranked)]
        return ranked

    def _partner(self, index: int, block: DialogueBlock) -> DialogueBlock | None:
        """The second block of a dual-dialogue pair this block opens (marked consumed)."""
        if block.pair is None or block.cue.dual:
            return None
        for later in range(index + 1, len(self.body)):
            item = self.body[later]
            if isinstance(item, DialogueBlock):
                if item.cue.dual:
                    self.consumed.add(later)
                    return item
                return None
        return None

    def _coverage(self, block: DialogueBlock, speaker: str, listener: str | None,
                  partner: DialogueBlock | None) -> tuple[str, str, list[str], str]:
        """(kind, size, subjects, move) the grammar gives a speech."""
        if partner is not None:
            other = self._voices(partner)[0]
            if other == speaker:
                return "dual", "MCU", [speaker], "static"
            return "dual", "TWO", [speaker, other], "static"
        voices = self._voices(block)
        if audio_only(block):
            if is_voice_over(block) and speaker in self.present:
                return "voice", "MCU", [speaker], "static"
            return ("voice", "MCU", [listener], "static") if listener else \
                ("voice", "WS", [], "static")
        if len(voices) > 1:  # a joint cue: everyone who says it in one frame
            if self.casting.group_cue(block.name) == "all" and len(voices) > 2:
                return "dialogue", "WS", [], "static"
            return "dialogue", ("TWO" if len(voices) == 2 else "MWS"), voices, "static"
        if speaker in self.fresh:
            return "dialogue", "MS", [speaker], "static"
        if is_intense(block):
            return "dialogue", "CU", [speaker], "push_in"
        if speaker not in self.shown or not listener or not self.last_was_single:
            return "dialogue", "MCU", [speaker], "static"
        return "dialogue", "OTS", [listener, speaker], "static"

    def _dialogue(self, index: int, block: DialogueBlock) -> None:
        speaker = self._voices(block)[0]
        partner = self._partner(index, block)
        said = [index] + ([next(i for i in range(index + 1, len(self.body))
                                if self.body[i] is partner)] if partner is not None else [])
        arriving = [n for i in said for n in self.entrances.get(i, [])]  # `(entering)`
        self.fresh |= set(arriving)
        self._queue_notes(block.notes + (partner.notes if partner else []))
        if self.take is not None and self.hold > 0:
            self.take.enter += [n for n in arriving if n not in self.take.enter]
            self.present += [n for n in arriving if n not in self.present]
            if not self.take.lines and "listener" not in self.take.defaults:
                # a shot a note opens (a script read back) has its first speaker's listener
                # too, so eyelines come out as the automatic coverage planned them
                self.take.defaults["listener"] = self._listener(speaker, block, index)
            self._add_block(self.take, block, speaker, partner)
            self.hold -= 1
            if self.hold <= 0:
                self._close()
            self._after_block(speaker, block, partner)
            self._leave(said)
            return
        self.pending_enter += [n for n in arriving if n not in self.pending_enter]
        self._close()
        note = self._pop(self.queue)
        listener = self._listener(speaker, block, index)
        kind, size, subjects, move = self._coverage(block, speaker, listener, partner)
        self._skipped(note, kind)  # dialogue is never skipped: warns and goes on
        take = self._open(kind, block.line, note, size=size, subjects=subjects, move=move,
                          listener=listener, speaker=speaker)
        self._add_block(take, block, speaker, partner)
        if not self.manual and note is not None and note.lines and note.lines > 1:
            self.hold = note.lines - 1
        else:
            self._close()
        self._after_block(speaker, block, partner)
        self._leave(said)
        if self.take is None and not self.manual and kind == "dialogue":
            self._maybe_react(index, block, speaker, listener)

    def _leave(self, said: list[int]) -> None:
        """`(exiting)`, `(leaving)`: the speakers of the blocks at `said` walk out after their
        lines, in the next shot (as after "Anna leaves."), also when this one holds more."""
        leaving = [n for i in said for n in self.exits.get(i, [])]
        self.pending_exit += [n for n in leaving if n not in self.pending_exit]

    def _after_block(self, speaker: str, block: DialogueBlock,
                     partner: DialogueBlock | None) -> None:
        for said in [block] + ([partner] if partner else []):
            for who in self._voices(said):
                self.said[who] = self.said.get(who, 0) + 1
                if not audio_only(said):
                    self.shown.add(who)
                    self.fresh.discard(who)
        self.prev_speaker = speaker

    def _maybe_react(self, index: int, block: DialogueBlock, speaker: str,
                     listener: str | None) -> None:
        """A reaction of the listener when a question or exclamation hangs in the air: the
        speaker talks on (or the scene's talk ends) and no shot note directs otherwise."""
        spoken = [p.plain.strip() for p in block.parts if p.kind in ("dialogue", "lyrics")]
        spoken = [s for s in spoken if s]
        if not listener or not spoken or self.queue or self._note_before_dialogue(index):
            return
        last = spoken[-1]
        if not last.endswith(("?", "!", "…", "...")):
            return
        following = next((i for i in self._after(index)
                          if isinstance(i, DialogueBlock)), None)
        if following is not None and self._voices(following, peek=True)[0] != speaker:
            return
        take = self._open("reaction", block.line, None, size="MCU", subjects=[listener])
        take.moods[listener] = {"?": "thinking", "!": "surprised"}.get(last[-1], "worried")
        take.fixed_seconds = take.t + REACTION_S
        self._close()

    def _add_block(self, take: _Take, block: DialogueBlock, speaker: str,
                   partner: DialogueBlock | None) -> None:
        if not take.lines:
            take.t += LINE_LEAD_S
        start = take.t
        end = self._speak(take, block, speaker, dual=partner is not None)
        if partner is not None:
            take.t = start
            other = self._voices(partner)[0]
            end = max(end, self._speak(take, partner, other, dual=True))
        take.t = end

    def _speak(self, take: _Take, block: DialogueBlock, speaker: str, dual: bool) -> float:
        """Place a block's lines in the take; a joint cue (ANNA AND BEN, BOTH) says each line
        once per voice, all at the same moment. Returns the time after the block."""
        silent = audio_only(block)
        voices = self._voices(block)
        record: dict[str, Any] = {
            "cue": block.name, "extensions": list(block.extensions), "forced": block.cue.forced,
            "dual": bool(dual and block.cue.dual), "lines": [], "lyrics": [], "raw": [],
            "pauses": [], "tail": [], "notes": [n.text for n in block.notes
                                                if self.directives.get(id(n)) is None]}
        if self.casting.group_cue(block.name) or self.casting.joint_parts(block.name):
            record["speakers"] = voices  # every line is in `lines` once per voice, in turn
        parenthetical = ""
        for part in block.parts:
            if part.kind == "parenthetical":
                inner = part.text.strip()[1:-1].strip()
                if is_pause(inner):
                    take.t += PAUSE_S
                    record["pauses"].append([len(take.lines), part.text.strip()])
                    parenthetical = ""
                    continue
                parenthetical = inner
                found = mood(inner)
                if found:
                    take.moods.update(dict.fromkeys(voices, found))
                continue
            text = " ".join(part.plain.split())
            if not text:
                continue
            seconds = speech_seconds(text)
            record["raw"].append(part.text)
            if part.kind == "lyrics":
                record["lyrics"].append(len(take.lines))
            for voice in voices:
                record["lines"].append(len(take.lines))
                take.lines.append(PlannedLine(voice, text, round(take.t, 3), seconds,
                                              parenthetical, silent))
            take.t += seconds + LINE_GAP_S
            parenthetical = ""
        if parenthetical:
            record["tail"].append(f"({parenthetical})")
            take.t += PAUSE_S
        take.blocks.append(record)
        return take.t

    # -- finishing a shot -----------------------------------------------------------------

    def _finish(self, take: _Take) -> PlannedShot:
        note, defaults = take.note, take.defaults
        speakers = [line.speaker for line in take.lines if not line.audio_only]
        speaker = defaults.get("speaker") or (speakers[0] if speakers else None)
        size, subjects = self._framing(take, note, speaker, defaults.get("listener"))
        subjects = list(dict.fromkeys(subjects))
        move = (note.move if note and note.move else None) or defaults.get("move", "static")
        if note and note.amount is not None:
            amount = note.amount
        else:
            amount = DEFAULT_AMOUNTS.get(move, 0.2) if move != "static" else 0.0
        target = None
        if move == "track":
            target = (subjects[-1] if subjects else None) or defaults.get("target") or \
                next(iter(take.enter + take.present), None)
            if target is None:
                move, amount = "static", 0.0
        kind = take.kind
        if kind == "noted" and not self.shots and size in WIDE_SIZES and not subjects \
                and not take.lines:
            kind = "establishing"
        shot = PlannedShot(
            kind=kind, line=take.line, size=size, subjects=subjects, move=move, amount=amount,
            angle=(note.angle if note and note.angle else "eye"),
            handheld=bool(note and note.handheld), target=target, dialog=take.lines,
            prompt=take.prompt[:400], before=take.before, blocks=take.blocks, inner=take.inner,
            note=note.text if note else None, shot_id=(note.shot_id if note else None) or "",
            seed=note.seed if note else None)
        if note and note.mood:
            for name in subjects:
                take.moods[name] = note.mood
        shot.characters = self._characters(take, speakers, subjects, target,
                                           wide=size in WIDE_SIZES or not subjects)
        if take.fixed_seconds is not None:
            seconds = take.fixed_seconds
        elif take.lines:
            seconds = take.t - LINE_GAP_S + SHOT_TAIL_S
        else:
            seconds = take.t + 2.0
        shot.seconds = max(MIN_SHOT_S, seconds)
        if note and (note.seconds or note.frames):
            shot.timed = True
            shot.seconds = note.seconds or shot.seconds
            shot.frames = note.frames
        return shot

    def _framing(self, take: _Take, note: ShotNote | None, speaker: str | None,
                 listener: str | None) -> tuple[str, list[str]]:
        """Size and subjects: the grammar's, reshaped by the shot note."""
        size = take.defaults.get("size", "MS")
        subjects = [s for s in take.defaults.get("subjects", [speaker]) if s]
        if note is None:
            return size, subjects
        on_screen = set(take.present) | set(take.enter) | {
            line.speaker for line in take.lines if not line.audio_only}
        speaker = speaker if speaker in on_screen else None
        listener = listener if listener in on_screen else None
        subjects = [s for s in subjects if s in on_screen]
        other = listener or next((n for n in take.present if n != speaker), None)
        if note.over:
            return "OTS", [note.over, *note.names[:1]]
        if note.size in WIDE_SIZES and not note.names:
            return note.size, []
        if note.names:
            names = note.names
            if note.size == "OTS" and len(names) == 1:
                return "OTS", ([other] if other and other != names[0] else []) + names
            if note.size == "TWO" and len(names) == 1:
                mate = speaker if speaker != names[0] else other
                return "TWO", names + ([mate] if mate else [])
            if note.size:
                return note.size, names
            if len(names) > 1:
                return ("TWO" if len(names) == 2 else "MWS"), names
            return (size if subjects == names else "MCU"), names
        size = note.size or size
        main = speaker or (subjects[-1] if subjects else None)
        if size == "OTS":
            return size, [s for s in (other, main) if s] if main else subjects
        if size == "TWO":
            pool = [main, *subjects, listener, *take.present]
            return size, list(dict.fromkeys(s for s in pool if s and s in on_screen))[:2]
        if len(subjects) == 2 and take.defaults.get("size") in ("OTS", "TWO"):
            return size, [main] if main else subjects[-1:]
        return size, subjects

    def _characters(self, take: _Take, speakers: list[str], subjects: list[str],
                    target: str | None, wide: bool = False) -> list[dict[str, Any]]:
        listed = set(take.present)  # one pass over the scene's people per shot, no more
        names = take.present + [n for n in take.enter if n not in listed]
        listed.update(take.enter)
        for extra in dict.fromkeys([*speakers, *subjects, *([target] if target else [])]):
            if extra not in listed:
                listed.add(extra)
                names.append(extra)
                if extra not in self.present:
                    self.present.append(extra)
        limit = WIDE_SHOT_CHARACTERS if wide else CROWD_SHOT_CHARACTERS
        if len(names) > limit:
            principals = [*subjects, *speakers, *take.enter, *take.exit,
                          *([target] if target else []), take.defaults.get("listener")]
            names = self._nearest(listed, [p for p in principals if p], limit)
        if self.rank is None or len(self.rank) != len(self.roster):
            self.rank = {name: i for i, name in enumerate(self.roster)}
        order = self.rank
        names.sort(key=lambda n: order.get(n, len(order)))
        result = []
        for name in names:
            place = self.placements.get(name)
            entry: dict[str, Any] = {
                "name": name, "position": list(place.position) if place else [0.0, 3.8],
                "facing": place.facing if place else 180.0}
            action = self.postures.get(name, "stand")
            expression = take.moods.get(name, "neutral")
            if name in take.enter and place is not None and place.entry_path:
                entry["position"] = list(place.entry_path[0])
                entry["facing"] = round(place.entry_facing)
                entry["path"] = [list(p) for p in place.entry_path]
                action = "walk"
            elif name in take.exit and place is not None:
                entry["path"] = [list(p) for p in place.exit_path()]
                action = "walk"
            elif name in speakers and action == "stand":
                action = "talk"  # a seated speaker stays seated: the dialog moves the lips
            if take.enter and name not in take.enter and name not in take.moods:
                expression = "surprised"
            looks = self._eyeline(name, take, speakers)
            if looks is not None and "path" not in entry:
                entry["facing"] = looks
            entry["action"] = action
            entry["expression"] = expression
            result.append(entry)
        return result

    def _eyeline(self, name: str, take: _Take, speakers: list[str]) -> float | None:
        """Where someone outside the scene's principal pair looks in this shot: a listener at
        whoever speaks, a speaker at whoever they address (cheated to camera), so a cut
        between their single and the other's has eyelines that meet. The pair keep facing
        each other across the line; None: keep the scene's facing."""
        if name in self.line or not speakers:
            return None
        target = take.defaults.get("listener") if name == speakers[0] else speakers[0]
        if not target or target == name:
            return None
        here, there = self.placements.get(name), self.placements.get(target)
        if here is None or there is None:
            return None
        return round(cheat_to_camera(heading(here.position, there.position)))

    def _nearest(self, pool: set[str], principals: list[str], limit: int) -> list[str]:
        """At most `limit` of the names in `pool`: the principals first, then those blocked
        nearest them along the group (nearest its middle when there are no principals).
        Costs about `limit` steps per shot however large the crowd."""
        chosen = list(dict.fromkeys(p for p in principals if p in pool))[:limit]
        taken = set(chosen)
        if self.row is None:  # the scene's blocking, left to right, once per scene
            self.row = sorted(self.placements, key=lambda n: self.placements[n].position[0])
            self.row_index = {name: i for i, name in enumerate(self.row)}
        row = self.row
        anchors = [self.row_index[p] for p in chosen if p in self.row_index] or [len(row) // 2]
        if not chosen and row and row[anchors[0]] in pool:  # a wide shot of nobody in particular
            chosen.append(row[anchors[0]])
            taken.add(row[anchors[0]])
        step = 1
        while len(chosen) < limit and step < len(row):
            for anchor in anchors:
                for index in (anchor - step, anchor + step):
                    if 0 <= index < len(row) and row[index] in pool \
                            and row[index] not in taken and len(chosen) < limit:
                        chosen.append(row[index])
                        taken.add(row[index])
            step += 1
        return chosen


# --------------------------------------------------------------------------- the screenplay


def _id_prefix(scene: Scene, used: set[str]) -> str:
    if scene.number:
        number = re.sub(r"[^A-Za-z0-9._-]", "-", scene.number).strip("-._") or str(scene.index)
        prefix = "s" + (number.zfill(2) if number.isdigit() else number)
    else:
        prefix = f"s{scene.index:02d}"
    candidate, copy = prefix, 2
    while candidate in used:
        candidate, copy = f"{prefix}.{copy}", copy + 1
    used.add(candidate)
    return candidate


def _name_shots(planned: PlannedScene, casting: Casting) -> None:
    """Ids (`s03-012`), seeds and clip names (`JANE MCU`, `EST FOREST CLEARING`)."""
    scene_key = planned.id_prefix
    location = " ".join(planned.scene.location.upper().split()) or "SCENE"
    for number, shot in enumerate(planned.shots, start=1):
        shot.shot_id = shot.shot_id or f"{planned.id_prefix}-{number:03d}"
        if shot.seed is None:
            shot.seed = derive_seed(scene_key, number)
        who = [casting.label(n) for n in shot.subjects]
        if shot.kind == "establishing" and shot.size in WIDE_SIZES and not shot.subjects:
            shot.name = f"EST {location}"
        elif shot.size == "OTS" and len(who) == 2:
            shot.name = f"{who[1]} OTS"
        elif who:
            shot.name = " ".join(who) + f" {shot.size}"
        else:
            shot.name = f"{shot.size} {location}"


def _prologue(play: Screenplay, warnings: list[ParseWarning]) -> list[str]:
    text = []
    blocks = [item for item in play.prologue if isinstance(item, DialogueBlock)]
    for item in play.prologue:
        if isinstance(item, DialogueBlock):
            text.append(block_source(item, item.notes))
        else:
            text.append(element_source(item, item.notes))
    if blocks:
        warnings.append(ParseWarning(blocks[0].line, f"{len(blocks)} dialogue block(s) come "
                                     "before the first scene heading and are not in the edit; "
                                     "add a scene heading (INT. PLACE - DAY) above them"))
    return text


def plan_screenplay(play: Screenplay, casting: Casting) -> Plan:
    """Plan every scene of a parsed screenplay; raises FountainError for a bad shot note."""
    manual = (play.title_value("coverage") or "").strip().lower() == "manual"
    warnings = list(play.warnings)
    scenes: list[PlannedScene] = []
    used: set[str] = set()
    previous_time: str | None = None
    for scene in play.scenes:
        found: list[ParseWarning] = []
        planner = _ScenePlanner(scene, casting, manual, found, previous_time)
        shots = planner.plan()
        if planner.unused_notes():  # plan again without the names only they brought in
            found = []
            planner = _ScenePlanner(scene, casting, manual, found, previous_time,
                                    planner.unused_notes())
            shots = planner.plan()
        warnings += found
        set_name = casting.set_for(scene, planner.scene_notes.get("set"))
        lighting = casting.lighting_for(set_name, planner.time,
                                        planner.scene_notes.get("lighting"), scene.line)
        planned = PlannedScene(scene, set_name, lighting, planner.time, _id_prefix(scene, used))
        planned.shots = shots
        planned.placements = planner.placements
        planned.line = planner.line
        planned.after = planner.before
        _name_shots(planned, casting)
        scenes.append(planned)
        previous_time = planner.time or previous_time
    prologue = _prologue(play, warnings)
    warnings += casting.warnings
    warnings.sort(key=lambda w: (w.line is None, w.line or 0))
    return Plan(scenes, prologue, warnings, manual)
