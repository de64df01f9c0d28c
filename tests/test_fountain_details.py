"""Details of the Fountain reader that screenwriting apps agree on: a heading right after a
boneyard, off-screen extensions, joint cues (ANNA AND BEN, BOTH, ALL), entrances and exits
written as parentheticals, emphasis across line breaks, forced cues that keep their case."""

from __future__ import annotations

from pathlib import Path

import pytest

from render_engine.bible import CastMember, LightingPreset, Plate, Production, SetSpec
from render_engine.screenplay.casting import Casting
from render_engine.screenplay.coverage import plan_screenplay
from render_engine.screenplay.edit import screenplay_to_timeline
from render_engine.screenplay.model import plain_text
from render_engine.screenplay.parser import character_cue, parse_fountain
from render_engine.screenplay.plan import Plan, PlannedShot
from render_engine.screenplay.writer import timeline_to_fountain
from render_engine.spec import read_spec, to_plain


def plan(text: str, production: Production | None = None) -> tuple[Plan, Casting]:
    play = parse_fountain(text)
    casting = Casting(production, play)
    return plan_screenplay(play, casting), casting


def shots(text: str, production: Production | None = None) -> list[PlannedShot]:
    return [shot for scene in plan(text, production)[0].scenes for shot in scene.shots]


def spoken(found: list[PlannedShot]) -> list[tuple[str, str, float]]:
    return [(line.speaker, line.text, line.start) for shot in found for line in shot.dialog]


def entry(shot: PlannedShot, name: str) -> dict:
    return next(c for c in shot.characters if c["name"] == name)


# --------------------------------------------------------------------------- boneyards

GARAGE = "INT. GARAGE - NIGHT\n\nBOB\nHi.\n"


@pytest.mark.parametrize("between", [
    "\n/* cut */\n",                      # right after the speech, no blank line
    "\n/* a cut\nscene */\n",             # a multi-line boneyard ending `*/`
    "\n\n/* cut */\n",                    # a blank line, then the boneyard
    "\n/* one */\n/* two */\n",           # two boneyards in a row
    " /* cut */\n",                       # the boneyard closes the speech's own line
])
def test_a_heading_right_after_a_boneyard_starts_a_scene(between: str) -> None:
    play = parse_fountain("INT. HOUSE - DAY\n\nBOB\nBye now." + between + GARAGE)
    assert [scene.location for scene in play.scenes] == ["HOUSE", "GARAGE"]
    assert [part.text for part in play.scenes[0].blocks[0].parts] == ["Bye now."]
    assert play.warnings == []


def test_a_heading_after_a_boneyard_ends_an_action_paragraph_too() -> None:
    play = parse_fountain("INT. HOUSE - DAY\n\nBob waves.\n/* cut */\n.FLASHBACK\n\nBob waves.\n")
    assert [scene.location for scene in play.scenes] == ["HOUSE", "FLASHBACK"]


def test_a_boneyard_inside_a_speech_still_keeps_the_speech_whole() -> None:
    play = parse_fountain("INT. HOUSE - DAY\n\nBOB\nOne.\n/* two */\nThree.\n")
    assert [part.text for part in play.scenes[0].blocks[0].parts] == ["One.\nThree."]


# --------------------------------------------------------------------------- extensions


@pytest.mark.parametrize("extension", [
    "O.S., PRELAP", "V.0.", "on the radio", "ON PHONE", "filtered", "into radio", "PRE-LAP",
    "OVER PHONE", "ON THE P.A.", "VOICE OVER", "OFF-SCREEN", "0.S.",
])
def test_off_screen_extensions_are_audio_only(extension: str) -> None:
    found = shots(f"INT. HOUSE - DAY\n\nANNA\nHello?\n\nBOB ({extension})\nUp here.\n")
    bob = [line for shot in found for line in shot.dialog if line.speaker == "bob"]
    assert [line.audio_only for line in bob] == [True]
    assert found[-1].kind == "voice"


@pytest.mark.parametrize("extension", ["CONT'D", "whispering", "ON SCREEN", "WALKING"])
def test_other_extensions_are_seen_speaking(extension: str) -> None:
    found = shots(f"INT. HOUSE - DAY\n\nANNA\nHello?\n\nBOB ({extension})\nUp here.\n")
    assert [line.audio_only for shot in found for line in shot.dialog] == [False, False]


def test_comma_separated_extensions_are_split() -> None:
    assert character_cue("BOB (O.S., PRELAP)")[:3] == ("BOB", ("O.S.", "PRELAP"), False)
    assert character_cue("@McKAY (V.O.,CONT'D) ^")[:3] == ("McKAY", ("V.O.", "CONT'D"), True)
    assert character_cue("JANE (O.S.) (CONT'D)")[1] == ("O.S.", "CONT'D")


