"""`soloreel queue run --ray [ADDRESS]`: the render queue worked by a Ray cluster.

One Ray actor per GPU (`num_gpus=1`, plus `soloreel_vram_gib` — the card's memory, a custom
resource each node declares with `ray start --resources '{"soloreel_vram_gib": TOTAL}'` — so a
14B job lands only on a card its memory estimate fits), CPU actors (`num_cpus=1`) for the
placeholder and proxy tiers. An actor is a long-lived process: it keeps its production and,
through the final tier's process-wide model registry, its loaded model and LoRAs across jobs
(https://docs.ray.io/en/latest/ray-core/actors.html). The queue file stays with this
process (the head): it claims jobs for idle actors with the queue's batching rule (the model
and LoRAs an actor has loaded first), heartbeats their leases while they render and records
the outcome, so a lost head leaves leases that run out and a restarted `queue run --ray`
carries on from the queue file.

Workers that share the production's filesystem render straight into its cache (the cache's
lock / staging / atomic rename makes that safe). Workers that do not (a cloud node) get the
production's inputs once as a tarball through Ray's object store, render into a private
cache, and send the finished entry's files back as bytes; this process publishes them into
the production's cache with the same lock, staging folder and atomic rename as a local
render, so a worker killed mid-job never leaves a partial entry either way.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import socket
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from render_engine.cache import MANIFEST, CacheEntry, RenderCache
from render_engine.errors import SoloreelError
from render_engine.queue.records import DEFAULT_LEASE_S, PENDING, RUNNING, Job
from render_engine.queue.runner import ALL_TIERS, CPU_TIERS, JobRenderer, StaleJob
from render_engine.queue.store import QUEUE_FILE, JobQueue, Worker

VRAM_RESOURCE = "soloreel_vram_gib"
"""Ray custom resource: a node's total GPU memory in GiB (per card: total / GPUs)."""
POLL_S = 0.2
"""How often the head polls actors for progress and finished jobs."""
_SKIP_SHIP = {"renders", ".git", ".venv", "__pycache__"}


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise SoloreelError("queue run --ray needs Ray: pip install 'soloreel[farm]' (or "
                            "pip install ray) on this machine and every worker") from None
    return ray


def fingerprint(root: Path) -> str:
    """What identifies a production folder to a worker: soloreel.toml's bytes and path (a
    worker sharing the filesystem sees the same file under the same path)."""
    text = (root / "soloreel.toml").read_bytes()
    return hashlib.sha256(str(root.resolve()).encode() + b"\0" + text).hexdigest()


def model_folders(root: Path, present: bool = True) -> list[str]:
    """Model weight folders inside the production (`[models.NAME] source` given relative to
    it): gigabytes a tarball must not carry. Workers find them at the same absolute path
    (a shared mount) or the render fails naming the folder. `present`: only folders that
    exist under `root`."""
    from render_engine.bible import load_production

    folders = []
    for entry in load_production(root).settings.models.values():
        source = Path(str(getattr(entry, "source", "") or "")).expanduser()
        if str(source) and not source.is_absolute() and (
                (root / source).is_dir() or not present):
            folders.append(source.as_posix().strip("/"))
    return sorted(set(folders))


def pack_production(root: Path, tiers: Sequence[str]) -> bytes:
    """The production's inputs as a gzip tarball for workers without its filesystem: the
    bible, art, audio, LoRAs and timelines; of renders/ only the proxies when finals are
    wanted (the final modes read the proxy's render). Not the queue file, not model weight
    folders (`model_folders`), not other caches."""
    skipped = model_folders(root)

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        name = info.name
        if any(name == f or name.startswith(f + "/") for f in skipped):
            return None
        if "/.tmp-" in name or name.endswith(".lock"):
            return None
        return info

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(root.iterdir()):
            if path.name in _SKIP_SHIP or path.name.startswith(QUEUE_FILE):
                continue
            tar.add(path, arcname=path.name, filter=keep)
        proxies = root / "renders" / "proxy"
        if "final" in tiers and proxies.is_dir():
            tar.add(proxies, arcname="renders/proxy", filter=keep)
    return buffer.getvalue()


