"""`python -m bench hooks`: what soloreel's `post_adapter_read` hooks cost a foreign read.

Installing soloreel registers hooks that run on every timeline any OTIO tool reads, so they
must cost next to nothing for timelines that are not ours. This writes a 20,000-clip `.otio`
that has nothing of soloreel (plain media paths, a vendor's metadata, a few markers), then reads
it in fresh interpreters with OTIO's plugins on (the installed entry point: our hooks run) and
off (`OTIO_DISABLE_ENTRYPOINTS_PLUGINS=1`, OTIO's documented switch), interleaved, and prints
the median of the per-round overheads (and the best of each side) with the load average.
Only the `read_from_file` call is timed (the plugin manifest is loaded before the clock
starts); the time spent inside OTIO's `hooks.run` is also
timed in the plugin run, a steadier figure on a busy machine. Target: at most 15 %.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import opentimelineio as otio

TARGET = 0.15
CLIPS = 20_000

_CHILD = """
import json, sys, time
import opentimelineio as otio
from opentimelineio import hooks as otio_hooks
manifest = otio.plugins.ActiveManifest()
hooks = list(manifest.hooks.get("post_adapter_read", []))
inside = [0.0]
plain_run = otio_hooks.run
def timed_run(hook, tl, extra_args=None):
    started = time.perf_counter()
    try:
        return plain_run(hook, tl, extra_args)
    finally:
        inside[0] += time.perf_counter() - started
otio_hooks.run = timed_run
started = time.perf_counter()
timeline = otio.adapters.read_from_file(sys.argv[1])
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "hooks": hooks, "inside": inside[0],
                  "clips": len(timeline.find_clips())}))
"""


def foreign_timeline(path: Path, clips: int = CLIPS) -> Path:
    """Write a timeline nobody would mistake for soloreel's: `clips` clips of plain footage."""
    rate = 24.0
    timeline = otio.schema.Timeline(name="someone else's feature",
                                    global_start_time=otio.opentime.RationalTime(86400, rate))
    tracks = [otio.schema.Track(name=f"V{n + 1}") for n in range(4)]
    for index in range(clips):
        span = otio.opentime.TimeRange(otio.opentime.RationalTime(index % 97, rate),
                                       otio.opentime.RationalTime(24 + index % 11, rate))
        reference = otio.schema.ExternalReference(
            target_url=f"file:///footage/reel{index // 1000:02d}/A{index:05d}_C001.mov",
            available_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, rate),
                                                    otio.opentime.RationalTime(200, rate)))
        clip = otio.schema.Clip(name=f"A{index:05d}_C001", media_reference=reference,
                                source_range=span)
        clip.metadata["Resolve_OTIO"] = {"Link Group ID": index % 5}
        if index % 50 == 0:
            clip.markers.append(otio.schema.Marker(
                name="check focus", marked_range=otio.opentime.TimeRange(
                    span.start_time, otio.opentime.RationalTime(0, rate))))
        tracks[index % len(tracks)].append(clip)
    timeline.tracks.extend(tracks)
    otio.adapters.write_to_file(timeline, str(path))
    return path


def _read_once(path: Path, plugins: bool) -> dict:
    env = dict(os.environ)
    env.pop("OTIO_PLUGIN_MANIFEST_PATH", None)
    env.pop("SOLOREEL_HOOKS", None)
    # an installed package has its bytecode compiled (pip does it); without this a checkout
    # run with PYTHONDONTWRITEBYTECODE would time compiling the hook modules on every read
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if plugins:
        env.pop("OTIO_DISABLE_ENTRYPOINTS_PLUGINS", None)
    else:
        env["OTIO_DISABLE_ENTRYPOINTS_PLUGINS"] = "1"
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True,
                         text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(path: Path, rounds: int = 5) -> dict[str, float]:
    """Read times with and without the plugins in interleaved rounds (each round reads both
    sides back to back, so a busy machine slows both alike): the best of each side, the
    median of the per-round ratios (the steadier figure under load), the best time spent
    inside the hooks, and the load average over the run."""
    best = {True: float("inf"), False: float("inf")}
    inside = float("inf")
    ratios: list[float] = []
    hooks: list[str] = []
    for _ in range(rounds):
        seconds = {}
        for plugins in (False, True):
            found = _read_once(path, plugins)
            seconds[plugins] = found["seconds"]
            best[plugins] = min(best[plugins], found["seconds"])
            if plugins:
                hooks = found["hooks"]
                inside = min(inside, found["inside"])
        ratios.append(seconds[True] / seconds[False])
    if not any(h.startswith("soloreel") for h in hooks):
        raise RuntimeError("soloreel's hooks are not registered (pip install -e . first)")
    return {"with": best[True], "without": best[False], "inside": inside,
            "overhead": best[True] / best[False] - 1.0,
            "median_overhead": statistics.median(ratios) - 1.0,
            "inside_share": inside / best[False], "load": os.getloadavg()[0]}


def main(quick: bool = False) -> dict[str, float]:
    """Write the foreign timeline, time both sides, print one line; returns the figures."""
    clips = 2_000 if quick else CLIPS
    with tempfile.TemporaryDirectory(prefix="soloreel-hooks-") as tmp:
        path = foreign_timeline(Path(tmp) / "foreign.otio", clips)
        found = measure(path, rounds=3 if quick else 9)
    verdict = ("ok" if found["median_overhead"] <= TARGET
               else f"over the {TARGET:.0%} target")
    print(f"hooks: foreign {clips}-clip .otio read in {found['with']:.3f} s with soloreel's "
          f"hooks, {found['without']:.3f} s without (best of interleaved runs); overhead "
          f"{found['median_overhead']:+.1%} median of per-round ratios, "
          f"{found['overhead']:+.1%} best to best ({verdict}); time inside the hooks "
          f"{found['inside']:.3f} s = {found['inside_share']:.1%} of the plain read; "
          f"load average {found['load']:.2f}", flush=True)
    return found


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
