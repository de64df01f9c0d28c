"""The Fountain 1.1 parser: one small script per syntax element, read as the apps read it."""

from __future__ import annotations

import pytest

from render_engine.screenplay.errors import FountainError
from render_engine.screenplay.model import DialogueBlock, Element, plain_text
from render_engine.screenplay.parser import (
    character_cue,
    parse_fountain,
    split_heading,
    time_of_day,
)


def kinds(text: str) -> list[tuple[str, str]]:
    return [(e.kind, e.text) for e in parse_fountain(text).elements]


# --------------------------------------------------------------------------- title page


def test_title_page_keys_values_and_indented_continuations() -> None:
    play = parse_fountain(
        "Title:\n    _**BRICK & STEEL**_\n    _**FULL RETIRED**_\nCredit: Written by\n"
        "Author: Stu\nDraft date: 1/20/2012\nContact:\n\tNext Level Productions\n"
        "\t1588 Mission Dr.\n\nINT. HOUSE - DAY\n\nHi.\n")
    assert list(play.title_page) == ["Title", "Credit", "Author", "Draft date", "Contact"]
    assert play.title_page["Title"] == "_**BRICK & STEEL**_\n_**FULL RETIRED**_"
    assert play.title == "BRICK & STEEL FULL RETIRED"
    assert play.title_value("DRAFT DATE") == "1/20/2012"
    assert play.title_page["Contact"] == "Next Level Productions\n1588 Mission Dr."
    assert [e.kind for e in play.elements] == ["scene_heading", "action"]


def test_no_title_page_when_the_script_opens_with_fade_in() -> None:
    play = parse_fountain("FADE IN:\n\nEXT. ROAD - DAY\n\nA car.\n")
    assert play.title_page == {}
    assert kinds("FADE IN:\n\nEXT. ROAD - DAY\n")[0] == ("action", "FADE IN:")


# --------------------------------------------------------------------------- headings


@pytest.mark.parametrize("line, prefix", [
    ("INT. KITCHEN - DAY", "INT"), ("EXT. KITCHEN - DAY", "EXT"), ("EST. KITCHEN - DAY", "EST"),
    ("INT./EXT. CAR - DAY", "INT/EXT"), ("INT/EXT CAR - DAY", "INT/EXT"),
    ("I/E CAR - DAY", "INT/EXT"), ("int. kitchen - day", "INT"), ("EXT KITCHEN - DAY", "EXT"),
])
def test_scene_heading_prefixes(line: str, prefix: str) -> None:
    play = parse_fountain(f"{line}\n\nAction.\n")
    assert len(play.scenes) == 1
    assert play.scenes[0].prefix == prefix
    assert play.scenes[0].location.upper() in ("KITCHEN", "CAR")


def test_forced_heading_scene_numbers_and_time() -> None:
    play = parse_fountain(".FLASHBACK - 1985 #7A#\n\nAction.\n\nINT. HOUSE - MOMENTS LATER #8#\n"
                          "\nMore.\n\n...and an ellipsis starts action.\n")
    first, second = play.scenes
    assert first.heading.forced and first.heading.text == "FLASHBACK - 1985"
    assert (first.prefix, first.location, first.time, first.number) == (
        "", "FLASHBACK - 1985", None, "7A")
    assert (second.location, second.time, second.number) == ("HOUSE", "MOMENTS LATER", "8")
    assert time_of_day(second.time) == "CONTINUOUS"
    assert second.body[-1].kind == "action"


@pytest.mark.parametrize("heading, location, time", [
    ("EXT. FOREST CLEARING - NIGHT", "FOREST CLEARING", "NIGHT"),
    ("INT. HOUSE - KITCHEN - DAY", "HOUSE - KITCHEN", "DAY"),
    ("INT. HOUSE - KITCHEN", "HOUSE - KITCHEN", None),
    ("EXT. BEACH – SUNSET", "BEACH", "SUNSET"),
    ("EXT. FOREST NIGHT", "FOREST", "NIGHT"),
    ("INT. CAR - LATER THAT NIGHT", "CAR", "LATER THAT NIGHT"),
])
def test_heading_location_and_time(heading: str, location: str, time: str | None) -> None:
    _prefix, found_location, found_time, _number = split_heading(heading, False)
    assert (found_location, found_time) == (location, time)


@pytest.mark.parametrize("written, canonical", [
    ("NIGHT", "NIGHT"), ("DAY", "DAY"), ("SUNSET", "DUSK"), ("DAWN", "DAWN"),
    ("MORNING", "MORNING"), ("CONTINUOUS", "CONTINUOUS"), ("MOMENTS LATER", "CONTINUOUS"),
    ("LATER THAT NIGHT", "NIGHT"), ("SAME", "CONTINUOUS"), ("1985", None), (None, None),
])
def test_time_of_day(written: str | None, canonical: str | None) -> None:
    assert time_of_day(written) == canonical


