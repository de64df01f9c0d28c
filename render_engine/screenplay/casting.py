"""Matching a screenplay's names to the production bible: speakers → cast, locations → sets,
times of day → lighting presets.

Nothing unknown is dropped: an unknown speaker keeps a bible-style name and is suggested as an
*extra* cast entry, an unknown location keeps its slug and a set stub is suggested; both are
reported as warnings (and `soloreel validate` flags them until the bible has them).
"""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata
from typing import Any

from render_engine.bible import Production, normalise_name, slugify
from render_engine.screenplay.model import DialogueBlock, ParseWarning, Scene, Screenplay

STOP_WORDS = frozenset({"the", "a", "an", "of", "and", "at", "in", "on", "to", "s"})

LIGHTING_WORDS: dict[str, tuple[str, ...]] = {
    "NIGHT": ("night", "moon", "fire", "dark"),
    "DAY": ("day", "noon", "sun", "afternoon", "morning"),
    "MORNING": ("morning", "dawn", "sunrise", "day"),
    "AFTERNOON": ("afternoon", "day", "sun"),
    "EVENING": ("evening", "dusk", "sunset", "night"),
    "DUSK": ("dusk", "sunset", "evening", "twilight"),
    "DAWN": ("dawn", "sunrise", "morning"),
}
"""Per time of day, words looked for in a set's preset names, best first."""


JOINT_SPLIT_RE = re.compile(r"\s*(?:,\s*(?:(?:and|&)\s+)?|&|/|\+|\band\b)\s*",
                            re.IGNORECASE)
"""What joins the names of a joint cue: `ANNA AND BEN`, `ANNA & BEN`, `ANNA, BEN AND CARL`,
`ANNA/BEN`, `ANNA + BEN`."""
GROUP_CUES = {"both": "both", "all": "all", "everyone": "all", "everybody": "all",
              "all of them": "all", "together": "all"}
"""Cue names (as `name_key`) that speak as several characters of the scene: BOTH (its two
principal speakers) and ALL / EVERYONE (everyone present)."""


@functools.lru_cache(maxsize=1 << 16)
def name_key(text: str) -> str:
    """How names compare: accents folded, case and punctuation ignored ("ZOË" ~ "Zoe").
    Cached: the planner asks for the same few names at every line of a scene."""
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in folded if not unicodedata.combining(c)).casefold()
    return " ".join(re.findall(r"\w+", folded.replace("'", "").replace("’", "")))


def cast_slug(text: str) -> str:
    """A bible-valid name for a written character name ("MRS. O'HARA" → "mrs-ohara"); names
    with no Latin letters (黒澤) get a stable `x-` code name."""
    ascii_part = "-".join(re.findall(r"[a-z0-9]+", name_key(text).encode("ascii", "ignore")
                                     .decode()))
    if ascii_part:
        return ascii_part
    codes = "-".join(f"{ord(c):x}" for c in name_key(text).replace(" ", "")) or "unnamed"
    return "x-" + codes


def display_from_cue(written: str) -> str:
    """A display name suggested for the bible: "ZOË" → "Zoë", forced "McCLANE" unchanged."""
    return written.title() if written == written.upper() else written


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", name_key(text)) if w not in STOP_WORDS}