def test_a_v_zero_is_a_voice_over_of_someone_in_the_scene() -> None:
    found = shots("INT. HOUSE - DAY\n\nANNA sits.\n\nANNA (V.0.)\nI remember.\n")
    assert (found[-1].kind, found[-1].size, found[-1].subjects) == ("voice", "MCU", ["anna"])


# --------------------------------------------------------------------------- joint cues

JOINT = """INT. HOUSE - DAY

ANNA
Hi.

BEN
Hello.

CARL
Hey.

{cue}
Together!
"""


@pytest.mark.parametrize("cue, voices", [
    ("ANNA AND BEN", ["anna", "ben"]),
    ("ANNA & BEN", ["anna", "ben"]),
    ("ANNA/BEN", ["anna", "ben"]),
    ("Anna and Ben", None),  # not a cue at all (not capitals): action
    ("ANNA, BEN AND CARL", ["anna", "ben", "carl"]),
    ("ANNA, BEN, AND CARL", ["anna", "ben", "carl"]),
    ("ALL", ["anna", "ben", "carl"]),
    ("EVERYONE", ["anna", "ben", "carl"]),
])
def test_joint_cues_speak_as_every_character_they_name(cue: str,
                                                       voices: list[str] | None) -> None:
    found, casting = plan(JOINT.format(cue=cue))
    last = next((shot for shot in found.scenes[0].shots
                 if any(line.text == "Together!" for line in shot.dialog)), None)
    if voices is None:
        assert last is None
        return
    assert last is not None
    assert [(line.speaker, line.text) for line in last.dialog] == \
        [(name, "Together!") for name in voices]
    assert len({line.start for line in last.dialog}) == 1  # said together
    assert set(casting.spellings().values()) == {"anna", "ben", "carl"}
    roster = {c["name"] for shot in found.scenes[0].shots for c in shot.characters}
    assert roster == {"anna", "ben", "carl"}


def test_both_is_the_two_who_have_spoken_most() -> None:
    text = ("INT. HOUSE - DAY\n\nANNA\nOne.\n\nBEN\nTwo.\n\nCARL\nThree.\n\nBEN\nFour.\n\n"
            "CARL\nFive.\n\nBOTH\n(smiling)\nSix.\n")
    last = shots(text)[-1]
    assert [line.speaker for line in last.dialog] == ["ben", "carl"]
    assert (last.size, last.subjects) == ("TWO", ["ben", "carl"])
    assert entry(last, "ben")["expression"] == entry(last, "carl")["expression"] == "smile"


def test_both_before_anyone_spoke_is_the_first_two_present() -> None:
    found = shots("INT. HOUSE - DAY\n\nANNA and BEN sit.\n\nBOTH\nHello.\n\nBEN\nHi.\n\n"
                  "ANNA\nHo.\n")
    assert [line.speaker for line in found[1].dialog] == ["anna", "ben"]


def test_a_name_with_and_in_it_stays_one_character() -> None:
    text = "INT. DINER - DAY\n\nSALT AND PEPPER\nSeasoning.\n\nANNA\nOh?\n\nSALT AND PEPPER\nYes.\n"
    assert {line.speaker for shot in shots(text) for line in shot.dialog} == \
        {"salt-and-pepper", "anna"}
    # only one of its parts has a cue of its own: still one character
    text = "INT. DINER - DAY\n\nSALT\nHi.\n\nSALT AND PEPPER\nSeasoning.\n"
    assert [line.speaker for shot in shots(text) for line in shot.dialog] == \
        ["salt", "salt-and-pepper"]


def test_joint_cues_make_no_cast_member_of_their_own(tmp_path: Path) -> None:
    production = Production(tmp_path)
    production.cast = {n: CastMember(name=n) for n in ("anna", "ben", "carl")}
    production.sets = {"house": SetSpec(name="house", plate=Plate(image="p.png"),
                                        lighting={"day": LightingPreset()},
                                        default_lighting="day")}
    found, casting = plan(JOINT.format(cue="ANNA AND BEN") + "\nBOTH\nAgain!\n", production)
    assert casting.suggested_cast == {} and found.warnings == []


