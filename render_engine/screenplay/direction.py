"""Reading stage directions: who an action line names, who enters, leaves or sits, what a
parenthetical asks of the face, how long words take to say.

Plain functions over text; the coverage planner decides what to do with the answers.
"""

from __future__ import annotations

import re

from render_engine.screenplay.casting import name_key
from render_engine.screenplay.model import DialogueBlock

WORDS_PER_SECOND = 160 / 60
"""Speech rate for dialog estimates (160 wpm) until real voice durations land."""
ACTION_SECONDS_PER_WORD = 0.2
"""Screen time an action line's words buy (a paragraph of 20 words plays about 4 s)."""
AUDIO_ONLY_EXTENSIONS = (
    "V.O.", "O.S.", "O.C.", "OFF", "OFF SCREEN", "OFF CAMERA", "OFF STAGE", "VOICE OVER",
    "PRELAP", "PRE LAP", "FILTERED", "FILTER", "INTERCOM", "RADIO", "PHONE", "TELEPHONE",
    "SPEAKERPHONE", "TV", "P.A.", "RECORDING", "VOICEMAIL",
)
"""Cue extensions of a voice heard without the speaker's lips on screen (compared without
dots, spaces, hyphens, apostrophes or case, `0` typed for `O` forgiven: `V.0.`, `PRE-LAP`)."""
AUDIO_DEVICES = (
    "PHONE", "TELEPHONE", "CELL", "CELLPHONE", "CELL PHONE", "MOBILE", "RADIO", "WALKIE",
    "WALKIE TALKIE", "INTERCOM", "SPEAKER", "SPEAKERPHONE", "LOUDSPEAKER", "TV", "TELEVISION",
    "P.A.", "TAPE", "RECORDING", "VOICEMAIL", "ANSWERING MACHINE", "HEADSET", "COMM", "COMMS",
    "MEGAPHONE", "BULLHORN", "EARPIECE",
)
"""What a voice comes through in an extension like `(ON THE RADIO)`, `(into radio)` or
`(OVER PHONE)`: such a line is audio only too."""

_SENTENCE_END_RE = re.compile(r"[.!?…]+(?=\s|$)")
ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "capt", "lt",
                           "sgt", "mt", "no", "vs", "rev", "hon", "gen", "col", "det", "insp"})
"""Words whose period does not end a sentence ("MRS. OKAFOR walks in")."""
_JOINER_RE = re.compile(r"^[\s,]*(?:(?:and|&)\s+)?(?:(?:the|a|an)\s+)?$", re.IGNORECASE)
_WORD_RE = re.compile(r"[^\W_][\w'’-]*")
ENTER_RE = re.compile(
    r"\b(enters?|entering|(?:walks?|comes?|steps?|strides?|bursts?|wanders?|runs?|strolls?|"
    r"hurries|hurry|limps?|marches)\s+(?:in|into|up|over)\b|arrives?|appears?|emerges?|"
    r"approaches?|returns?)", re.IGNORECASE)
EXIT_RE = re.compile(
    r"\b(exits?|leaves?|(?:walks?|goes|storms?|runs?|heads?|slips?|hurries)\s+(?:off|away|out)"
    r"\b|departs?|disappears?)", re.IGNORECASE)
SIT_RE = re.compile(r"\b(sits?|sitting|seated|sat|perched)\b", re.IGNORECASE)
LIE_RE = re.compile(r"\b(lies|lying|asleep|sleeps|sleeping)\b", re.IGNORECASE)
_PAUSE_RE = re.compile(r"^(a\s+)?(long\s+)?(beat|pause|moment|silence)s?\.?$", re.IGNORECASE)
_DIRECTION_RE = re.compile(
    r"^(to|into|on|off|re|continuing|cont|then|beat|pause|aside|sotto|reading|singing|sung|"
    r"quoting|in|under|over)\b", re.IGNORECASE)
_INTENSE_RE = re.compile(
    r"\b(whisper|shout|yell|scream|cry|cries|crying|sob|tear|furious|angr|terrif|alarm|urgent|"
    r"hiss|panic|desperat)", re.IGNORECASE)
_TO_RE = re.compile(r"^\(\s*to\s+(.+?)\s*\)$", re.IGNORECASE)
_MOVING = (r"walks?|walking|comes?|coming|steps?|stepping|strides?|striding|bursts?|bursting|"
           r"wanders?|wandering|runs?|running|strolls?|strolling|hurry|hurries|hurrying|rush|"
           r"rushes|rushing|storms?|storming|limps?|limping|march|marches|marching|slips?|"
           r"slipping|heads?|heading|stumbles?|stumbling")