def test_heading_needs_a_blank_line_after_it_unless_it_is_upper_case() -> None:
    lenient = parse_fountain("INT. HOUSE - DAY\nJohn walks in.\n")
    assert [e.kind for e in lenient.elements] == ["scene_heading", "action"]
    assert "blank line" in lenient.warnings[0].message and lenient.warnings[0].line == 1
    mixed = parse_fountain("Int. is short for interior\nsaid nobody.\n")
    assert [e.kind for e in mixed.elements] == ["action"] and mixed.scenes == []


# --------------------------------------------------------------------------- action


def test_action_keeps_line_breaks_indentation_and_forced_action() -> None:
    play = parse_fountain("INT. ROOM - DAY\n\nShe waits.\n\tThe clock ticks.\n    Tock.\n\n"
                          "!SCANNING THE ROOM\nnobody.\n")
    actions = [e for e in play.elements if e.kind == "action"]
    assert actions[0].text == "She waits.\n    The clock ticks.\n    Tock."
    assert actions[1].forced and actions[1].text == "SCANNING THE ROOM\nnobody."


# --------------------------------------------------------------------------- characters


@pytest.mark.parametrize("line, name, extensions, dual", [
    ("JANE", "JANE", (), False),
    ("JANE (V.O.)", "JANE", ("V.O.",), False),
    ("JANE (O.S.) (CONT'D)", "JANE", ("O.S.", "CONT'D"), False),
    ("MOM (on the phone)", "MOM", ("on the phone",), False),
    ("R2D2", "R2D2", (), False),
    ("COP #2", "COP #2", (), False),
    ("ZOË", "ZOË", (), False),
    ("@McCLANE", "McCLANE", (), False),
    ("@黒澤", "黒澤", (), False),
    ("STEEL ^", "STEEL", (), True),
    ("@McCLANE (V.O.) ^", "McCLANE", ("V.O.",), True),
])
def test_character_cues(line: str, name: str, extensions: tuple[str, ...], dual: bool) -> None:
    assert character_cue(line)[:3] == (name, extensions, dual)


@pytest.mark.parametrize("line", ["McCLANE", "黒澤", "2005", "CUT TO:", "Jane"])
def test_not_character_cues(line: str) -> None:
    assert character_cue(line) is None


def test_dialogue_parentheticals_and_cue_needs_text_after_it() -> None:
    play = parse_fountain("INT. ROOM - DAY\n\nSTEEL\n(beat)\nHello.\nSecond line.\n"
                          "(quietly)\nThird.\n\nBOOM.\n\nJANE (V.O.)\nHi.\n")
    scene = play.scenes[0]
    steel, jane = scene.blocks
    assert [(p.kind, p.text) for p in steel.parts] == [
        ("parenthetical", "(beat)"), ("dialogue", "Hello.\nSecond line."),
        ("parenthetical", "(quietly)"), ("dialogue", "Third.")]
    assert jane.name == "JANE" and jane.has_extension("VO")
    assert [e.kind for e in scene.body if isinstance(e, Element)] == ["action"]  # BOOM.


def test_two_spaces_keep_dialogue_going() -> None:
    play = parse_fountain("INT. ROOM - DAY\n\nDEALER\nTen.\n  \nTwenty.\n")
    assert play.scenes[0].blocks[0].parts[0].text == "Ten.\n\nTwenty."


def test_dual_dialogue_pairs_blocks() -> None:
    play = parse_fountain("INT. ROOM - DAY\n\nBRICK\nScrew retirement.\n\nSTEEL ^\n"
                          "Screw retirement.\n\nBRICK\nAgain.\n")
    first, second, third = play.scenes[0].blocks
    assert first.dual and second.dual and not third.dual
    assert (first.pair, second.pair, third.pair) == (1, 0, None)


def test_dual_dialogue_without_a_block_before_is_ordinary() -> None:
    play = parse_fountain("INT. ROOM - DAY\n\nSTEEL ^\nAlone.\n")
    block = play.scenes[0].blocks[0]
    assert not block.dual and not block.cue.dual
    assert "dual dialogue" in play.warnings[0].message and play.warnings[0].line == 3


def test_lyrics_in_dialogue_and_on_their_own() -> None:
    play = parse_fountain("INT. STAGE - NIGHT\n\nWONKA\n(singing)\n~Come with me\n"
                          "~and you'll be\n\n~In a world of\n~pure imagination\n")
    block = play.scenes[0].blocks[0]
    assert [(p.kind, p.text) for p in block.parts] == [
        ("parenthetical", "(singing)"), ("lyrics", "Come with me\nand you'll be")]
    standalone = [e for e in play.scenes[0].body if isinstance(e, Element)]
    assert [(e.kind, e.text) for e in standalone] == [("lyrics", "In a world of\npure imagination")]


# --------------------------------------------------------------------------- the rest