def test_joint_cues_write_back_and_read_again_the_same() -> None:
    timeline = screenplay_to_timeline(JOINT.format(cue="ANNA & BEN") + "\nBOTH\nAgain!\n")
    dialog = [c for t in timeline.audio_tracks() for c in t.find_clips()]
    assert sorted(to_plain(c.metadata["soloreel_dialog"])["speaker"] for c in dialog
                  if to_plain(c.metadata["soloreel_dialog"])["text"] == "Together!") == \
        ["anna", "ben"]
    written = timeline_to_fountain(timeline)
    assert "ANNA & BEN\nTogether!\n" in written and written.count("Together!") == 1
    assert "BOTH\nAgain!" in written
    again = screenplay_to_timeline(written)
    specs = [read_spec(c).model_dump() for c in timeline.video_tracks()[0].find_clips()]
    assert [read_spec(c).model_dump() for c in again.video_tracks()[0].find_clips()] == specs


# --------------------------------------------------------------------------- entrances


@pytest.mark.parametrize("parenthetical", ["(entering, dripping)", "(enters)", "(walking in)",
                                           "(bursts in)", "(dripping; entering)"])
def test_an_entering_parenthetical_walks_the_speaker_in(parenthetical: str) -> None:
    text = f"INT. HOUSE - DAY\n\nANNA\nWho's there?\n\nBOB\n{parenthetical}\nIt's pouring.\n"
    found = shots(text)
    assert all("bob" not in [c["name"] for c in shot.characters] for shot in found[:2])
    entrance = found[2]
    assert (entrance.size, entrance.subjects) == ("MS", ["bob"])
    bob = entry(entrance, "bob")
    assert bob["action"] == "walk" and len(bob["path"]) == 2
    assert bob["expression"] == ("dripping" if "dripping" in parenthetical else "neutral")
    assert entry(entrance, "anna")["expression"] == "surprised"


@pytest.mark.parametrize("parenthetical", ["(exiting)", "(leaving)", "(walks out)",
                                           "(heading off, furious)"])
def test_an_exiting_parenthetical_walks_the_speaker_out_after_the_line(
        parenthetical: str) -> None:
    text = (f"INT. HOUSE - DAY\n\nANNA and BOB sit.\n\nBOB\n{parenthetical}\nBye.\n\n"
            "ANNA\nFine.\n\nANNA\nGood riddance.\n")
    found = shots(text)
    said, after, later = found[1], found[2], found[-1]
    assert said.dialog[0].speaker == "bob" and entry(said, "bob")["action"] != "walk"
    assert entry(after, "bob")["action"] == "walk"
    assert "bob" not in [c["name"] for c in later.characters]


def test_a_parenthetical_of_someone_already_speaking_is_no_entrance() -> None:
    found = shots("INT. HOUSE - DAY\n\nBOB\nHi.\n\nBOB\n(entering)\nStill me.\n")
    assert all(c["action"] != "walk" for shot in found for c in shot.characters)


# --------------------------------------------------------------------------- emphasis


def test_emphasis_spans_the_line_breaks_of_a_speech() -> None:
    text = ("INT. HOUSE - DAY\n\nBOB\n*This is\nvery* important, **so\nvery** _under\n"
            "line_ this.\n")
    assert [line.text for line in shots(text)[-1].dialog] == \
        ["This is very important, so very under line this."]


def test_emphasis_spans_the_lines_of_an_action_paragraph() -> None:
    text = "INT. HOUSE - DAY\n\nThe clock *ticks\nand ticks* on the wall. BOB waits.\n\nBOB\nHm.\n"
    assert shots(text)[0].prompt == "The clock ticks and ticks on the wall. BOB waits."


def test_emphasis_never_spans_a_blank_line() -> None:
    assert plain_text("*one\n\ntwo*") == "*one\n\ntwo*"
    assert plain_text("*one\n  \ntwo*") == "*one\n  \ntwo*"
    assert plain_text("*one\ntwo*\n\n_three_") == "one\ntwo\n\nthree"
    assert plain_text("2 \\* 3 *and\nfour*") == "2 * 3 and\nfour"


# --------------------------------------------------------------------------- labels


def test_a_forced_cue_keeps_its_case_in_clip_names() -> None:
    timeline = screenplay_to_timeline("INT. DINER - DAY\n\n@McDONALD\nHello.\n\nJANE\nHi.\n")
    names = [clip.name for clip in timeline.video_tracks()[0].find_clips()]
    assert names[1:] == ["McDONALD MCU", "JANE MCU"]
    labels = to_plain(timeline.metadata["soloreel_script"])["labels"]
    assert labels == {"mcdonald": "McDONALD", "jane": "JANE"}
    again = screenplay_to_timeline(timeline_to_fountain(timeline))
    assert [clip.name for clip in again.video_tracks()[0].find_clips()] == names