PAREN_ENTER_RE = re.compile(
    r"^(?:then\s+|and\s+|as\s+(?:he|she|they|it)\s+)?(?:enters?|entering|arrives?|arriving|"
    r"(?:" + _MOVING + r")\s+in(?:side|to)?)\b", re.IGNORECASE)
"""A parenthetical clause that walks its speaker in: `(entering, dripping)`, `(enters)`,
`(walking in)`, `(bursts in)`, `(arriving)`."""
PAREN_EXIT_RE = re.compile(
    r"^(?:then\s+|and\s+|as\s+(?:he|she|they|it)\s+)?(?:exits?|exiting|leaves|leaving|"
    r"departs?|departing|(?:" + _MOVING + r")\s+(?:out|off|away))\b", re.IGNORECASE)
"""A parenthetical clause that walks its speaker out after the line: `(exiting)`,
`(leaving)`, `(walks out)`, `(heading off)`."""
MOODS = (
    ("smil", "smile"), ("grin", "grin"), ("laugh", "laugh"), ("chuckl", "laugh"),
    ("giggl", "laugh"), ("happ", "smile"), ("frown", "frown"), ("angr", "angry"),
    ("furious", "angry"), ("shout", "angry"), ("yell", "angry"), ("snap", "angry"),
    ("sad", "sad"), ("cry", "sad"), ("cries", "sad"), ("sob", "sad"), ("tear", "sad"),
    ("worr", "worried"), ("nervous", "worried"), ("anxious", "worried"), ("scared", "scared"),
    ("afraid", "scared"), ("terrif", "scared"), ("fright", "scared"), ("surpris", "surprised"),
    ("shock", "surprised"), ("stun", "surprised"), ("alarm", "alarmed"),
    ("whisper", "hushed"), ("hush", "hushed"), ("stern", "stern"), ("serious", "stern"),
    ("excit", "excited"), ("tired", "tired"), ("sleep", "tired"), ("confus", "confused"),
    ("puzzl", "confused"), ("smirk", "smirk"), ("wry", "smirk"),
)
"""Parenthetical word stems → the expression they ask for."""


def speech_seconds(text: str) -> float:
    """Estimated speaking time of a line at WORDS_PER_SECOND (at least 0.6 s)."""
    return max(0.6, len(text.split()) / WORDS_PER_SECOND)


def words(text: str) -> int:
    """How many words a piece of text has."""
    return len(text.split())


def _clauses(parenthetical: str) -> list[str]:
    """A parenthetical's comma- or semicolon-separated clauses, without the parentheses."""
    return [c.strip() for c in re.split(r"[,;]", parenthetical.strip("() \t")) if c.strip()]


def enters_in(parenthetical: str) -> bool:
    """Does a parenthetical walk its speaker in (`(entering, dripping)`, `(walking in)`)?"""
    return any(PAREN_ENTER_RE.match(clause) for clause in _clauses(parenthetical))


def exits_in(parenthetical: str) -> bool:
    """Does a parenthetical walk its speaker out after the line (`(exiting)`, `(leaving)`)?"""
    return any(PAREN_EXIT_RE.match(clause) for clause in _clauses(parenthetical))


def mood(parenthetical: str) -> str | None:
    """The expression a parenthetical asks for: a known mood (smile, angry, hushed…), the
    parenthetical itself when short and not a direction (listening), else None. Clauses
    that walk the speaker in or out (`entering`) are directions, not expressions."""
    text = parenthetical.strip("() \t").lower()
    clauses = _clauses(parenthetical)
    kept = [c for c in clauses if not PAREN_ENTER_RE.match(c) and not PAREN_EXIT_RE.match(c)]
    if len(kept) != len(clauses):
        text = ", ".join(kept).lower()
    for stem, name in MOODS:
        if re.search(r"\b" + stem, text):
            return name
    if not text or _DIRECTION_RE.match(text) or len(text.split()) > 3:
        return None
    return text


def is_pause(parenthetical: str) -> bool:
    """`(beat)`, `(pause)`, `(a long beat)`: time passes, nobody speaks."""
    return bool(_PAUSE_RE.match(parenthetical.strip("() \t")))


def is_intense(block: DialogueBlock) -> bool:
    """Whispered, shouted, wept…: a line that wants a close-up."""
    return any(_INTENSE_RE.search(p.text) for p in block.parts if p.kind == "parenthetical")


def addressee(block: DialogueBlock) -> str | None:
    """The name in a `(to JANE)` parenthetical, as written."""
    for part in block.parts:
        if part.kind == "parenthetical":
            match = _TO_RE.match(part.text.strip())
            if match:
                return match.group(1)
    return None


