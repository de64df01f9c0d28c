"""A generated feature-length Fountain screenplay for benchmarks: ~120 scenes, ~1,200 shots.

Scenes are drawn (deterministically) from a pool of locations, times of day, characters and
lines, so coverage varies the way a real script's does: two-handers and group scenes, seated
and standing talk, entrances and exits, long action paragraphs, whispered and shouted lines,
voice-over, dual dialogue, and scenes that return to a location with the same people.
"""

from __future__ import annotations

import random
from pathlib import Path

LOCATIONS = (
    ("INT.", "KITCHEN"), ("EXT.", "HARBOUR WALL"), ("INT.", "POLICE STATION - OFFICE"),
    ("EXT.", "FOREST CLEARING"), ("INT.", "DINER"), ("EXT.", "ROOFTOP"), ("INT.", "TRAIN"),
    ("INT.", "HOSPITAL CORRIDOR"), ("EXT.", "BEACH"), ("INT.", "LIBRARY"),
    ("EXT.", "PARKING LOT"), ("INT.", "APARTMENT - LIVING ROOM"), ("EXT.", "MARKET SQUARE"),
    ("INT.", "WAREHOUSE"), ("EXT.", "COUNTRY ROAD"), ("INT.", "CHURCH"), ("INT.", "BAR"),
    ("EXT.", "GARDEN"), ("INT.", "CAR"), ("INT.", "BASEMENT"), ("EXT.", "BRIDGE"),
    ("INT.", "CLASSROOM"), ("EXT.", "CAMPSITE"), ("INT.", "HOTEL LOBBY"),
)
TIMES = ("DAY", "NIGHT", "MORNING", "EVENING", "DUSK", "DAWN", "LATER", "CONTINUOUS")
LEADS = ("MARA", "THEO", "IRIS", "JONAH")
SUPPORT = ("DETECTIVE OKAFOR", "RUTH", "SAMUEL", "NADIA", "FELIX", "GRETA", "HUGO", "LENA",
           "MARCUS", "PRIYA", "OSCAR", "VERA", "BENNY", "CLAIRE", "DMITRI", "ELSA", "YUSUF",
           "ZOE", "KOFI", "AGNES", "RAFAEL", "TILDA", "WESLEY", "INGRID", "BARTENDER",
           "NURSE", "CONDUCTOR", "PRIEST", "FISHERMAN", "TEACHER", "GUARD", "WAITRESS",
           "DRIVER", "LIBRARIAN", "DOCTOR", "CLERK", "NEIGHBOUR", "MECHANIC", "STRANGER",
           "COURIER", "OFFICER BLAKE", "MRS. HALE", "OLD MAN", "KID")
LINES = (
    "Where were you last night?", "I told you, I was at the harbour until midnight.",
    "That's not what the ticket says.", "Then the ticket is wrong.",
    "You keep saying that, as if saying it makes it true.",
    "Pass me the keys. We're leaving before the tide turns.",
    "Nobody leaves until I know who opened the door.",
    "It was open when I got here, I swear it.",
    "Do you ever think about what happens if we're wrong about all of this?",
    "Every single day.", "Then why are we still doing it?",
    "Because somebody has to, and it was never going to be anyone else.",
    "Listen. Do you hear that?", "It's only the wind in the wires.",
    "I found the letter in the lining of his coat.",
    "Read it to me. Slowly this time.",
    "She said she would be here by six, and it's nearly eight.",
    "Trains are late. People are late. It means nothing.",
    "It means everything, and you know it.", "Fine. We wait ten more minutes.",
    "Thank you for coming back.", "I didn't have much of a choice, did I?",
    "How long have you known?", "Long enough to stop being surprised.",
    "We should call someone.", "Who would we even call at this hour?",
    "Just tell me the truth, once, and I'll never ask again.",
    "The truth is that I don't remember.", "Then try harder!",
    "Keep your voice down. The walls here are thin.",
)
PARENTHETICALS = ("(whispering)", "(shouting)", "(smiling)", "(beat)", "(in tears)",
                  "(quietly)", "(to the others)")
ACTIONS = (
    "{a} stands at the window, watching the street below.",
    "{a} and {b} sit across from each other at a small table, neither touching their food.",
    "Rain hammers the glass. {a} paces the length of the room, counting under their breath.",
    "{a} sits on the edge of the bed.",
    "A long silence. Somewhere a radio plays an old song that nobody in the room will admit "
    "to knowing, and {a} finally looks up at {b} as if seeing them for the first time tonight.",
    "{a} leans against the wall.",
)


def _speech(rng: random.Random, name: str, extension: str = "") -> str:
    cue = f"{name} {extension}".strip()
    text = " ".join(rng.choice(LINES) for _ in range(rng.choice((1, 1, 1, 2))))
    paren = rng.choice(PARENTHETICALS) + "\n" if rng.random() < 0.25 else ""
    return f"{cue}\n{paren}{text}\n"


def _scene(rng: random.Random, number: int, regulars: dict[tuple[str, str], list[str]]) -> str:
    place = LOCATIONS[rng.randrange(len(LOCATIONS))]
    time = rng.choice(TIMES) if number > 1 else "DAY"
    people = regulars.get(place)
    if people is None or rng.random() < 0.4:  # a new group for this place
        people = [rng.choice(LEADS), *rng.sample(SUPPORT, rng.choice((1, 1, 2, 3)))]
        people = list(dict.fromkeys(people))
        regulars[place] = people
    a, b = people[0], people[1]
    parts = [f"{place[0]} {place[1]} - {time}", rng.choice(ACTIONS).format(a=a.title(),
                                                                        b=b.title())]
    speakers = people[:2] if len(people) == 2 or rng.random() < 0.6 else people
    for index in range(rng.choice((5, 6, 7, 8, 9))):
        speaker = speakers[index % len(speakers)] if rng.random() < 0.8 else rng.choice(
            speakers)
        if index == 3 and len(people) > 2 and rng.random() < 0.4:
            parts.append(f"{people[-1].title()} walks in from the corridor.")
            speaker = people[-1]
        roll = rng.random()
        if roll < 0.06:
            parts.append(_speech(rng, speaker, "(V.O.)"))
        elif roll < 0.1:
            other = next(p for p in speakers if p != speaker)
            parts.append(_speech(rng, speaker) + "\n" + _speech(rng, other, "^"))
        else:
            parts.append(_speech(rng, speaker))
        if rng.random() < 0.15:
            parts.append(rng.choice(ACTIONS).format(a=speaker.title(), b=a.title()))
    if rng.random() < 0.2 and len(people) > 2:
        parts.append(f"{people[-1].title()} leaves without another word.")
    return "\n\n".join(parts) + "\n"


def feature_script(scenes: int = 120, seed: int = 7) -> str:
    """A feature-length screenplay (`scenes` scenes; ~10 shots each under automatic
    coverage), the same text for the same arguments."""
    rng = random.Random(seed)
    regulars: dict[tuple[str, str], list[str]] = {}
    head = "Title: The Long Tide\nCredit: a soloreel benchmark\nAuthor: bench\n\n"
    return head + "\n".join(_scene(rng, n, regulars) for n in range(1, scenes + 1))


def write_feature_script(path: Path, scenes: int = 120) -> Path:
    """Write `feature_script(scenes)` to `path` (folders made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(feature_script(scenes), encoding="utf-8")
    return path