class RenderActor:
    """A farm worker (a Ray actor, see `_start`): renders jobs into the production's
    cache (shared filesystem) or a private one whose entries it sends back as bytes."""

    def __init__(self, root: str, print_: str, force_ship: bool):
        from render_engine.media import encode

        encode.AUDIO_THREAD = False
        self.root = Path(root)
        self.shared = (not force_ship and (self.root / "soloreel.toml").is_file()
                       and fingerprint(self.root) == print_)
        self.renderer: JobRenderer | None = JobRenderer(self.root) if self.shared else None
        self.frames = 0

    def info(self) -> dict[str, Any]:
        """Who this worker is: host, pid, whether it shares the production's filesystem
        (else it waits for `unpack`)."""
        return {"host": socket.gethostname(), "pid": os.getpid(), "shared": self.shared}

    def unpack(self, shipped: bytes) -> None:
        """Take the production from the head's tarball (`pack_production`) into a private
        folder; model folders left out of it are linked from the same path when mounted."""
        self._tmp = tempfile.TemporaryDirectory(prefix="soloreel-farm-")
        path = Path(self._tmp.name) / "production"
        with tarfile.open(fileobj=io.BytesIO(shipped), mode="r:gz") as tar:
            tar.extractall(path, filter="data")
        for folder in model_folders(path, present=False):  # weights: mounted here?
            original = self.root / folder
            if original.is_dir() and not (path / folder).exists():
                (path / folder).parent.mkdir(parents=True, exist_ok=True)
                (path / folder).symlink_to(original, target_is_directory=True)
        self.renderer = JobRenderer(path)

    def progress(self) -> int:
        """Work done so far in the current job (frames; a final's transformer forwards)."""
        return self.frames

    def loads(self) -> dict[str, int]:
        """Model loads this actor made (one per model while it stays loaded)."""
        return self.renderer.model_loads() if self.renderer is not None else {}

    def render(self, job: Job) -> dict[str, Any]:
        """Render one job; its entry's folder (shared filesystem) or files as bytes, or the
        error text (`park`: retrying cannot help)."""
        from render_engine.render import failure_text

        self.frames = 0

        def progress(frames: int) -> None:
            self.frames += frames

        if self.renderer is None:
            return {"error": f"farm worker on {socket.gethostname()}: no production (the "
                    "head did not ship it)", "park": False}
        try:
            entry, elsewhere = self.renderer.render(job, progress)
        except StaleJob as exc:
            return {"error": str(exc), "park": True}
        except Exception as exc:
            return {"error": failure_text(exc), "park": False}
        result: dict[str, Any] = {"elsewhere": elsewhere, "folder": str(entry.folder)}
        if not self.shared:
            result["files"] = {p.name: p.read_bytes() for p in sorted(entry.folder.iterdir())
                               if p.is_file() and p.name != MANIFEST}
            result["manifest"] = entry.manifest
        return result


def publish(cache: RenderCache, job: Job, files: dict[str, bytes],
            manifest: dict[str, Any]) -> CacheEntry:
    """Publish a render a worker sent back as bytes into the production's cache: under the
    content hash's lock, into a staging folder, then one atomic rename (`cache.commit`)."""
    with cache.rendering(), cache.lock(job.tier, job.content_hash):
        found = cache.lookup(job.tier, job.content_hash, job.first, job.end)
        if found is not None and found.first == job.first and found.end == job.end:
            return found
        cache.clear_staging(job.tier, job.content_hash)
        with cache.staging(job.tier, job.content_hash, job.first, job.end) as staged:
            for name, data in files.items():
                if Path(name).name != name or name.startswith("."):
                    raise SoloreelError(f"farm: a worker sent a file named {name!r}; refused")
                (staged / name).write_bytes(data)
            kept = {k: v for k, v in manifest.items()
                    if k not in ("media", "tier", "hash", "frames", "created")}
            return cache.commit(job.tier, job.content_hash, job.first, job.end, staged,
                                manifest["media"], kept)


@dataclass
class Slot:
    """One actor and what the head knows of it."""

    kind: str
    """"gpu" or "cpu"."""
    node: str
    vram_gib: float | None
    actor: Any = None
    worker: Worker | None = None
    job: Job | None = None
    ref: Any = None
    shared: bool = True


@dataclass
class FarmReport:
    """What a farm run did."""

    rendered: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    waiting: dict[str, str] = field(default_factory=dict)
    """Jobs left pending, with the reason (e.g. no card has the memory they need)."""
    workers: list[str] = field(default_factory=list)
    loads: dict[str, dict[str, int]] = field(default_factory=dict)
    """Model loads per actor (one per model while it stays loaded)."""
    restarts: int = 0
    streamed: int = 0
    """Renders that came back as bytes (workers without the production's filesystem)."""

    def lines(self) -> list[str]:
        """The summary `queue run --ray` prints."""
        out = [f"{label}: failed: {error}" for label, error in self.failed.items()]
        out += [f"{label}: waiting: {reason}" for label, reason in self.waiting.items()]
        out.append(f"rendered {len(self.rendered)}, failed {len(self.failed)}, waiting "
                   f"{len(self.waiting)} on {len(self.workers)} Ray worker(s)"
                   + (f", {self.restarts} restarted" if self.restarts else ""))
        return out