def _audio_key(text: str) -> str:
    """An extension or device word compared without dots, spaces, hyphens, slashes,
    apostrophes or case, a zero typed next to a letter read as O (`V.0.` → `VO`)."""
    key = re.sub(r"[\s.’'/-]", "", text).upper()
    return re.sub(r"(?<=[A-Z])0|0(?=[A-Z])", "O", key)


_AUDIO_KEYS = frozenset(_audio_key(e) for e in AUDIO_ONLY_EXTENSIONS)
_THROUGH_RE = re.compile(
    r"^(?:ON|OVER|INTO|THROUGH|THRU|VIA|FROM|IN)(?:THE|A|AN|HIS|HER|THEIR|MY|YOUR|ITS)?(?:"
    + "|".join(sorted({_audio_key(d) for d in AUDIO_DEVICES}, key=len, reverse=True)) + ")$")


def audio_only_extension(extension: str) -> bool:
    """Is a cue extension one of a voice heard, not seen speaking: V.O., O.S., O.C., PRELAP,
    FILTERED, `(ON PHONE)`, `(on the radio)`, `(into radio)`… (typos like `V.0.` forgiven)."""
    key = _audio_key(extension)
    return key in _AUDIO_KEYS or _THROUGH_RE.match(key) is not None


def audio_only(block: DialogueBlock) -> bool:
    """A block whose speaker is heard, not seen speaking (see `audio_only_extension`)."""
    return any(audio_only_extension(ext) for ext in block.extensions)


def is_voice_over(block: DialogueBlock) -> bool:
    """A V.O. (also `V.0.`, `VOICE OVER`): the picture may show the speaker, lips still."""
    return any(_audio_key(ext) in ("VO", "VOICEOVER") for ext in block.extensions)


def sentences(text: str) -> list[str]:
    """Text split after `.`, `!`, `?` and `…` (not after MR., MRS., DR.…)."""
    found, start = [], 0
    for match in _SENTENCE_END_RE.finditer(text):
        word = re.findall(r"[\w']+$", text[start:match.start()])
        if match.group() == "." and word and word[0].lower() in ABBREVIATIONS:
            continue
        found.append(text[start:match.end()])
        start = match.end()
    if text[start:].strip():
        found.append(text[start:])
    return [s for s in found if s.strip()]


def names_in(sentence: str, spellings: dict[str, str]) -> list[tuple[str, int, int]]:
    """(cast name, start, end) of every capitalised run of up to four words in one sentence
    that spells a known character ("Jane", "JANE", "Mrs. Hudson's", "UNIT 7")."""
    tokens = list(_WORD_RE.finditer(sentence))
    found = []
    index = 0
    while index < len(tokens):
        hit = None
        for length in range(min(4, len(tokens) - index), 0, -1):
            run = tokens[index:index + length]
            if not run[0].group()[0].isupper() or not all(
                    t.group()[0].isupper() or t.group()[0].isdigit() for t in run):
                continue
            spelled = " ".join(re.sub(r"['’]s$", "", t.group()) for t in run)
            name = spellings.get(name_key(spelled))
            if name is not None:
                hit = (name, run[-1].end())
                break
        if hit is None:
            index += 1
            continue
        found.append((hit[0], tokens[index].start(), hit[1]))
        while index < len(tokens) and tokens[index].start() < hit[1]:
            index += 1
    return found


def mentions(text: str, spellings: dict[str, str]) -> list[tuple[str, int, int]]:
    """(cast name, sentence index, position in the sentence) of every name in action text."""
    return [(name, number, start)
            for number, sentence in enumerate(sentences(text))
            for name, start, _end in names_in(sentence, spellings)]


def subject_of(verb: re.Pattern[str], sentence: str,
               spellings: dict[str, str]) -> list[str]:
    """Who does `verb` in a sentence: the name nearest before each match and the names joined
    to it by commas or "and" ("JOHN watches as ANN and the RANGER walk in" → ann, ranger)."""
    named = names_in(sentence, spellings)
    doers: list[str] = []
    for match in verb.finditer(sentence):
        before = [m for m in named if m[1] < match.start()]
        group = before[-1:]
        for earlier, later in zip(reversed(before[:-1]), reversed(before[1:]), strict=True):
            if not _JOINER_RE.match(sentence[earlier[2]:later[1]]):
                break
            group.insert(0, earlier)
        for name, _start, _end in group:
            if name not in doers:
                doers.append(name)
    return doers


def posture(sentence: str) -> str | None:
    """sit or lie when a sentence seats or lays its characters down."""
    if SIT_RE.search(sentence):
        return "sit"
    if LIE_RE.search(sentence):
        return "lie"
    return None