def test_transitions_forced_transitions_and_centered() -> None:
    found = kinds("INT. A - DAY\n\nHi.\n\nCUT TO:\n\n> Burn to white.\n\n>THE END<\n\n"
                  "> INTERMISSION <\n\nCUT TO:\nnot a transition\n")
    assert found[2:5] == [("transition", "CUT TO:"), ("transition", "Burn to white."),
                          ("centered", "THE END")]
    assert found[5] == ("centered", "INTERMISSION")
    assert found[6][0] == "action"  # no blank line after: just action


def test_sections_synopses_and_page_breaks() -> None:
    play = parse_fountain("# ACT I\n\n## Sequence\n\n= They meet.\n\n===\n\nINT. A - DAY\n\n"
                          "= The scene's synopsis.\n\n====\n")
    sections = [e for e in play.elements if e.kind == "section"]
    assert [(s.text, s.depth) for s in sections] == [("ACT I", 1), ("Sequence", 2)]
    assert play.count("synopsis") == 2 and play.count("page_break") == 2
    assert len(play.prologue) == 4 and len(play.scenes[0].body) == 2


def test_notes_inline_standalone_and_across_lines() -> None:
    play = parse_fountain("INT. A - DAY\n\nHe opens the door. [[Is it locked?]]\n\n"
                          "[[A note\non two lines]]\n\n[[kept\n  \ngoing]]\n\nJANE\n"
                          "[[inside the block]]\nHello. [[inline]]\n")
    assert [n.text for n in play.notes] == ["Is it locked?", "A note\non two lines",
                                            "kept\n\ngoing", "inside the block", "inline"]
    assert [n.line for n in play.notes] == [3, 5, 8, 13, 14]
    action = play.scenes[0].body[0]
    assert action.text == "He opens the door." and action.notes[0].text == "Is it locked?"
    block = play.scenes[0].blocks[0]
    assert block.parts[0].text == "Hello." and [n.text for n in block.notes] == [
        "inside the block", "inline"]
    assert play.count("note") == 2  # the two standalone ones


def test_unclosed_note_is_text_and_a_blank_line_ends_a_note() -> None:
    play = parse_fountain("INT. A - DAY\n\nSee [[this\n\nthat]] here.\n")
    assert play.notes == []
    assert [e.text for e in play.elements if e.kind == "action"] == ["See [[this", "that]] here."]


def test_boneyard_is_removed_inline_and_across_lines() -> None:
    play = parse_fountain("INT. A - DAY\n\nKeep /* cut */this.\n\n/*\nINT. OLD - DAY\n\nGone.\n"
                          "*/\n\nJANE\n/* an old line */\nNew line.\n")
    assert play.boneyards == 3
    assert [e.text for e in play.elements if e.kind == "action"] == ["Keep this."]
    assert len(play.scenes) == 1
    assert play.scenes[0].blocks[0].parts[0].text == "New line."
    assert play.scenes[0].blocks[0].parts[0].line == 13  # line numbers survive the cut


def test_unclosed_boneyard_is_an_error_with_its_line() -> None:
    with pytest.raises(FountainError, match=r"line 3: .*never closed") as caught:
        parse_fountain("INT. A - DAY\n\n/* forgot\n\nJANE\nHi.\n")
    assert caught.value.line == 3


def test_binary_input_is_an_error_with_its_line() -> None:
    with pytest.raises(FountainError, match="binary") as caught:
        parse_fountain("INT. A - DAY\n\nabc\x00def\n")
    assert caught.value.line == 3


@pytest.mark.parametrize("written, plain", [
    ("*italic* and **bold** and ***both***", "italic and bold and both"),
    ("_underlined_ words", "underlined words"),
    ("a _**mix**_ here", "a mix here"),
    ("2 \\* 3 \\_ 4", "2 * 3 _ 4"),
    ("a lone * star", "a lone * star"),
    ("*not closed", "*not closed"),
])
def test_emphasis_is_dropped_from_plain_text(written: str, plain: str) -> None:
    assert plain_text(written) == plain


def test_crlf_bom_tabs_and_control_characters() -> None:
    text = "\ufeffTitle: T\r\n\r\nINT. A - DAY\r\n\r\n\tIndented\x07 action.\r\n\r\nJANE\r\nHi.\r\n"
    play = parse_fountain(text)
    assert play.title == "T"
    assert play.scenes[0].body[0].text == "    Indented action."
    assert isinstance(play.scenes[0].body[1], DialogueBlock)
    assert parse_fountain(text.replace("\r\n", "\r")).scenes[0].blocks[0].parts[0].text == "Hi."


def test_dialogue_before_the_first_heading_is_prologue() -> None:
    play = parse_fountain("JANE\nHello?\n\nINT. A - DAY\n\nQuiet.\n")
    assert isinstance(play.prologue[0], DialogueBlock)
    assert len(play.scenes) == 1 and play.scenes[0].blocks == []


def test_empty_and_whitespace_scripts_parse_to_nothing() -> None:
    for text in ("", "\n\n", "   \n\t\n", "\ufeff"):
        play = parse_fountain(text)
        assert play.elements == [] and play.scenes == [] and play.title_page == {}