def _slots(ray: Any, tiers: Sequence[str], queue: JobQueue, cpu_workers: int | None
           ) -> list[Slot]:
    """One slot per GPU (its card's VRAM from the node's soloreel_vram_gib), and CPU slots
    for open CPU-tier jobs (cpu_workers, default every CPU), over the cluster's live nodes.
    Running jobs count as open: after a lost head they come back when their lease ends."""
    open_jobs = queue.jobs((PENDING, RUNNING))
    slots: list[Slot] = []
    cpus = 0
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        resources = node.get("Resources", {})
        cpus += int(resources.get("CPU", 0))
        gpus = int(resources.get("GPU", 0))
        vram = resources.get(VRAM_RESOURCE)
        per_card = float(vram) / gpus if vram and gpus else None
        if "final" in tiers and any(j.tier == "final" for j in open_jobs):
            slots += [Slot("gpu", node["NodeID"], per_card) for _ in range(gpus)]
    cpu_jobs = sum(1 for j in open_jobs if j.tier in CPU_TIERS and j.tier in tiers)
    wanted = min(cpu_jobs, cpu_workers or cpus)
    slots += [Slot("cpu", "", None) for _ in range(max(0, wanted))]
    return slots


def _start(ray: Any, slot: Slot, root: Path, print_: str, shipped: dict[str, Any],
           force_ship: bool, tiers: Sequence[str]) -> None:
    """Start (or restart) the slot's actor and learn its name; ship it the production when
    it does not see it (packed once per run, kept in `shipped`)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    cls = ray.remote(RenderActor)
    if slot.kind == "gpu":
        options: dict[str, Any] = {"num_gpus": 1, "num_cpus": 0, "max_concurrency": 2,
                                   "scheduling_strategy": NodeAffinitySchedulingStrategy(
                                       slot.node, soft=False)}
        if slot.vram_gib:
            options["resources"] = {VRAM_RESOURCE: slot.vram_gib}
        own = tuple(t for t in tiers if t == "final")
    else:
        options = {"num_cpus": 1, "max_concurrency": 2}
        own = tuple(t for t in tiers if t in CPU_TIERS)
    slot.actor = cls.options(**options).remote(str(root), print_, force_ship)
    try:
        info = ray.get(slot.actor.info.remote())
        if not info["shared"]:
            if "blob" not in shipped:
                shipped["blob"] = ray.put(pack_production(root, tiers))
            ray.get(slot.actor.unpack.remote(shipped["blob"]))
    except ray.exceptions.RayError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise SoloreelError(f"farm: a Ray worker could not start on node {slot.node or 'any'}:"
                            f" {first}; check that soloreel (and its extras) is installed "
                            "there and the production loads (`soloreel validate`)") from None
    slot.shared = bool(info["shared"])
    slot.worker = Worker(f"ray:{info['host']}:{info['pid']}", own, slot.vram_gib)
    slot.job = slot.ref = None


def _vram_reasons(queue: JobQueue, slots: Sequence[Slot], tiers: Sequence[str]) -> None:
    """Pending finals no card on the farm can hold get a reason (they stay pending)."""
    if "final" not in tiers:
        return
    cards = [s.vram_gib for s in slots if s.kind == "gpu"]
    known = [v for v in cards if v is not None]
    best = max(known) if known and len(known) == len(cards) else None
    for job in queue.jobs((PENDING,)):
        if job.tier != "final":
            continue
        if not cards:
            queue.set_reason([job.id], "no GPU on the Ray cluster (start workers with "
                             "`ray start --num-gpus N`)")
        elif best is not None and job.vram_gib > best:
            queue.set_reason([job.id], f"needs {job.vram_gib:.1f} GiB of GPU memory at its "
                             f"memory profile; the largest card on the farm offers {best:.0f} "
                             f"GiB ({VRAM_RESOURCE}); use a lighter memory_profile or a "
                             "bigger card")


def run_farm(root: Path | str, address: str | None = None,
             tiers: Sequence[str] = ALL_TIERS, ship: bool | None = None,
             lease_s: float = DEFAULT_LEASE_S, cpu_workers: int | None = None,
             poll_s: float = POLL_S) -> FarmReport:
    """Work the queue's jobs of these tiers on a Ray cluster until none can be worked (see
    the module docstring). `address`: an existing cluster (None: the one this process
    joined already, else a running local one, else a new local one); `ship`: force
    shipping the production (None: each worker checks whether it sees the same folder)."""
    ray = _ray()
    root = Path(root).resolve()
    if not ray.is_initialized():
        try:
            ray.init(address=address or "auto", log_to_driver=False)
        except ConnectionError:
            if address:
                raise SoloreelError(f"queue run --ray {address}: no Ray cluster answers there; "
                                    "start one with `ray start --head` or `ray up CLUSTER.yaml`"
                                    ", or leave the address out for a local one") from None
            ray.init(log_to_driver=False)
    queue = JobQueue.of(root, lease_s)
    cache = RenderCache(root / "renders")
    report = FarmReport()
    slots = _slots(ray, tiers, queue, cpu_workers)
    _vram_reasons(queue, slots, tiers)
    print_ = fingerprint(root)
    shipped: dict[str, Any] = {}
    for slot in slots:
        _start(ray, slot, root, print_, shipped, bool(ship), tiers)
        assert slot.worker is not None
        report.workers.append(slot.worker.name)
    try:
        _work(ray, queue, cache, slots, report, root, print_, shipped, bool(ship), tiers,
              poll_s)
        for slot in slots:
            if slot.actor is not None and slot.worker is not None:
                with contextlib.suppress(Exception):  # a dead actor made no loads
                    report.loads[slot.worker.name] = ray.get(slot.actor.loads.remote())
    finally:
        for slot in slots:
            if slot.job is not None and slot.worker is not None:
                queue.release(slot.job.id, slot.worker.name)
            if slot.actor is not None:
                ray.kill(slot.actor)
    for job in queue.jobs((PENDING,)):
        if job.tier in tiers:
            report.waiting[job.label] = job.reason or "no worker took it"
    return report


def _work(ray: Any, queue: JobQueue, cache: RenderCache, slots: list[Slot],
          report: FarmReport, root: Path, print_: str, shipped: dict[str, Any],
          force_ship: bool,
          tiers: Sequence[str], poll_s: float) -> None:
    """The head's loop: feed idle actors, heartbeat busy ones, record what comes back."""
    exceptions = ray.exceptions
    beat_every, last_beat = max(0.05, queue.lease_s / 4), 0.0
    while True:
        for slot in slots:
            if slot.job is None and slot.worker is not None:
                job = queue.claim(slot.worker)
                if job is not None:
                    slot.job, slot.ref = job, slot.actor.render.remote(job)
        busy = [s for s in slots if s.job is not None]
        if not busy:
            served = {t for s in slots if s.worker is not None for t in s.worker.tiers}
            if not any(j.tier in served for j in queue.jobs((RUNNING,))):
                return
            time.sleep(poll_s)  # another runner's (or a lost head's) lease: wait it out
            continue
        ready, _ = ray.wait([s.ref for s in busy], num_returns=1, timeout=poll_s)
        if time.monotonic() - last_beat >= beat_every:
            last_beat = time.monotonic()
            for slot in busy:
                assert slot.job is not None and slot.worker is not None
                if slot.ref in ready:
                    continue
                try:
                    frames = ray.get(slot.actor.progress.remote(), timeout=max(1.0, poll_s))
                except Exception:  # dying: its render's result says so
                    continue
                if not queue.heartbeat(slot.job.id, slot.worker.name, frames,
                                       slot.job.work_units):
                    ray.kill(slot.actor)  # cancelled: stop it; staging is cleared later
        for slot in busy:
            if slot.ref not in ready:
                continue
            job, worker = slot.job, slot.worker
            assert job is not None and worker is not None
            slot.job = None
            try:
                result = ray.get(slot.ref)
            except (exceptions.RayActorError, exceptions.WorkerCrashedError) as exc:
                queue.fail(job.id, worker.name, f"Ray worker {worker.name} died mid-render "
                           f"({type(exc).__name__}); its render was not published")
                report.failed.setdefault(job.label, "worker died (retried)")
                report.restarts += 1
                _start(ray, slot, root, print_, shipped, force_ship, tiers)
                assert slot.worker is not None
                report.workers.append(slot.worker.name)
                continue
            if "error" in result:
                queue.fail(job.id, worker.name, result["error"])
                if result.get("park"):
                    queue.park(job.id, result["error"])
                report.failed[job.label] = result["error"]
                continue
            folder = result["folder"]
            if "files" in result:
                folder = str(publish(cache, job, result["files"], result["manifest"]).folder)
                report.streamed += 1
            queue.complete(job.id, worker.name, folder)
            report.failed.pop(job.label, None)
            report.rendered.append(job.label)