class Casting:
    """Resolves a screenplay's names against a production (or slugifies them without one)."""

    def __init__(self, production: Production | None, play: Screenplay) -> None:
        self.production = production
        self.warnings: list[ParseWarning] = []
        self.suggested_cast: dict[str, dict[str, Any]] = {}
        self.suggested_sets: dict[str, dict[str, Any]] = {}
        self.sets_matched: dict[str, str] = {}
        """Location as written → set name (how scenes were matched, for the record)."""
        self._characters: dict[str, str] = {}
        self._cue_spelling: dict[str, str] = {}
        self._warned: set[str] = set()
        self._bible: dict[str, str] = {}
        """Spellings of the production's cast (as `name_key`) → cast name."""
        self._as_written: set[str] = set()
        """Cast names labelled exactly as their forced cue spells them (`@McDONALD`)."""
        if production is not None:
            for member in production.cast.values():
                for spelling in (member.name, member.name.replace("-", " "), member.display_name):
                    if spelling:
                        self._bible.setdefault(name_key(spelling), member.name)
        self._spellings: dict[str, str] = dict(self._bible)
        prologue = [item for item in play.prologue if isinstance(item, DialogueBlock)]
        self._solo: set[str] = {name_key(block.name) for block in prologue + play.blocks()}
        """Every cue name of the script (as `name_key`): the parts a joint cue may split into."""
        self._joints: dict[str, list[str] | None] = {}
        for block in play.blocks():
            for part in self.cue_parts(block.name):
                found = self.character(part, block.line)
                if block.cue.forced and part == block.name and part != part.upper() \
                        and self._cue_spelling.get(found) == " ".join(part.split()):
                    self._as_written.add(found)

    # -- characters -----------------------------------------------------------------------

    def character(self, written: str, line: int | None) -> str:
        """The cast name of a written character name (cue, note or action spelling)."""
        key = name_key(written)
        if key in self._characters:
            return self._characters[key]
        found = self._spellings.get(key)
        if found is None and self.production is not None:
            found = self._unknown_character(written, line)
        elif found is None:
            found = cast_slug(written)
        self._characters[key] = found
        self._spellings.setdefault(key, found)
        self._spellings.setdefault(name_key(found), found)
        self._cue_spelling.setdefault(found, " ".join(written.split()))
        return found

    def group_cue(self, written: str) -> str | None:
        """"both" for a BOTH cue, "all" for ALL / EVERYONE (see GROUP_CUES), else None. Who
        they are depends on the scene: the coverage planner works it out."""
        return GROUP_CUES.get(name_key(written))

    def joint_parts(self, written: str) -> list[str] | None:
        """The names of a joint cue as written (`ANNA AND BEN` → ["ANNA", "BEN"]), or None.

        A cue splits only when every part is a name the script also gives a cue of its own
        (or a character of the bible) and the whole is not itself a bible character, so a
        character named SALT AND PEPPER who only ever speaks as that stays one character.
        """
        key = name_key(written)
        if key in self._joints:
            return self._joints[key]
        parts = [p.strip() for p in JOINT_SPLIT_RE.split(written) if p and p.strip()]
        found: list[str] | None = None
        if len(parts) > 1 and key not in self._bible and all(
                name_key(p) in self._solo or name_key(p) in self._bible for p in parts):
            found = parts
        self._joints[key] = found
        return found

    def cue_parts(self, written: str) -> list[str]:
        """The names a cue speaks as that need no scene to know: its joint parts, itself, or
        nobody for a group cue (BOTH, ALL)."""
        if self.group_cue(written) is not None:
            return []
        return self.joint_parts(written) or [written]

    def _unknown_character(self, written: str, line: int | None) -> str:
        assert self.production is not None
        name = cast_slug(written)
        if name in self.production.cast:  # "MRS. O'HARA" → mrs-ohara already in the bible
            return name
        known = sorted(self.production.cast)
        guess = difflib.get_close_matches(name, known, n=1)
        hint = f'did you mean "{guess[0]}"? ' if guess else ""
        self.warnings.append(ParseWarning(
            line, f'character "{written}" is not in the cast; {hint}suggested extra: '
            f'cast/{name}.toml (known: {", ".join(known) or "none"})'))
        self.suggested_cast[name] = {"name": name, "display_name": display_from_cue(written),
                                     "role": "extra", "description": ""}
        return name

    def spellings(self) -> dict[str, str]:
        """Every known spelling (as `name_key`) → cast name: bible names, display names and
        the script's own cues. Used to read names in action lines and shot notes."""
        return dict(self._spellings)

    def label(self, cast_name: str) -> str:
        """How clip names show a character: the script's cue spelling, else the bible's."""
        if cast_name in self._cue_spelling:
            spelled = self._cue_spelling[cast_name]
            return spelled if cast_name in self._as_written else spelled.upper()
        if self.production is not None and cast_name in self.production.cast:
            return self.production.cast[cast_name].label.upper()
        return cast_name.upper()

    # -- sets and lighting ----------------------------------------------------------------

    def set_for(self, scene: Scene, explicit: tuple[str, int] | None = None) -> str:
        """The set a scene plays on: `[[set: NAME]]`, else the location's slug, one of its
        dash-separated parts, or the one set whose description holds every location word."""
        if explicit is not None:
            name = normalise_name(explicit[0])
            if self.production is not None and name not in self.production.sets:
                self._warn_once(f"set:{name}", explicit[1], f'[[set: {explicit[0]}]] names no set '
                                f'of the production; known: {self._known_sets()}')
            return name
        location = scene.location
        slug = slugify(location)
        if self.production is None:
            return slug
        sets = self.production.sets
        candidates = [slug] + [slugify(part) for part in re.split(r"\s+-\s+", location)]
        for candidate in candidates:
            if candidate in sets:
                self.sets_matched[location] = candidate
                return candidate
        words = _words(location)
        if words:
            matches = [s.name for s in sets.values()
                       if words <= _words(s.description) | _words(s.name.replace("-", " "))]
            if len(matches) == 1:
                self.sets_matched[location] = matches[0]
                return matches[0]
        guess = difflib.get_close_matches(slug, sorted(sets), n=1)
        hint = f'did you mean "{guess[0]}" (or write [[set: {guess[0]}]] in the scene)? ' \
            if guess else ""
        self._warn_once(f"loc:{slug}", scene.line, f'location "{location or "(none)"}" matches '
                        f"no set; {hint}suggested set stub: sets/{slug}.toml (known: "
                        f"{self._known_sets()})")
        self.suggested_sets.setdefault(slug, {
            "name": slug, "description": location.lower(),
            "plate": {"kind": "flat", "image": f"{slug}/plate.png"}})
        return slug

    def lighting_for(self, set_name: str, time: str | None, explicit: tuple[str, int] | None,
                     line: int) -> str | None:
        """The lighting preset for a set at a canonical time of day (see parser.time_of_day):
        `[[lighting: NAME]]`, else the set's preset named after the time, else its default."""
        set_spec = None
        if self.production is not None:
            set_spec = self.production.sets.get(set_name)
        if explicit is not None:
            if set_spec is not None and explicit[0] not in set_spec.lighting:
                self._warn_once(f"light:{set_name}:{explicit[0]}", explicit[1],
                                f'set "{set_name}" has no lighting preset "{explicit[0]}"; '
                                f"known: {', '.join(sorted(set_spec.lighting)) or 'none'}")
            return explicit[0]
        if set_spec is None:
            if set_name in self.suggested_sets and time in LIGHTING_WORDS:
                stub = self.suggested_sets[set_name]
                stub.setdefault("lighting", {})[time.lower()] = {}
                stub.setdefault("default_lighting", time.lower())
            return time.lower() if time in LIGHTING_WORDS else None
        default = set_spec.lighting_name(None)
        if time not in LIGHTING_WORDS:
            return default
        for word in LIGHTING_WORDS[time]:
            for preset in sorted(set_spec.lighting):
                if word in preset.lower():
                    return preset
        self._warn_once(f"time:{set_name}:{time}", line,
                        f'set "{set_name}" has no lighting preset for {time} (presets: '
                        f"{', '.join(sorted(set_spec.lighting)) or 'none'}); using "
                        f"{default or 'no preset'}; add one named {time.lower()} to "
                        f"sets/{set_name}.toml or write [[lighting: NAME]]")
        return default

    def _known_sets(self) -> str:
        assert self.production is not None
        return ", ".join(sorted(self.production.sets)) or "none"

    def _warn_once(self, key: str, line: int | None, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.warnings.append(ParseWarning(line, message))
