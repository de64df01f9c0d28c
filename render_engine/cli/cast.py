"""`soloreel cast voice NAME --engine … --model … --reference …`: set a character's voice.

Rewrites cast/NAME.toml (atomically, other fields kept) after checking the result: the file
must still validate, a model folder must hold config.json and a checkpoint, a reference must be
readable audio (copied into cast/NAME/ when it lives outside the production), and an espeak or
piper voice must actually speak. Nothing is written when any check fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError
from rich.console import Console

from render_engine.atomic import atomic_path, write_text_atomic
from render_engine.audio.casting import is_model_name
from render_engine.audio.voice import VoiceError, get_engine
from render_engine.audio.wav import read_audio_any
from render_engine.bible import CastMember, Production, normalise_name, pydantic_problems
from render_engine.cli.cast_actions import register_actions
from render_engine.cli.validate import add_production_argument
from render_engine.cli.voice import production_here
from render_engine.errors import SoloreelError

ENGINES = ("espeak", "piper", "coqui")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `cast` sub-command: its `voice` action and the character actions."""
    parser = sub.add_parser("cast", help="characters: voice, workspace, dataset, LoRA, extras",
                            description="Change a cast member's settings in cast/NAME.toml, "
                            "and build leads (candidates, picks, dataset, LoRA) and extras.")
    actions = parser.add_subparsers(dest="cast_action", metavar="ACTION")
    actions.required = True
    voice = actions.add_parser(
        "voice", help="set a character's voice (engine, model, reference, pitch, speed)",
        description="Set the voice of cast/NAME.toml; only the options given change. The file "
        "is rewritten atomically, and only when the new voice checks out.")
    voice.add_argument("character")
    voice.add_argument("--engine", choices=ENGINES)
    voice.add_argument("--model", metavar="PATH|NAME",
                       help="coqui model: a folder (config.json + checkpoint), a checkpoint "
                       "file, or a release name such as tts_models/en/vctk/vits")
    voice.add_argument("--variant", help="espeak voice (en-us+f3) or piper voice (.onnx)")
    voice.add_argument("--reference", type=Path,
                       help="a WAV of the character, for voice cloning and conversion")
    voice.add_argument("--no-reference", action="store_true", help="remove the reference")
    voice.add_argument("--speaker", help="a speaker of a multi-speaker model ('' to clear)")
    voice.add_argument("--pitch", type=float, help="0–100, 50 is the voice's own")
    voice.add_argument("--speed", type=float, help="0.25–4, 1 is normal pace")
    voice.add_argument("--formant-shift", type=float, help="0.5–2, >1 a smaller speaker")
    add_production_argument(voice)
    voice.set_defaults(run=run_voice)
    register_actions(actions)


def _model_variant(model: str, production: Production) -> str:
    """The variant to store for --model: a release name as is, a path relative to the
    production when inside it, else absolute. The folder must hold a loadable layout."""
    if is_model_name(model):
        return model.strip()
    from render_engine.audio.coqui import model_source

    path = Path(model).expanduser().resolve()
    model_source(str(path))  # raises VoiceError naming what is missing
    if production.root in path.parents:
        return path.relative_to(production.root).as_posix()
    return str(path)


def _reference_entry(reference: Path, name: str, production: Production,
                     console: Console) -> tuple[str, Path | None]:
    """(value for voice.reference, file to copy in or None). The file must be readable audio;
    one outside the production is copied to cast/NAME/ so the production stays whole."""
    source = reference.expanduser().resolve()
    samples, rate = read_audio_any(source)
    if samples.size < rate * 0.5:
        raise VoiceError(f"{reference}: only {samples.size / rate:.2f} s of audio; a reference "
                         "needs a few seconds of the character speaking")
    cast_dir = production.cast_dir().resolve()
    if production.root in source.parents:
        return Path(os.path.relpath(source, cast_dir)).as_posix(), None
    target = cast_dir / name / f"voice-reference{source.suffix.lower() or '.wav'}"
    console.print(f"copying {reference} into the production as {target.relative_to(cast_dir)}",
                  markup=False)
    return f"{name}/{target.name}", target


def _check_speaks(member: CastMember) -> None:
    """An espeak or piper voice says a word (fast), so a bad variant fails now, not at render."""
    if member.voice.engine in ("espeak", "piper"):
        get_engine(member.voice.engine).synthesize("Test.", member.voice)


def run_voice(args: argparse.Namespace, console: Console) -> int:
    """Update, validate, write; print the new voice."""
    production = production_here(args)
    name = normalise_name(args.character)
    path = production.cast_dir() / f"{name}.toml"
    if not path.is_file():
        production.member(args.character)  # raises, listing the known names
        raise SoloreelError(f"cast file {path} does not exist")
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SoloreelError(f"{path}: cannot be read ({exc}); fix it first") from exc
    voice = dict(raw.get("voice") or {})
    old_engine = voice.get("engine", "espeak")
    if args.engine:
        voice["engine"] = args.engine
        if args.engine != old_engine and args.variant is None and args.model is None:
            voice.pop("variant", None)  # the old engine's voice means nothing to the new one
    if args.model is not None:
        if voice.get("engine", "espeak") != "coqui":
            raise SoloreelError("--model names a coqui model; add --engine coqui")
        variant = _model_variant(args.model, production)
        if variant != voice.get("variant") and args.speaker is None:
            voice.pop("speaker", None)  # another model's speakers are not this one's
        voice["variant"] = variant
    if args.variant is not None:
        voice["variant"] = args.variant
    copy_in: Path | None = None
    if args.no_reference:
        voice.pop("reference", None)
    elif args.reference is not None:
        voice["reference"], copy_in = _reference_entry(args.reference, name, production, console)
    if args.speaker is not None:
        voice["speaker"] = args.speaker
        if not args.speaker:
            voice.pop("speaker")
    for option, key in (("pitch", "pitch"), ("speed", "speed"),
                        ("formant_shift", "formant_shift")):
        if getattr(args, option) is not None:
            voice[key] = getattr(args, option)
    if voice.get("engine") == "coqui" and not str(voice.get("variant", "")).strip():
        raise SoloreelError("a coqui voice needs a model; pass --model PATH or a release name")
    raw["voice"] = voice
    try:
        member = CastMember.model_validate({"name": name, **raw})
    except ValidationError as exc:
        problems = "; ".join(p.line() for p in pydantic_problems(f"cast/{name}.toml", exc))
        raise SoloreelError(problems) from exc
    _check_speaks(member)
    if copy_in is not None and args.reference is not None:
        with atomic_path(copy_in) as tmp:
            shutil.copyfile(args.reference.expanduser(), tmp)
    write_text_atomic(path, tomli_w.dumps(raw))
    shown = ", ".join(f"{k} = {v!r}" for k, v in voice.items())
    console.print(f"{path.relative_to(production.root)}: voice {{{shown}}}", markup=False)
    return 0
