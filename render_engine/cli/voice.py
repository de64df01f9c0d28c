"""`soloreel voice test|convert`: hear a character say a line, or turn a take into their voice.

`voice test jane "Pass the marshmallows."` speaks the line with Jane's voice and saves a 48 kHz
WAV and its Rhubarb-style mouth cues (JSON beside it) in the production's renders/voice-tests/
(or -o); `voice convert jane take3.wav -o line.wav` converts a recorded take, keeping its
timing. Both print the duration, the median F0 and the mouth shapes frame by frame.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from rich.console import Console

from render_engine.atomic import write_text_atomic
from render_engine.audio.casting import voice_for
from render_engine.audio.pitch import estimate_f0
from render_engine.audio.visemes import to_rhubarb_json
from render_engine.audio.voice import MouthCue, SpeechResult, get_engine, require_text
from render_engine.audio.wav import read_audio_any, write_wav
from render_engine.bible import Production, load_production
from render_engine.cli.validate import add_production_argument, production_above
from render_engine.errors import SoloreelError
from render_engine.timeline_io import production_from_env

TESTS_FOLDER = "voice-tests"
MIN_TAKE_SECONDS = 0.05
"""A take shorter than this holds no line to convert (a header-only WAV has 0 samples)."""


def production_here(args: argparse.Namespace) -> Production:
    """The production named by --production / $SOLOREEL_PRODUCTION, else the folder (or a
    parent of it) the command runs in."""
    explicit = production_from_env(args.production)
    if explicit:
        return load_production(explicit, strict=True)
    found = production_above(Path.cwd().resolve())
    if found is not None:
        return load_production(found, strict=True)
    raise SoloreelError("no production here; run inside one or pass --production DIR")


def cue_string(cues: list[MouthCue], duration: float, fps: float) -> str:
    """The mouth shape of every frame as one letter (A–H, X): a readable lip-sync track."""
    letters = []
    for frame in range(max(0, round(duration * fps))):
        t = (frame + 0.5) / fps
        letters.append(next((c.shape for c in cues if c.start <= t < c.end), "X"))
    return "".join(letters)


def _slug(text: str) -> str:
    """A short file-name part from free text."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "line"


def save_result(result: SpeechResult, output: Path) -> Path:
    """Write the WAV (48 kHz PCM) and the cues JSON beside it; returns the JSON path."""
    write_wav(output, result.samples, result.rate)
    cues_path = output.with_suffix(".json")
    write_text_atomic(cues_path, to_rhubarb_json(result.cues, output.name, result.duration))
    return cues_path


def report(console: Console, result: SpeechResult, output: Path, fps: float,
           extra: str = "") -> None:
    """Print where the files went, the duration, the F0 and the cue track."""
    f0 = estimate_f0(result.samples, result.rate)
    console.print(f"{output}  {result.duration:.2f} s  F0 {f0:.0f} Hz{extra}", markup=False)
    console.print(cue_string(result.cues, result.duration, fps), markup=False)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `voice` sub-command and its `test` and `convert` actions."""
    parser = sub.add_parser("voice", help="hear a character's voice, or convert a take to it",
                            description="Speak a line with a character's voice, or convert a "
                            "recorded take into it (timing kept).")
    actions = parser.add_subparsers(dest="voice_action", metavar="ACTION")
    actions.required = True
    test = actions.add_parser("test", help="speak a line with a character's voice",
                              description="Speak TEXT with CHARACTER's voice; save a 48 kHz "
                              "WAV and its mouth cues (JSON beside it).")
    test.add_argument("character")
    test.add_argument("text")
    test.add_argument("-o", "--output", type=Path,
                      help="WAV to write (default: renders/voice-tests/<character>-<text>.wav)")
    add_production_argument(test)
    test.set_defaults(run=run_test)
    convert = actions.add_parser("convert", help="turn a recorded take into a character's voice",
                                 description="Convert TAKE (any audio file) into CHARACTER's "
                                 "voice, keeping its timing; save a 48 kHz WAV and mouth cues.")
    convert.add_argument("character")
    convert.add_argument("take", type=Path)
    convert.add_argument("-o", "--output", type=Path,
                         help="WAV to write (default: renders/voice-tests/<character>-<take>.wav)")
    convert.add_argument("--text", default="",
                         help="what the take says, for mouth cues that follow the words")
    add_production_argument(convert)
    convert.set_defaults(run=run_convert)


def run_test(args: argparse.Namespace, console: Console) -> int:
    """Speak, save, report."""
    production = production_here(args)
    member = production.member(args.character)
    text = require_text(args.text)
    voice = voice_for(member, production)
    result = get_engine(voice.engine).synthesize(text, voice)
    output = args.output or (production.renders_dir() / TESTS_FOLDER
                             / f"{member.name}-{_slug(text)}.wav")
    save_result(result, output)
    report(console, result, output, production.settings.production.fps,
           f"  ({voice.engine} {voice.variant or 'default'})")
    return 0


def require_take(path: Path, samples: int, rate: int) -> None:
    """Refuse a take without a line in it (0 samples, or shorter than MIN_TAKE_SECONDS)
    before anything is written, naming the file."""
    seconds = samples / rate if rate > 0 else 0.0
    if seconds < MIN_TAKE_SECONDS:
        raise SoloreelError(
            f"{path}: holds {samples} sample(s) ({seconds:.3f} s) of audio; a take needs at "
            f"least {MIN_TAKE_SECONDS:g} s — record the line again or export the take with "
            "its audio")


def run_convert(args: argparse.Namespace, console: Console) -> int:
    """Convert, save, report (with the take's F0 for comparison)."""
    from render_engine.audio.conversion import convert

    production = production_here(args)
    member = production.member(args.character)
    samples, rate = read_audio_any(args.take)
    require_take(args.take, samples.size, rate)
    result = convert(samples, rate, member, production, text=args.text)
    output = args.output or (production.renders_dir() / TESTS_FOLDER
                             / f"{member.name}-{_slug(args.take.stem)}.wav")
    save_result(result, output)
    report(console, result, output, production.settings.production.fps,
           f"  (take: {len(samples) / rate:.2f} s, F0 {estimate_f0(samples, rate):.0f} Hz)")
    return 0
