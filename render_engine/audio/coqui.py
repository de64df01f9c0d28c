"""coqui-tts voices: released models by name, or a local model folder/checkpoint + config.json.

`VoiceSettings.variant` names the model: a coqui release name (`tts_models/en/vctk/vits`,
downloaded by coqui into TTS_HOME the first time, so only when the user asks for it), or a
folder holding config.json and a checkpoint (what coqui downloads, or what training writes),
or a checkpoint file with config.json beside it. Each model loads once per process.

What the voice settings do here: `reference` clones the voice with models that clone (XTTS v2,
YourTTS); `speaker` picks a voice of a multi-speaker model; `speed` drives the model's own
duration control (VITS/Glow length_scale, XTTS speed); `pitch` and `formant_shift` resize the
voice as for piper. A voice-conversion model (OpenVoice, FreeVC, kNN-VC) as the variant makes
the character speak with piper's voice converted to the reference. coqui gives no phoneme
timing, so the text's espeak phonemes are aligned to the audio (`render_engine.audio.align`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from render_engine.audio.align import align_text
from render_engine.audio.casting import is_model_name
from render_engine.audio.resample import resample
from render_engine.audio.shift import effective_factor, pitch_factor, psola, shift_voice
from render_engine.audio.voice import SpeechResult, VoiceError, get_engine, require_text
from render_engine.audio.wav import read_audio_any
from render_engine.bible import VoiceSettings

log = logging.getLogger(__name__)

CHECKPOINT_NAMES = ("model.pth", "model_file.pth", "best_model.pth", "checkpoint.pth",
                    "model.pt")
DIRECTORY_MODELS = frozenset({"xtts", "tortoise", "bark"})
"""Models whose checkpoint is the whole folder (coqui loads their several files itself)."""
VC_MODELS = frozenset({"openvoice", "freevc", "knnvc"})
PEAK = 0.95
TAIL_SECONDS = 0.05
"""Silence kept after the last sound (coqui pads every sentence with ~0.5 s)."""
DEVICE_VARIABLE = "SOLOREEL_COQUI_DEVICE"


@dataclass(frozen=True)
class ModelSource:
    """Where a coqui model comes from and what it does."""

    name: str
    """Release name, or "" for a local model."""
    checkpoint: Path | None
    """Checkpoint file, or the folder for folder models (XTTS)."""
    config: Path | None
    family: str
    """config["model"]: vits, xtts, glow_tts, openvoice, freevc… ("" for a release name)."""

    @property
    def is_vc(self) -> bool:
        """True for voice-conversion models (they convert audio, they do not read text)."""
        return self.family in VC_MODELS or self.name.startswith("voice_conversion_models/")

    @property
    def key(self) -> str:
        """Identity for the model cache."""
        return self.name or str(self.checkpoint)


def _read_config(config: Path) -> dict[str, Any]:
    """config.json as a dict; a VoiceError naming the file when it cannot be read."""
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise VoiceError(f"coqui model config {config} cannot be read ({error}); "
                         "use the config.json that came with the model") from error
    if not isinstance(data, dict):
        raise VoiceError(f"coqui model config {config} is not a JSON object")
    return data


def _family(config: dict[str, Any]) -> str:
    """The model type a config describes (OpenVoice's own format has a dict under "model")."""
    model = config.get("model")
    if isinstance(model, str):
        return model.lower()
    if isinstance(model, dict) and "sampling_rate" in (config.get("data") or {}):
        return "openvoice"
    return ""


def _checkpoint_in(folder: Path) -> Path:
    """The checkpoint file of a model folder: a conventional name, else the only one."""
    for name in CHECKPOINT_NAMES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(p for p in folder.iterdir() if p.suffix in (".pth", ".pt", ".safetensors")
                   and not p.name.startswith(("speakers", "language", "config")))
    best = [p for p in found if p.name.startswith("best_model")]
    if best:
        return best[-1]
    numbered = [(int(m.group(1)), p) for p in found
                if (m := re.fullmatch(r"checkpoint_(\d+)\.pth", p.name))]
    if numbered:
        return max(numbered)[1]
    if len(found) == 1:
        return found[0]
    if not found:
        raise VoiceError(f"coqui model folder {folder} has no checkpoint (.pth); put the "
                         "model's checkpoint beside its config.json")
    raise VoiceError(f"coqui model folder {folder} has several checkpoints "
                     f"({', '.join(p.name for p in found)}); set voice.variant to the one to use")


def model_source(variant: str) -> ModelSource:
    """Find the model `variant` names (a release name, or an absolute folder/checkpoint path)."""
    variant = variant.strip()
    if not variant:
        raise VoiceError("the coqui voice names no model; set voice.variant to a model folder "
                         "(config.json + checkpoint) or a name like tts_models/en/vctk/vits")
    if is_model_name(variant):
        return ModelSource(variant, None, None, "")
    path = Path(variant)
    if path.is_dir():
        config = path / "config.json"
        if not config.is_file():
            raise VoiceError(f"coqui model folder {path} has no config.json; copy the model's "
                             "config.json into it")
        family = _family(_read_config(config))
        checkpoint = path if family in DIRECTORY_MODELS else _checkpoint_in(path)
        return ModelSource("", checkpoint, config, family)
    if path.is_file():
        config = path.parent / "config.json"
        if not config.is_file():
            raise VoiceError(f"coqui checkpoint {path} has no config.json beside it; put the "
                             "model's config.json in the same folder")
        return ModelSource("", path, config, _family(_read_config(config)))
    raise VoiceError(
        f"coqui model {variant!r} does not exist; give a folder with config.json and a "
        "checkpoint, or a model name like tts_models/en/vctk/vits"
    )


def model_identity(variant: str) -> dict[str, Any]:
    """What identifies the model's output for caching: its name, or its files' sizes and dates.

    Cheap on purpose (a checkpoint can be gigabytes): a retrained model changes both.
    """
    try:
        source = model_source(variant)
    except VoiceError:
        return {"model": variant}
    if source.name:
        return {"model": source.name}
    files = [source.config] if source.config else []
    checkpoint = source.checkpoint
    if checkpoint is not None:
        files += sorted(p for p in checkpoint.iterdir() if p.is_file()) if checkpoint.is_dir() \
            else [checkpoint]
    identity = []
    for path in files:
        stat = path.stat()
        identity.append([path.name, stat.st_size, stat.st_mtime_ns])
    return {"model": str(checkpoint), "files": identity}


def device() -> str:
    """The torch device for coqui: $SOLOREEL_COQUI_DEVICE, else CUDA when there is a GPU."""
    chosen = os.environ.get(DEVICE_VARIABLE)
    if chosen:
        return chosen
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class _Loaded:
    """A loaded model: the coqui API object (TTS models) or the VC model, and its rates."""

    source: ModelSource
    api: Any = None
    vc: Any = None
    rate: int = 0
    input_rate: int = 0


def _import_coqui() -> None:
    """Import torch and coqui-tts, or say how to install them."""
    try:
        import torch  # noqa: F401
        from TTS.api import TTS  # noqa: F401
    except ImportError as error:
        raise VoiceError(
            f"the coqui engine needs the ML extra ({error}); install it with "
            "`pip install -e '.[ml]'` or switch voice.engine to espeak or piper"
        ) from error


def _load(source: ModelSource, where: str) -> _Loaded:
    """Load a model through coqui's own loaders (the same path its downloaded models take)."""
    _import_coqui()
    from TTS.api import TTS

    label = source.name or str(source.checkpoint)
    try:
        if source.is_vc and not source.name:
            return _load_vc(source, where)
        if source.name:
            log.warning("loading coqui model %s (coqui downloads it into TTS_HOME on first "
                        "use; that needs the network once)", source.name)
            api = TTS(source.name, progress_bar=False)
        else:
            api = TTS(model_path=str(source.checkpoint), config_path=str(source.config),
                      progress_bar=False)
        api = api.to(where)
    except VoiceError:
        raise
    except Exception as error:  # coqui raises anything: say which model and what to try
        reason = str(error).strip().splitlines()[0] if str(error).strip() else \
            type(error).__name__
        raise VoiceError(
            f"coqui model {label} could not be loaded ({reason[:300]}); check the folder "
            "holds the model's config.json and checkpoint (a release name downloads once, "
            "which needs the network)"
        ) from error
    if api.voice_converter is not None:
        converter = api.voice_converter
        rate = int(converter.output_sample_rate)
        input_rate = int(converter.vc_config.audio.get("input_sample_rate", rate))
        return _Loaded(ModelSource(source.name, None, None, "vc"), vc=converter, rate=rate,
                       input_rate=input_rate)
    return _Loaded(source, api=api, rate=int(api.synthesizer.output_sample_rate))


def _load_vc(source: ModelSource, where: str) -> _Loaded:
    """A local voice-conversion model, built and loaded as coqui's Synthesizer does."""
    from TTS.config import load_config
    from TTS.vc.models import setup_model

    if source.family == "openvoice":
        model = _openvoice(source)
    else:
        config = load_config(str(source.config))
        model = setup_model(config)
        model.load_checkpoint(config, str(source.checkpoint), eval=True)
    model = model.to(where)
    audio = model.config.audio
    rate = int(audio.get("output_sample_rate", audio.get("sample_rate", 0)))
    input_rate = int(audio.get("input_sample_rate", rate))
    return _Loaded(source, vc=model, rate=rate, input_rate=input_rate)


def _openvoice(source: ModelSource) -> Any:
    """An OpenVoice model from its own config format (as released: "data" + "model").

    coqui builds OpenVoice with its default sizes and reads only the audio settings; the
    sizes are read here too, so a model of any size (a small fine-tune, a test's) loads.
    """
    from dataclasses import fields

    from TTS.vc.configs.openvoice_config import (
        OpenVoiceArgs,
        OpenVoiceAudioConfig,
        OpenVoiceConfig,
    )
    from TTS.vc.models.openvoice import OpenVoice

    assert source.config is not None
    raw = _read_config(source.config)
    data = raw.get("data") or {}
    names = {f.name for f in fields(OpenVoiceArgs)}
    args = OpenVoiceArgs(**{k: v for k, v in (raw.get("model") or {}).items() if k in names})
    audio = OpenVoiceAudioConfig()
    if data:
        audio = OpenVoiceAudioConfig(
            input_sample_rate=data["sampling_rate"], output_sample_rate=data["sampling_rate"],
            fft_size=data["filter_length"], hop_length=data["hop_length"],
            win_length=data["win_length"])
    model = OpenVoice(OpenVoiceConfig(model_args=args, audio=audio))
    model.load_checkpoint(model.config, source.checkpoint, eval=True)
    return model


def _trim_tail(samples: np.ndarray, rate: int) -> np.ndarray:
    """Drop coqui's padding after the last sound, keeping a short natural tail."""
    sound = np.flatnonzero(np.abs(samples) > 1e-4)
    if sound.size == 0:
        return samples
    end = min(samples.size, sound[-1] + 1 + round(TAIL_SECONDS * rate))
    return samples[:end]


def _limit(samples: np.ndarray) -> np.ndarray:
    """Scale down audio that would clip; quieter audio is left alone."""
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    return samples * (PEAK / peak) if peak > PEAK else samples


def _seed(text: str, voice: VoiceSettings) -> int:
    """A seed from the line and speaker, so the same line always sounds the same (on any
    machine: no paths in it)."""
    return zlib.crc32(f"{text}\0{voice.speaker or ''}".encode())


class CoquiEngine:
    """The "coqui" engine: any coqui-tts model, loaded once per process per model."""

    name = "coqui"

    def __init__(self) -> None:
        self._models: dict[tuple[str, str], _Loaded] = {}
        self._lock = threading.RLock()

    def model(self, variant: str) -> _Loaded:
        """The loaded model `variant` names (loading it on first use)."""
        source = model_source(variant)
        where = device()
        with self._lock:
            key = (source.key, where)
            if key not in self._models:
                self._models[key] = _load(source, where)
            return self._models[key]

    # -- text to speech --------------------------------------------------------------------

    def synthesize(self, text: str, voice: VoiceSettings, *,
                   style_reference: Path | None = None) -> SpeechResult:
        """Speak `text` with the model `voice.variant` names; `style_reference` (a take in
        the line's mood) replaces the reference for cloning models."""
        text = require_text(text)
        loaded = self.model(voice.variant)
        if loaded.vc is not None:
            return self._speak_converted(text, voice, loaded)
        api = loaded.api
        model = api.synthesizer.tts_model
        config = api.synthesizer.tts_config
        rate = loaded.rate
        factor = effective_factor(rate, pitch_factor(voice.pitch) * voice.formant_shift)
        kwargs: dict[str, Any] = {}
        reference = style_reference or (Path(voice.reference) if voice.reference else None)
        cloning = bool(getattr(config, "supports_cloning", False)) or loaded.source.family in \
            DIRECTORY_MODELS
        speakers = list(api.speakers or [])
        if voice.speaker:
            if not speakers:
                raise VoiceError(f"coqui model {loaded.source.key} has a single voice; remove "
                                 f"voice.speaker ({voice.speaker!r})")
            if voice.speaker not in speakers and not (cloning and reference):
                shown = ", ".join(speakers[:12]) + (" …" if len(speakers) > 12 else "")
                raise VoiceError(f"coqui model {loaded.source.key} has no speaker "
                                 f"{voice.speaker!r}; use one of {shown}")
            kwargs["speaker"] = voice.speaker
        if cloning and reference is not None:
            if not reference.is_file():
                raise VoiceError(f"voice reference {reference} does not exist")
            kwargs["speaker_wav"] = str(reference)
            kwargs.pop("speaker", None)
        elif api.is_multi_speaker and "speaker" not in kwargs:
            if not speakers:
                raise VoiceError(f"coqui model {loaded.source.key} clones voices; set "
                                 "voice.reference to a WAV of the character")
            kwargs["speaker"] = speakers[0]
        language = "en"
        if api.is_multi_lingual:
            languages = list(api.languages or [])
            language = "en" if "en" in languages or not languages else languages[0]
            kwargs["language"] = language
        else:
            language = str(config.get("phoneme_language") or "en")
        stretch = 1.0  # time stretch still owed after synthesis (model without duration control)
        with self._lock:
            import torch

            length_scale = getattr(model, "length_scale", None)
            if loaded.source.family == "xtts":
                kwargs["speed"] = voice.speed / factor
            elif isinstance(length_scale, int | float):
                model.length_scale = float(length_scale) * factor / voice.speed
            else:
                stretch = factor / voice.speed
            devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
            try:
                with torch.random.fork_rng(devices=devices):
                    torch.manual_seed(_seed(text, voice))
                    wav = api.tts(text, split_sentences=True, **kwargs)
            except VoiceError:
                raise
            except Exception as error:
                raise VoiceError(
                    f"coqui model {loaded.source.key} failed speaking {text[:40]!r} "
                    f"({str(error)[:200] or type(error).__name__}); simplify the line or "
                    "check the voice settings"
                ) from error
            finally:
                if isinstance(length_scale, int | float):
                    model.length_scale = length_scale
        if isinstance(wav, torch.Tensor):
            wav = wav.detach().cpu().numpy()
        samples = _limit(_trim_tail(np.asarray(wav, dtype=np.float32).reshape(-1), rate))
        if samples.size == 0:
            raise VoiceError(f"coqui model {loaded.source.key} produced no audio for "
                             f"{text[:40]!r}")
        if abs(stretch - 1.0) > 1e-3:
            samples = psola(samples, rate, 1.0, stretch)
        samples = shift_voice(samples, rate, factor)
        alignment = align_text(text, samples, rate, language=espeak_language(language))
        return SpeechResult(samples=samples, rate=rate, cues=alignment.cues,
                            phonemes=alignment.phonemes)

    def _speak_converted(self, text: str, voice: VoiceSettings, loaded: _Loaded
                         ) -> SpeechResult:
        """A voice-conversion model as the voice: piper speaks, the model converts it to the
        reference; piper's phoneme timing carries over (conversion keeps timing)."""
        if not voice.reference:
            raise VoiceError(f"coqui voice-conversion model {loaded.source.key} needs "
                             "voice.reference, a WAV of the character to convert to")
        spoken = get_engine("piper").synthesize(text, VoiceSettings(engine="piper",
                                                                    speed=voice.speed))
        samples, rate = self.convert(spoken.samples, spoken.rate, voice)
        scale = (samples.size / rate) / max(spoken.duration, 1e-9)
        phones = [(p, s * scale, e * scale) for p, s, e in spoken.phonemes]
        from render_engine.audio.visemes import cues_from_phonemes

        return SpeechResult(samples=samples, rate=rate, phonemes=phones,
                            cues=cues_from_phonemes(phones, samples.size / rate))

    # -- voice conversion ------------------------------------------------------------------

    def convert(self, samples: np.ndarray, rate: int, voice: VoiceSettings
                ) -> tuple[np.ndarray, int]:
        """Convert speech to the voice of `voice.reference` with the VC model `voice.variant`
        names: (samples, rate). A VoiceError when the model is not a VC model."""
        loaded = self.model(voice.variant)
        if loaded.vc is None:
            raise VoiceError(f"coqui model {loaded.source.key} is a text-to-speech model, not "
                             "a voice-conversion model (OpenVoice, FreeVC, kNN-VC)")
        if not voice.reference or not Path(voice.reference).is_file():
            raise VoiceError("voice conversion needs voice.reference, a WAV of the character")
        import torch

        input_rate = loaded.input_rate or rate
        reference, reference_rate = read_audio_any(voice.reference)
        source = torch.from_numpy(resample(samples, rate, input_rate))
        target = torch.from_numpy(resample(reference, reference_rate, input_rate))
        with self._lock:
            try:
                output = loaded.vc.voice_conversion(source, [target])
            except Exception as error:
                raise VoiceError(
                    f"coqui voice conversion with {loaded.source.key} failed "
                    f"({str(error)[:200] or type(error).__name__})"
                ) from error
        if hasattr(output, "detach"):
            output = output.detach().cpu().numpy()
        converted = _limit(np.asarray(output, dtype=np.float32).reshape(-1))
        return converted, loaded.rate


def espeak_language(language: str) -> str:
    """The espeak voice for a coqui language code ("en" → "en-us")."""
    language = (language or "en").lower()
    return {"en": "en-us", "pt": "pt-br", "zh-cn": "cmn", "zh": "cmn"}.get(language, language)
