"""The README's tour runs as written, in order, on a copy of the demo — and leaves the checkout
as it was (`git status` unchanged, nothing new under timelines/).

The commands are read from README.md itself (every ```sh block from "## A five-minute tour" to
the next "## " section), so the test breaks when the README drifts from what works. Each
command runs in bash with HOME pointing at a temp folder (so `~/campfire` is a private copy) and
the test's Python environment first on PATH (what `source .venv/bin/activate` does); `cd` and
`NAME=value` lines carry over to the next commands as they would in one shell. To keep the run
short the copy is pre-painted by `build_demo` (what `soloreel demo` would paint) with small
tier sizes in its soloreel.toml; `soloreel demo ~/campfire` then finds current art, and
validates, voices, renders and conforms it like on a first run.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from render_engine.demo.production import copy_demo, is_current
from tests.conftest import REPO
from tests.test_dialog_edit import shrink_tiers

README = REPO / "README.md"

SKIPPED: dict[str, str] = {
    "soloreel voice convert jane take3.wav -o line.wav":
        "take3.wav is a take you record yourself",
    "soloreel cast voice jane --engine coqui --model path/to/model --reference jane.wav":
        "needs a coqui model folder and a recording of the voice",
    'soloreel cast new jane --from face.png --outfit "sunflower dress"':
        "face.png is your own picture",
    "soloreel cast pick jane c003 c007 ...": "picks ids from your own candidates' sheet",
    "soloreel cast train jane --steps 2000": "trains a LoRA: needs a GPU and the Wan model",
    "soloreel cast export jane --format comfyui": "exports the LoRA `cast train` made (skipped "
    "above); tests/test_cast_export.py runs it on a tiny model",
    "soloreel cast extra storekeeper --from shopkeeper.png": "shopkeeper.png is your own picture",
    "soloreel render $E --tier final --quality draft":
        "renders on a GPU with a downloaded Wan model and draft LoRA",
    "soloreel render $E --tier final": "renders on a GPU with a downloaded Wan model",
    "soloreel render $E --tier final --quality keyframe": "renders on a GPU with a downloaded "
    "Wan model; tests/test_keyframe_approval.py renders keyframes on tiny models",
    "soloreel approve $E --shots 1,3": "approves the keyframes rendered above (skipped)",
    "soloreel approve $E --shots 2 --retake": "retakes a keyframe rendered above (skipped); "
    "tests/test_keyframe_approval.py runs it",
    "soloreel comfyui check $E": "needs a running ComfyUI server and a comfyui model; "
    "tests/test_comfyui_backend.py runs it against an in-process fake server",
}
"""Tour commands that need what a test machine has not: a GPU, a model, or a file the user
brings. Everything else in the tour runs."""


def without_comment(raw: str) -> str:
    """A shell line without its trailing `# comment` (a # outside quotes after a blank), its
    blanks squeezed."""
    for match in re.finditer(r"(^|\s)#", raw):
        head = raw[:match.start()]
        try:
            shlex.split(head)
        except ValueError:  # inside a quoted string
            continue
        raw = head
        break
    return re.sub(r"\s+", " ", raw).strip()


def tour_lines(text: str) -> list[str]:
    """The shell lines of the tour: every ```sh block of the "A five-minute tour" section and
    its subsections, comments and blank lines dropped, in order."""
    start = text.index("\n## A five-minute tour")
    end = text.find("\n## ", start + 1)
    section = text[start:end if end > 0 else len(text)]
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        lines += [line for line in map(without_comment, block.splitlines()) if line]
    return lines


def git_state() -> tuple[str, str]:
    """`git status --porcelain` of the checkout, and the ignored files under timelines/."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout

    ignored = git("status", "--porcelain", "--ignored", "--untracked-files=all", "--",
                  "timelines")
    return git("status", "--porcelain", "--untracked-files=all"), ignored


def test_tour_lines_are_read_from_the_readme() -> None:
    lines = tour_lines(README.read_text(encoding="utf-8"))
    assert lines[:4] == ["source .venv/bin/activate", "soloreel demo ~/campfire",
                         "cd ~/campfire", "E=timelines/campfire.linked.otio"]
    assert {line for line in lines if line in SKIPPED} == set(SKIPPED), (
        "a skipped command is no longer in the README: update SKIPPED")
    for line in lines:
        first = line.split()[0]
        assert first in ("source", "cd", "soloreel", "otioconvert") or re.fullmatch(
            r"[A-Z_]+=\S+", line), f"the tour has a command this test cannot run: {line}"


@pytest.fixture
def home(tmp_path: Path, demo_production: Path) -> Path:
    """A HOME whose ~/campfire is a painted demo copy with small tiers (see module doc)."""
    home = tmp_path / "home"
    shutil.copytree(demo_production, home / "campfire")
    shrink_tiers(home / "campfire")
    return home


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(),
                    reason="needs a git checkout")
@pytest.mark.timeout(900)
def test_the_readme_tour_runs_and_leaves_the_checkout_alone(home: Path) -> None:
    before = git_state()
    env = dict(os.environ, HOME=str(home), COLUMNS="160", NO_COLOR="1")
    env.pop("SOLOREEL_PRODUCTION", None)
    cwd = REPO
    ran: list[tuple[str, float]] = []
    for line in tour_lines(README.read_text(encoding="utf-8")):
        if line in SKIPPED:
            continue
        words = shlex.split(line)
        if words[0] == "source":  # the test's own environment is the one to activate
            env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
            continue
        if words[0] == "cd":
            where = subprocess.run(["bash", "-c", f"{line} && pwd"], cwd=cwd, env=env,
                                   capture_output=True, text=True)
            assert where.returncode == 0, f"{line}: {where.stderr}"
            cwd = Path(where.stdout.strip())
            continue
        if "=" in words[0] and len(words) == 1:
            name, value = words[0].split("=", 1)
            env[name] = value
            continue
        started = time.monotonic()
        done = subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=600)
        ran.append((line, time.monotonic() - started))
        assert done.returncode == 0, (
            f"`{line}` (in {cwd}) exited {done.returncode}:\n{done.stdout[-3000:]}\n"
            f"{done.stderr[-3000:]}")
    assert len(ran) >= 25
    assert cwd == home / "campfire"
    linked = home / "campfire" / "timelines" / "campfire.linked.otio"
    assert linked.is_file() and (home / "campfire" / "film.mp4").is_file()
    assert (home / "myfilm" / "soloreel.toml").is_file()
    after = git_state()
    for was, now in zip(before, after, strict=True):
        changed = sorted(set(was.splitlines()) ^ set(now.splitlines()))
        assert not changed, f"the tour changed the checkout: {changed}"


def test_demo_copies_a_painted_demo(demo_production: Path, tmp_path: Path) -> None:
    source = tmp_path / "checkout" / "campfire"
    shutil.copytree(demo_production, source)
    (source / "timelines" / "campfire.linked.otio").write_text("{}")
    (source / "campfire_proxy.mp4").write_bytes(b"movie")
    (source / "registry").mkdir()
    dest = tmp_path / "mine" / "campfire"
    assert copy_demo(source, dest) is True
    assert is_current(dest)
    for gone in ("timelines/campfire.linked.otio", "campfire_proxy.mp4", "registry"):
        assert not (dest / gone).exists(), gone  # they name the source's absolute paths
    for path in demo_production.rglob("*.png"):
        assert (dest / path.relative_to(demo_production)).read_bytes() == path.read_bytes()
    assert copy_demo(source, dest) is False  # never over an existing folder
    (source / ".demo-assets").write_text("old art\n")
    assert copy_demo(source, tmp_path / "other") is False  # only current art is copied
