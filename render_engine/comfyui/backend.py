"""Render one shot's final on a ComfyUI server and hand its frames back to the final tier.

Per job: read the model's workflow (`models.NAME.workflow`), read the server's `/object_info`
and check the workflow against it (`check.check_workflow`: a missing node class or model file
stops the job before anything is queued), make only the inputs the workflow's titles ask for
(pose / inpaint control videos and masks as MP4 at 16 fps, reference images and the i2v
keyframe as PNG, each character's dialog as WAV), upload them (`POST /upload/image`), fill the
workflow (`workflow.bind`), connect the websocket, `POST /prompt`, and follow the prompt:
per-node `executing` and per-step `progress` messages feed the shot's progress bar and every
listener registered with `add_progress_listener` (the render queue's ETA). `execution_error`
becomes a ComfyError naming the shot, the node (id, class, title) and the server's message;
Ctrl-C sends `POST /interrupt` for the prompt. A dropped server (restart, crash) is waited for
and the prompt looked up again: finished → its outputs are used, still queued → followed, lost
(ComfyUI's queue lives in memory) → queued again, up to `RETRIES` times.

The outputs of the `soloreel:output` node (`/history/{id}` → `/view`) are decoded (animated
WebP/GIF/PNG through Pillow, MP4/WebM through PyAV) and returned for the tier to retime,
crop and encode like a diffusers final; the manifest records the
workflow's bytes, the filled values, the uploads, the outputs and the node definitions used
(`check.node_versions`), whose digest with the workflow's sha256 is also in the cache key
(`cache_inputs`). The output is taken to span the frames asked for (`output_rate`: 16 fps,
or 32 fps when an interpolating workflow doubles them).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from render_engine.atomic import write_text_atomic
from render_engine.comfyui.check import check_workflow, node_versions, versions_digest
from render_engine.comfyui.client import ComfyClient, ComfyError, FileRef, ServerLost
from render_engine.comfyui.workflow import (
    Bound,
    Values,
    Workflow,
    bind,
    load_workflow,
    resolve_workflow,
)

URL_ENVIRONMENT = "SOLOREEL_COMFYUI_URL"
"""Overrides `models.NAME.url` for the renders of this process: a render-queue worker per
ComfyUI server (several servers = several workers, each started with its own URL)."""
RETRIES = 2
"""How many times a prompt lost to a server restart is queued again."""
RESTART_WAIT = 120.0
"""Seconds to wait for a dropped server to answer again before the shot fails."""
POLL = 5.0
"""Seconds without a websocket message before /history is asked directly."""
OBJECT_INFO_TIMEOUT = 3.0
"""Seconds the cache key waits for /object_info (a server that is off answers at once)."""
VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".avi")


@dataclass(frozen=True)
class ComfyProgress:
    """One progress report of a ComfyUI job: the node running and its steps, and the job's
    share done (nodes finished or cached out of the graph's, the running node's steps
    counted in)."""

    shot: str
    prompt_id: str
    node: str | None
    node_class: str | None
    value: int
    max: int
    fraction: float


ProgressListener = Callable[[ComfyProgress], None]
_LISTENERS: list[ProgressListener] = []
_LOCK = threading.Lock()


def add_progress_listener(listener: ProgressListener) -> Callable[[], None]:
    """Call `listener` with every ComfyProgress of every ComfyUI job in this process (the
    render queue's ETA); returns the function that removes it."""
    with _LOCK:
        _LISTENERS.append(listener)

    def remove() -> None:
        with _LOCK, contextlib.suppress(ValueError):
            _LISTENERS.remove(listener)

    return remove


def _notify(event: ComfyProgress) -> None:
    with _LOCK:
        listeners = list(_LISTENERS)
    for listener in listeners:
        listener(event)


# --------------------------------------------------------------------------- object_info


def _snapshot_path(root: Path, url: str) -> Path:
    return root / "renders" / ".comfyui" / (
        f"object_info-{hashlib.sha256(url.encode()).hexdigest()[:12]}.json")


_SEEN: dict[str, dict[str, Any]] = {}
_UNREACHABLE: set[str] = set()


def server_object_info(client: ComfyClient, root: Path, fresh: bool = False,
                       timeout: float | None = None) -> dict[str, Any] | None:
    """The server's /object_info (asked once per process unless `fresh`), kept as a snapshot
    in the production (`renders/.comfyui/`) so cache keys stay the same while the server is
    off; None when the server is off and no snapshot exists."""
    if not fresh and client.url in _SEEN:
        return _SEEN[client.url]
    path = _snapshot_path(root, client.url)
    try:
        if not fresh and client.url in _UNREACHABLE:  # asked once per process, not per shot
            raise ServerLost(client.url)
        info = client.object_info(timeout)
    except ServerLost:
        _UNREACHABLE.add(client.url)
        if path.is_file():
            with contextlib.suppress(OSError, ValueError):
                return json.loads(path.read_text())
        return None
    _SEEN[client.url] = info
    _UNREACHABLE.discard(client.url)
    text = json.dumps(info, sort_keys=True)
    with contextlib.suppress(OSError):
        if not path.is_file() or path.read_text() != text:
            write_text_atomic(path, text)
    return info


def cache_inputs(root: Path, name: str, entry: Any) -> dict[str, Any]:
    """What a comfyui model adds to a final's content hash: the workflow's sha256 and the
    digest of the server's definitions of the node classes it uses (`unknown` while the
    server is off and never seen)."""
    try:
        flow = load_workflow(resolve_workflow(root, entry.workflow or ""))
    except (ComfyError, OSError) as exc:
        return {"workflow": entry.workflow, "error": str(exc)[:200]}
    client = ComfyClient(entry.url or "", model=name)
    info = server_object_info(client, root, timeout=OBJECT_INFO_TIMEOUT)
    return {"workflow_sha256": hashlib.sha256(flow.data).hexdigest(),
            "nodes": versions_digest(node_versions(info, flow.classes)) if info else "unknown"}


def model_problem(production: Any, name: str) -> str | None:
    """What stops a comfyui model from rendering, for `validate` and the final dry run
    (`final.plan.model_folder_problem`): a missing or malformed workflow, or — when the
    server answers — missing node classes, model files or unbound titles. An unreachable
    server is no problem here (validating on a laptop away from the GPU box is normal; the
    render and `soloreel comfyui check` say it)."""
    entry = production.settings.models[name]
    try:
        flow = load_workflow(resolve_workflow(production.root, entry.workflow or ""))
        client = ComfyClient(entry.url or "", model=name)
    except ComfyError as exc:
        return f'model "{name}": {exc}'
    if client.url not in _SEEN:  # only a server this process has already reached, or can
        server_object_info(client, production.root, timeout=OBJECT_INFO_TIMEOUT)
    info = _SEEN.get(client.url)
    if info is None:
        return None
    report = check_workflow(flow, info, client.url)
    if report.ok:
        return None
    return (f'model "{name}": workflow {flow.path.name} cannot run on {client.url}: '
            + "; ".join(report.lines()[:4]) + " (soloreel comfyui check lists all)")


# --------------------------------------------------------------------------- inputs


def _encode_mp4(frames: list[np.ndarray], fps: int) -> bytes:
    """Frames (RGB or grey uint8) as an H.264 MP4 in memory (PyAV), yuv444 keeps masks and
    skeleton colours sharp."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        first = frames[0]
        stream.height, stream.width = first.shape[:2]
        stream.pix_fmt = "yuv444p"
        stream.options = {"crf": "12"}
        for frame in frames:
            rgb = np.repeat(frame[..., None], 3, axis=2) if frame.ndim == 2 else frame[..., :3]
            for packet in stream.encode(av.VideoFrame.from_ndarray(
                    np.ascontiguousarray(rgb), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def _encode_png(image: Any) -> bytes:
    from PIL import Image

    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _encode_wav(samples: np.ndarray, rate: int) -> bytes:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def job_values(job: Any, plan: Any, flow: Workflow, client: ComfyClient, total: int
               ) -> tuple[Values, dict[str, str]]:
    """Make and upload only the inputs the workflow binds; (values, slot → uploaded name).
    Uploaded names carry the shot id and a content digest, so two shots never share one."""
    from render_engine.audio.dialog import RATE, mix_dialog, spoken_lines
    from render_engine.final import inputs as conditioning
    from render_engine.final.latents import WAN_FPS
    from render_engine.final.plan import shot_characters

    prompt, negative = conditioning.build_prompt(job, plan)
    cast = [m.name for m in shot_characters(job.spec, job.production)]
    values = Values(simple={"prompt": prompt, "negative": negative, "seed": plan.seed,
                            "width": plan.width, "height": plan.height, "frames": total,
                            "fps": WAN_FPS, "steps": plan.denoise_steps},
                    characters={name.lower() for name in cast},
                    cast=[name.lower() for name in cast],
                    output_prefix=f"soloreel/{job.spec.shot.id}")
    uploads: dict[str, str] = {}

    def upload(slot: str, data: bytes, suffix: str) -> None:
        digest = hashlib.sha256(data).hexdigest()[:12]
        ref = client.upload(f"{job.spec.shot.id}-{slot.replace(':', '-')}-{digest}{suffix}",
                            data)
        values.files[slot] = ref
        uploads[slot] = ref.annotated

    wanted = {slot.name for slots in flow.slots.values() for slot in slots}
    wanted |= {f"{slot.kind}:{values.who(slot)}" for slots in flow.slots.values()
               for slot in slots if slot.character and values.who(slot)}
    proxy = conditioning.proxy_entry(job)
    control = None
    if wanted & {"pose_video", "control_video", "mask_video"}:
        control = conditioning.control_video(job, plan, total, proxy).frames
    if "pose_video" in wanted and control is not None:
        upload("pose_video", _encode_mp4(control, WAN_FPS), ".mp4")
    if wanted & {"control_video", "mask_video"} and control is not None:
        masks = conditioning.pose_masks(control)
        if "control_video" in wanted:
            context = (conditioning.source_video(job, plan, total, proxy) if proxy is not None
                       else [conditioning.plate_image(job, plan.width, plan.height)] * total)
            grey = np.full_like(context[0], 127)
            upload("control_video", _encode_mp4(
                [np.where(m[..., None] > 0, grey, c) for c, m in zip(context, masks,
                                                                      strict=True)],
                WAN_FPS), ".mp4")
        if "mask_video" in wanted:
            upload("mask_video", _encode_mp4(masks, WAN_FPS), ".mp4")
    if "start_image" in wanted:
        upload("start_image", _encode_png(conditioning.keyframe(job, plan, proxy)[0]), ".png")
    lines = None
    for name in cast:
        key = name.lower()
        if f"reference:{key}" in wanted:
            images = conditioning.member_images(job, name)
            if images:
                upload(f"reference:{key}", _encode_png(images[0]), ".png")
        if f"audio:{key}" in wanted:
            if lines is None:
                lines = spoken_lines(job.spec, job.production, job.label)
            own = [line for line in lines if line.speaker.lower() == key]
            track = mix_dialog(own, job.shot_seconds(0), job.frame_count / job.fps)
            upload(f"audio:{key}", _encode_wav(track, RATE), ".wav")
    for use in plan.loras:
        values.loras[use.name.lower()] = (Path(use.path).name, use.weight)
    return values, uploads


# --------------------------------------------------------------------------- running


@dataclass
class Outcome:
    """A finished prompt: its id, its history entry and how it went."""

    prompt_id: str
    history: dict[str, Any]
    retries: int = 0
    events: int = 0
    nodes_run: list[str] = field(default_factory=list)


def _error_message(data: dict[str, Any], graph: dict[str, Any], label: str) -> str:
    node_id = str(data.get("node_id", "?"))
    title = (graph.get(node_id, {}).get("_meta") or {}).get("title") or ""
    title = "" if title == data.get("node_type") else title
    message = str(data.get("exception_message", "")).strip().splitlines()
    return (f"{label}: ComfyUI failed in node {node_id} ({data.get('node_type', '?')}"
            f"{f' {title!r}' if title else ''}): {data.get('exception_type', 'error')}: "
            f"{message[-1] if message else 'no message'}; fix the node's inputs or models in "
            "the workflow (soloreel comfyui check) and render again")


def _interrupted_message(data: dict[str, Any], label: str) -> str:
    return (f"{label}: ComfyUI interrupted the prompt in node {data.get('node_id', '?')} "
            f"({data.get('node_type', '?')}); render again to restart it")


def _wait_for_server(client: ComfyClient, deadline: float) -> None:
    while True:
        try:
            client.get_json("/queue", timeout=2.0)
            return
        except ServerLost:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def run_prompt(client: ComfyClient, graph: dict[str, Any], label: str,
               on_progress: Callable[[str, str | None, int, int, float], None],
               retries: int = RETRIES, restart_wait: float = RESTART_WAIT,
               poll: float = POLL) -> Outcome:
    """Queue `graph` and follow it to the end (see the module docstring); the history entry.
    `on_progress(prompt_id, node, value, max, fraction)` is called per node start and step."""
    prompt_id: str | None = None
    outcome_retries = events = 0
    done: set[str] = set()
    total = max(1, len(graph))
    node: str | None = None
    while True:
        try:
            messages = client.messages(poll)
            try:
                if prompt_id is None:
                    first = next(messages)  # connected before queueing: no message is missed
                    prompt_id = client.queue_prompt(graph)
                    pending: list[dict[str, Any] | None] = [first]
                else:
                    pending = [None]  # back after a drop: ask the history first
                finished = False
                for message in _chain(pending, messages):
                    if message is None:
                        if client.history(prompt_id):
                            finished = True
                            break
                        continue
                    data = message.get("data") or {}
                    if data.get("prompt_id") not in (None, prompt_id):
                        continue
                    kind = message.get("type")
                    events += 1
                    if kind == "execution_cached":
                        done.update(str(n) for n in data.get("nodes", []))
                    elif kind == "executing":
                        if node is not None:
                            done.add(node)
                        node = data.get("node")
                        if node is None and data.get("prompt_id") == prompt_id:
                            finished = True
                            break
                        on_progress(prompt_id, node, 0, 1, len(done) / total)
                    elif kind == "progress":
                        value, top = int(data.get("value", 0)), max(1, int(data.get("max", 1)))
                        node = data.get("node", node)
                        on_progress(prompt_id, node, value, top,
                                    (len(done) + value / top) / total)
                    # execution_success: main.py's prompt_worker writes the history after it
                    # and then sends `executing` with node null, which ends the loop
                    elif kind == "execution_error":
                        raise ComfyError(_error_message(data, graph, label))
                    elif kind == "execution_interrupted":
                        raise ComfyError(_interrupted_message(data, label))
            finally:
                with contextlib.suppress(Exception):
                    messages.close()
            if finished:
                entry = _history_when_written(client, prompt_id, poll)
                status = entry.get("status", {})
                if status.get("status_str") == "error":
                    found = dict(status.get("messages", []) or [])
                    if "execution_error" in found:
                        raise ComfyError(_error_message(found["execution_error"], graph, label))
                    raise ComfyError(_interrupted_message(
                        found.get("execution_interrupted", {}), label))
                on_progress(prompt_id, None, 1, 1, 1.0)
                return Outcome(prompt_id, entry, outcome_retries, events, sorted(done))
        except ServerLost:
            if outcome_retries >= retries:
                raise ComfyError(f"{label}: lost ComfyUI at {client.url} {outcome_retries + 1} "
                                 f"times; check the server's log, then render again") from None
            outcome_retries += 1
            _wait_for_server(client, time.monotonic() + restart_wait)
            if prompt_id is not None:
                entry = client.history(prompt_id)
                if entry and entry.get("status", {}).get("completed"):
                    continue  # finished while we were away: the loop's poll picks it up
                queue = client.get_json("/queue")
                alive = {str(item[1]) for key in ("queue_running", "queue_pending")
                         for item in queue.get(key, [])}
                if prompt_id not in alive:
                    prompt_id, done, node = None, set(), None  # lost with the restart
        except KeyboardInterrupt:
            with contextlib.suppress(ComfyError):
                client.interrupt(prompt_id)
            raise


def _history_when_written(client: ComfyClient, prompt_id: str, wait: float) -> dict[str, Any]:
    """The prompt's history entry, polled for up to `wait` seconds (it is written just after
    the last websocket messages)."""
    deadline = time.monotonic() + wait
    while True:
        entry = client.history(prompt_id)
        if entry or time.monotonic() > deadline:
            return entry or {}
        time.sleep(0.05)


def _chain(*iterables: Any) -> Any:
    for iterable in iterables:
        yield from iterable


# --------------------------------------------------------------------------- outputs


def output_refs(history: dict[str, Any], nodes: list[str]) -> list[FileRef]:
    """The files the output nodes wrote, in node then list order (`images`, `gifs`,
    `videos`… — every list of file records in the node's output)."""
    refs = []
    outputs = history.get("outputs", {})
    for node_id in nodes:
        for value in outputs.get(node_id, {}).values():
            if isinstance(value, list):
                refs += [FileRef(item["filename"], item.get("subfolder", ""),
                                 item.get("type", "output"))
                         for item in value if isinstance(item, dict) and "filename" in item]
    return refs


def decode_frames(name: str, data: bytes) -> list[np.ndarray]:
    """RGB uint8 frames of one output file: videos through PyAV, images (animated WebP / GIF /
    PNG) through Pillow."""
    if name.lower().endswith(VIDEO_SUFFIXES):
        import av

        with av.open(io.BytesIO(data)) as container:
            return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    from PIL import Image, ImageSequence

    with Image.open(io.BytesIO(data)) as image:
        return [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(image)]


def render(job: Any, plan: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """One shot's frames at 16 fps (uint8) from the model's ComfyUI server, and the
    manifest's details; raises ComfyError naming the shot and what to fix."""
    from render_engine.final.latents import WAN_FPS
    from render_engine.final.plan import shot_characters

    started = time.perf_counter()
    entry = plan.entry
    label = f"shot {job.spec.shot.id}"
    client = ComfyClient(os.environ.get(URL_ENVIRONMENT) or entry.url or "", model=plan.model)
    flow = load_workflow(resolve_workflow(job.production.root, entry.workflow or ""))
    info = server_object_info(client, job.production.root, fresh=True)
    if info is None:
        raise ComfyError(f"{label}: ComfyUI at {client.url} is not reachable; start it or fix "
                         f"models.{plan.model}.url in soloreel.toml")
    cast = [m.name.lower() for m in shot_characters(job.spec, job.production)]
    loras = {u.name.lower(): (u.name, Path(u.path).name) for u in plan.loras}
    loras.update({str(i + 1): loras[name] for i, name in enumerate(cast) if name in loras})
    report = check_workflow(flow, info, client.url, loras)
    if not report.ok:
        raise ComfyError(f"{label}: workflow {flow.path.name} cannot run on {client.url}: "
                         + "; ".join(report.lines()[:6]))
    total = plan.wan_frames(job.frame_count, job.fps)
    values, uploads = job_values(job, plan, flow, client, total)
    bound: Bound = bind(flow, values, info)
    timings = {"inputs": time.perf_counter() - started}
    marker = time.perf_counter()
    shown = [0]

    def on_progress(prompt_id: str, node: str | None, value: int, top: int,
                    fraction: float) -> None:
        target = min(job.frame_count - 1, int(fraction * job.frame_count))
        if target > shown[0]:
            job.progress(target - shown[0])
            shown[0] = target
        node_class = bound.graph.get(node or "", {}).get("class_type")
        _notify(ComfyProgress(job.spec.shot.id, prompt_id, node, node_class, value, top,
                              fraction))

    outcome = run_prompt(client, bound.graph, label, on_progress)
    timings["comfyui"] = time.perf_counter() - marker
    refs = output_refs(outcome.history, bound.output_nodes)
    if not refs:
        raise ComfyError(f"{label}: the soloreel:output node(s) {', '.join(bound.output_nodes)} "
                         "wrote no files; title the node that saves the video soloreel:output")
    frames: list[np.ndarray] = []
    for ref in refs:
        frames += decode_frames(ref.filename, client.view(ref))
    versions = node_versions(info, flow.classes)
    details = {
        "model": {"name": plan.model, "backend": "comfyui", "url": client.url,
                  "workflow": str(flow.path), "workflow_sha256":
                      hashlib.sha256(flow.data).hexdigest()},
        "mode": plan.mode, "seed": plan.seed, "steps": plan.denoise_steps,
        "prompt": values.simple["prompt"], "negative_prompt": values.simple["negative"],
        "render_size": [plan.width, plan.height], "wan_fps": WAN_FPS, "wan_frames": total,
        "comfyui": {"prompt_id": outcome.prompt_id, "client_id": client.client_id,
                    "retries": outcome.retries, "messages": outcome.events,
                    "workflow_json": flow.data.decode("utf-8", "replace"),
                    "filled": bound.filled, "removed_nodes": bound.removed,
                    "uploads": uploads, "outputs": [r.annotated for r in refs],
                    "output_frames": len(frames),
                    "object_info": versions, "object_info_sha256": versions_digest(versions)},
        "stage_seconds": {k: round(v, 4) for k, v in timings.items()},
    }
    details["progress_reported"] = shown[0]
    return np.stack(frames), details


def output_rate(count: int, asked: int) -> float:
    """The frame rate of a workflow's output: `asked` frames were asked for at 16 fps, and
    the output spans the same time, so a workflow that interpolates (RIFE, FILM: 2× the
    frames) or trims its output still lines up with the shot."""
    from render_engine.final.latents import WAN_FPS

    return WAN_FPS * count / asked if count and asked else float(WAN_FPS)


def render_tier(job: Any) -> dict[str, Any]:
    """The final tier for a comfyui model: the server's frames retimed from 16 fps to the
    timeline's, fitted to the tier's size and encoded with the shot's dialog exactly like a
    diffusers final (`render_engine.tiers.final`); the manifest's details."""
    from dataclasses import replace

    from render_engine.final.plan import plan_final
    from render_engine.final.retime import crop_frames, resize_frames, retime, to_uint8
    from render_engine.tiers.movie import shot_dialog, write_shot_movie

    plan = plan_final(job.spec, job.production)
    lines, audio = shot_dialog(job)
    frames, details = render(job, plan)
    shown = details.pop("progress_reported")
    height, width = frames.shape[1:3]
    if (width, height) != (plan.width, plan.height):  # the workflow's own size: cover-fit
        scale = max(plan.width / width, plan.height / height)
        frames = resize_frames(frames, max(plan.width, round(width * scale)),
                               max(plan.height, round(height * scale)))
        frames = crop_frames(frames, plan.width, plan.height)
    rate = output_rate(len(frames), details["wan_frames"])
    details["output_fps"] = round(rate, 4)
    timed = to_uint8(retime(frames.astype(np.float32) / 255.0, rate, job.fps,
                            job.frame_count, method="blend"))
    timed = crop_frames(timed, job.width, job.height)
    encoded = [0]

    def encode_progress(count: int) -> None:  # the bar's last part: the encode
        before = shown + encoded[0] * (job.frame_count - shown) // job.frame_count
        encoded[0] += count
        after = shown + encoded[0] * (job.frame_count - shown) // job.frame_count
        if after > before:
            job.progress(after - before)

    started = time.perf_counter()
    count = write_shot_movie(replace(job, progress=encode_progress), timed, "final", audio)
    details["stage_seconds"]["encode"] = round(time.perf_counter() - started, 4)
    return {"media_frames": count, "dialog_lines": len(lines), **details}
