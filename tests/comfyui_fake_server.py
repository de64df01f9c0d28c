"""An in-process ComfyUI server for tests: the HTTP routes and websocket of ComfyUI's API.

It follows comfyanonymous/ComfyUI as its source defines it:

- `server.py` (PromptServer routes): `GET /ws?clientId=` (a websocket: on connect a
  `status` message `{"status": {"exec_info": {"queue_remaining"}}, "sid"}`), `POST /prompt`
  (`{"prompt", "client_id"}` → `{"prompt_id", "number", "node_errors"}`, or HTTP 400
  `{"error", "node_errors"}` when `execution.validate_prompt` fails), `POST /upload/image`
  (multipart `image`, `subfolder`, `type`, `overwrite` → `{"name", "subfolder", "type"}`),
  `GET /view`, `GET /history/{prompt_id}`, `GET /queue`, `POST /interrupt`,
  `GET /object_info`;
- `execution.py` (PromptExecutor.execute, validate_prompt): messages per prompt, in order,
  `execution_start`, `execution_cached`, then per node `executing` (+ `progress` per sampler
  step, `executed` for output nodes), then `execution_success` and `executing` with node null;
  a node that raises sends `execution_error` (`node_id`, `node_type`, `exception_message`,
  `exception_type`, `traceback`, `executed`); an interrupt sends `execution_interrupted`. The
  history entry is `{"prompt": [number, id, prompt, extra_data, outputs], "outputs",
  "status": {"status_str", "completed", "messages"}}`; the queue and history live in memory
  (a restart loses both, as in ComfyUI).

The node classes are ComfyUI's core Wan 2.1 nodes, with the input names and types of
`OBJECT_INFO_EXCERPT` (read from the ComfyUI sources named beside each class), executed in
numpy: loaders return tokens, `LoadImage` / `LoadVideo` / `LoadAudio` read the uploaded
files, `KSampler` makes deterministic frames from its seed (the control video, reference and
start image blended in, so tests can see them), `SaveAnimatedWEBP` and `SaveVideo` write
real files (Pillow / PyAV) into the output folder served by `/view`.
"""

from __future__ import annotations

import base64
import contextlib
import email.parser
import hashlib
import io
import json
import socket
import struct
import threading
import time
import urllib.parse
import uuid
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

WS_GUID = "258EAFA5-E914-47DA-95C5-C0AB0DC85B11"

_INT = ["INT", {"default": 0, "min": 0, "max": 16384}]
_FLOAT = ["FLOAT", {"default": 1.0}]
_STRING = ["STRING", {"multiline": False}]
MODEL_COMBOS = {"UNETLoader.unet_name": "diffusion_models", "CLIPLoader.clip_name": "text_encoders",
                "VAELoader.vae_name": "vae", "LoraLoaderModelOnly.lora_name": "loras",
                "CLIPVisionLoader.clip_name": "clip_vision",
                "AudioEncoderLoader.audio_encoder_name": "audio_encoders"}
UPLOAD_COMBOS = {"LoadImage.image", "LoadVideo.file", "LoadAudio.audio"}

OBJECT_INFO_EXCERPT: dict[str, dict[str, Any]] = {
    # nodes.py (CLIPTextEncode, KSampler, VAEDecode, VAELoader, UNETLoader, CLIPLoader,
    # LoraLoaderModelOnly, LoadImage, CLIPVisionLoader, CLIPVisionEncode)
    "CLIPTextEncode": {"required": {"text": ["STRING", {"multiline": True}], "clip": ["CLIP"]},
                       "output": ["CONDITIONING"]},
    "KSampler": {"required": {"model": ["MODEL"], "seed": _INT, "steps": _INT, "cfg": _FLOAT,
                              "sampler_name": [["euler", "uni_pc", "dpmpp_2m"]],
                              "scheduler": [["simple", "normal", "karras"]],
                              "positive": ["CONDITIONING"], "negative": ["CONDITIONING"],
                              "latent_image": ["LATENT"], "denoise": _FLOAT},
                 "output": ["LATENT"]},
    "VAEDecode": {"required": {"samples": ["LATENT"], "vae": ["VAE"]}, "output": ["IMAGE"]},
    "VAELoader": {"required": {"vae_name": "COMBO"}, "output": ["VAE"]},
    "UNETLoader": {"required": {"unet_name": "COMBO", "weight_dtype": [
        ["default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"]]}, "output": ["MODEL"]},
    "CLIPLoader": {"required": {"clip_name": "COMBO", "type": [
        ["stable_diffusion", "stable_cascade", "sd3", "mochi", "ltxv", "wan", "hidream"]]},
        "optional": {"device": [["default", "cpu"]]}, "output": ["CLIP"]},
    "LoraLoaderModelOnly": {"required": {"model": ["MODEL"], "lora_name": "COMBO",
                                         "strength_model": _FLOAT}, "output": ["MODEL"]},
    "LoadImage": {"required": {"image": "COMBO"}, "output": ["IMAGE", "MASK"]},
    "CLIPVisionLoader": {"required": {"clip_name": "COMBO"}, "output": ["CLIP_VISION"]},
    "CLIPVisionEncode": {"required": {"clip_vision": ["CLIP_VISION"], "image": ["IMAGE"],
                                      "crop": [["center", "none"]]},
                         "output": ["CLIP_VISION_OUTPUT"]},
    # comfy_extras/nodes_model_advanced.py
    "ModelSamplingSD3": {"required": {"model": ["MODEL"], "shift": _FLOAT}, "output": ["MODEL"]},
    # comfy_extras/nodes_hunyuan.py
    "EmptyHunyuanLatentVideo": {"required": {"width": _INT, "height": _INT, "length": _INT,
                                             "batch_size": _INT}, "output": ["LATENT"]},
    # comfy_extras/nodes_wan.py (WanImageToVideo, WanVaceToVideo, TrimVideoLatent, WanHuMo…)
    "WanImageToVideo": {"required": {"positive": ["CONDITIONING"], "negative": ["CONDITIONING"],
                                     "vae": ["VAE"], "width": _INT, "height": _INT,
                                     "length": _INT, "batch_size": _INT},
                        "optional": {"clip_vision_output": ["CLIP_VISION_OUTPUT"],
                                     "start_image": ["IMAGE"]},
                        "output": ["CONDITIONING", "CONDITIONING", "LATENT"]},
    "WanVaceToVideo": {"required": {"positive": ["CONDITIONING"], "negative": ["CONDITIONING"],
                                    "vae": ["VAE"], "width": _INT, "height": _INT,
                                    "length": _INT, "batch_size": _INT, "strength": _FLOAT},
                       "optional": {"control_video": ["IMAGE"], "control_masks": ["MASK"],
                                    "reference_image": ["IMAGE"]},
                       "output": ["CONDITIONING", "CONDITIONING", "LATENT", "INT"]},
    "TrimVideoLatent": {"required": {"samples": ["LATENT"], "trim_amount": _INT},
                        "output": ["LATENT"]},
    "WanHuMoImageToVideo": {"required": {"positive": ["CONDITIONING"],
                                         "negative": ["CONDITIONING"], "vae": ["VAE"],
                                         "width": _INT, "height": _INT, "length": _INT,
                                         "batch_size": _INT},
                            "optional": {"audio_encoder_output": ["AUDIO_ENCODER_OUTPUT"],
                                         "ref_image": ["IMAGE"]},
                            "output": ["CONDITIONING", "CONDITIONING", "LATENT"]},
    # comfy_extras/nodes_video.py
    "LoadVideo": {"required": {"file": "COMBO"}, "output": ["VIDEO"]},
    "GetVideoComponents": {"required": {"video": ["VIDEO"]},
                           "output": ["IMAGE", "AUDIO", "FLOAT"]},
    "CreateVideo": {"required": {"images": ["IMAGE"], "fps": _FLOAT},
                    "optional": {"audio": ["AUDIO"]}, "output": ["VIDEO"]},
    "SaveVideo": {"required": {"video": ["VIDEO"], "filename_prefix": _STRING,
                               "format": [["auto", "mp4"]], "codec": [["auto", "h264"]]},
                  "output": [], "output_node": True},
    # comfy_extras/nodes_images.py
    "SaveAnimatedWEBP": {"required": {"images": ["IMAGE"], "filename_prefix": _STRING,
                                      "fps": _FLOAT, "lossless": ["BOOLEAN"],
                                      "quality": _INT,
                                      "method": [["default", "fastest", "slowest"]]},
                         "output": [], "output_node": True},
    # comfy_extras/nodes_mask.py
    "ImageToMask": {"required": {"image": ["IMAGE"],
                                 "channel": [["red", "green", "blue", "alpha"]]},
                    "output": ["MASK"]},
    # comfy_extras/nodes_audio.py, comfy_extras/nodes_audio_encoder.py
    "LoadAudio": {"required": {"audio": "COMBO"}, "output": ["AUDIO"]},
    "AudioEncoderLoader": {"required": {"audio_encoder_name": "COMBO"},
                           "output": ["AUDIO_ENCODER"]},
    "AudioEncoderEncode": {"required": {"audio_encoder": ["AUDIO_ENCODER"], "audio": ["AUDIO"]},
                           "output": ["AUDIO_ENCODER_OUTPUT"]},
}
"""Core node classes with their input names and types, as ComfyUI's sources define them (the
files are named above each group; read from comfyanonymous/ComfyUI). "COMBO" marks inputs
whose choices are the server's model or input folders (filled in by `FakeComfy`)."""

DEFAULT_MODELS = {
    "diffusion_models": ["wan2.1_t2v_1.3B_fp16.safetensors", "wan2.1_i2v_480p_14B_fp16.safetensors",
                         "wan2.1_vace_14B_fp16.safetensors", "humo_17B_fp16.safetensors"],
    "text_encoders": ["umt5_xxl_fp8_e4m3fn_scaled.safetensors"],
    "vae": ["wan_2.1_vae.safetensors"],
    "loras": ["character_1.safetensors", "character_2.safetensors"],
    "clip_vision": ["clip_vision_h.safetensors"],
    "audio_encoders": ["whisper_large_v3_fp16.safetensors"],
}


class NodeFailure(Exception):
    """Raised by a fake node: reported as `execution_error`."""


class Interrupted(Exception):
    """Raised when /interrupt stops the running prompt."""


def _image(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), np.float32)[None] / 255.0


def _video(data: bytes) -> np.ndarray:
    import av

    with av.open(io.BytesIO(data)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return np.stack(frames).astype(np.float32) / 255.0


def _fit(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    return np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA)
                     for f in frames])


class FakeComfy:
    """A ComfyUI server on 127.0.0.1 (see the module docstring). `crash_at_step` makes the
    next sampler restart the server at that step (a crash mid-job); `fail_node` makes the
    node with that class raise; `step_delay` slows each sampler step."""

    def __init__(self, models: dict[str, list[str]] | None = None,
                 classes: dict[str, dict[str, Any]] | None = None, step_delay: float = 0.0):
        self.models = {k: list(v) for k, v in (models or DEFAULT_MODELS).items()}
        self.classes = dict(classes if classes is not None else OBJECT_INFO_EXCERPT)
        self.step_delay = step_delay
        self.inputs: dict[str, bytes] = {}
        self.outputs: dict[str, bytes] = {}
        self.history: dict[str, dict[str, Any]] = {}
        self.queue: list[tuple[int, str, dict[str, Any], str]] = []
        self.running: tuple[int, str, dict[str, Any], str] | None = None
        self.prompts: list[dict[str, Any]] = []
        """Every graph accepted by /prompt (tests read the bound values)."""
        self.requests: list[tuple[str, str]] = []
        self.interrupts = 0
        self.restarts = 0
        self.crash_at_step: int | None = None
        self.fail_node: str | None = None
        self.sockets: dict[str, list[tuple[socket.socket, threading.Lock]]] = {}
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.interrupt_flag = threading.Event()
        self.counter = 0
        self.port = 0
        self.httpd: ThreadingHTTPServer | None = None
        self.alive = True
        self.worker = threading.Thread(target=self._work, daemon=True)

    # ----------------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeComfy:
        """Listen (on a free port the first time, the same port after a restart)."""
        handler = type("Handler", (_Handler,), {"comfy": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        if not self.worker.is_alive():
            self.worker.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop every websocket."""
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
        with self.lock:
            sockets = [s for group in self.sockets.values() for s, _l in group]
            self.sockets.clear()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def drop_websockets(self) -> None:
        """Cut every websocket while the server keeps running (a network blip)."""
        with self.lock:
            sockets = [s for group in self.sockets.values() for s, _l in group]
            self.sockets.clear()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.alive = False
        self.wake.set()
        self.stop()

    def restart(self, down_for: float = 0.3) -> None:
        """A server restart: the queue and history are lost (they live in memory)."""
        self.restarts += 1
        self.stop()
        with self.lock:
            self.queue.clear()
            self.history.clear()
        time.sleep(down_for)
        self.start()

    # ----------------------------------------------------------------------- object_info

    def object_info(self) -> dict[str, Any]:
        """`/object_info` for the classes served, COMBO inputs filled from the folders."""
        out = {}
        for cls, spec in self.classes.items():
            groups: dict[str, Any] = {}
            for group in ("required", "optional"):
                found = {}
                for name, kind in spec.get(group, {}).items():
                    key = f"{cls}.{name}"
                    if kind == "COMBO" and key in MODEL_COMBOS:
                        kind = [sorted(self.models.get(MODEL_COMBOS[key], []))]
                    elif kind == "COMBO":
                        kind = [sorted(self.inputs), {"image_upload": True}]
                    found[name] = kind
                if found:
                    groups[group] = found
            out[cls] = {"input": groups, "input_order": {g: list(v) for g, v in groups.items()},
                        "output": spec.get("output", []), "output_is_list": [False] * len(
                            spec.get("output", [])), "output_name": spec.get("output", []),
                        "name": cls, "display_name": cls, "description": "",
                        "python_module": "nodes", "category": "test",
                        "output_node": bool(spec.get("output_node"))}
        return out

    # ----------------------------------------------------------------------- websocket

    def send(self, kind: str, data: dict[str, Any], client_id: str | None) -> None:
        """A JSON text frame to one client (or all when None), as `PromptServer.send_sync`."""
        payload = json.dumps({"type": kind, "data": data}).encode()
        head = bytes([0x81]) + (bytes([len(payload)]) if len(payload) < 126 else
                                bytes([126]) + struct.pack(">H", len(payload)) if
                                len(payload) < 1 << 16 else bytes([127]) +
                                struct.pack(">Q", len(payload)))
        with self.lock:
            targets = [s for cid, group in self.sockets.items() for s in group
                       if client_id is None or cid == client_id]
        for sock, lock in targets:
            with lock, contextlib.suppress(OSError):
                sock.sendall(head + payload)

    def status(self) -> dict[str, Any]:
        return {"status": {"exec_info": {"queue_remaining": len(self.queue) + bool(
            self.running)}}}

    # ----------------------------------------------------------------------- prompts

    def validate(self, graph: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """execution.validate_prompt: unknown classes, missing required inputs, combo values
        not in the list; (error, node_errors)."""
        info = self.object_info()
        for node_id, node in graph.items():
            if node.get("class_type") not in info:
                return ({"type": "invalid_prompt", "message": "Cannot execute because node "
                         f"{node.get('class_type')} does not exist.",
                         "details": f"Node ID '#{node_id}'", "extra_info": {}}, {})
        if not any(info[n["class_type"]]["output_node"] for n in graph.values()):
            return ({"type": "prompt_no_outputs", "message": "Prompt has no outputs",
                     "details": "", "extra_info": {}}, {})
        errors: dict[str, Any] = {}
        for node_id, node in graph.items():
            spec = info[node["class_type"]]["input"]
            found = []
            for name in spec.get("required", {}):
                if name not in node["inputs"]:
                    found.append({"type": "required_input_missing",
                                  "message": "Required input is missing", "details": name,
                                  "extra_info": {"input_name": name}})
            for name, value in node["inputs"].items():
                kind = {**spec.get("required", {}), **spec.get("optional", {})}.get(name)
                if isinstance(kind, list) and kind and isinstance(kind[0], list) and not (
                        isinstance(value, list)) and value not in kind[0]:
                    found.append({"type": "value_not_in_list", "message": "Value not in list",
                                  "details": f"{name}: '{value}' not in {kind[0]}",
                                  "extra_info": {"input_name": name}})
            if found:
                errors[node_id] = {"errors": found, "dependent_outputs": [],
                                   "class_type": node["class_type"]}
        if errors:
            return ({"type": "prompt_outputs_failed_validation",
                     "message": "Prompt outputs failed validation", "details": "",
                     "extra_info": {}}, errors)
        return None, {}

    def enqueue(self, graph: dict[str, Any], client_id: str) -> tuple[str, int]:
        with self.lock:
            self.counter += 1
            prompt_id = str(uuid.uuid4())
            self.queue.append((self.counter, prompt_id, graph, client_id))
            self.prompts.append(graph)
        self.send("status", self.status(), None)
        self.wake.set()
        return prompt_id, self.counter

    def _work(self) -> None:
        while self.alive:
            self.wake.wait(0.1)
            with self.lock:
                item = self.queue.pop(0) if self.queue else None
                if not self.queue:
                    self.wake.clear()
                self.running = item
            if item is not None:
                try:
                    self._execute(*item)
                finally:
                    self.running = None
                    self.send("status", self.status(), None)

    def _execute(self, number: int, prompt_id: str, graph: dict[str, Any],
                 client_id: str) -> None:
        """PromptExecutor.execute: messages in execution.py's order, nodes in dependency
        order, outputs kept in the history."""
        stamp = int(time.time() * 1000)
        messages: list[list[Any]] = []

        def say(kind: str, data: dict[str, Any]) -> None:
            if kind in ("execution_start", "execution_cached", "execution_success",
                        "execution_error", "execution_interrupted"):
                messages.append([kind, data])
            self.send(kind, data, client_id)

        self.interrupt_flag.clear()
        say("execution_start", {"prompt_id": prompt_id, "timestamp": stamp})
        say("execution_cached", {"nodes": [], "prompt_id": prompt_id, "timestamp": stamp})
        results: dict[str, tuple[Any, ...]] = {}
        outputs: dict[str, Any] = {}
        executed: list[str] = []
        restart_before = self.restarts
        for node_id in _order(graph):
            node = graph[node_id]
            say("executing", {"node": node_id, "display_node": node_id,
                              "prompt_id": prompt_id})
            inputs = {k: (results[v[0]][v[1]] if _is_link(v) else v)
                      for k, v in node["inputs"].items()}
            try:
                if self.fail_node == node["class_type"]:
                    raise NodeFailure(f"{node['class_type']} failed: out of memory allocating "
                                      "the latent")
                result, ui = self._run(node["class_type"], inputs, node_id, prompt_id,
                                       client_id)
            except Interrupted:
                say("execution_interrupted", {"prompt_id": prompt_id, "node_id": node_id,
                                              "node_type": node["class_type"],
                                              "executed": executed, "timestamp": stamp})
                self._finish(number, prompt_id, graph, outputs, "error", False, messages)
                return
            except _Crashed:
                return  # the server went down under this prompt: nothing is recorded
            except Exception as exc:
                say("execution_error", {
                    "prompt_id": prompt_id, "node_id": node_id, "node_type": node["class_type"],
                    "executed": executed, "exception_message": str(exc),
                    "exception_type": type(exc).__name__, "traceback": [],
                    "current_inputs": {}, "current_outputs": {}, "timestamp": stamp})
                self._finish(number, prompt_id, graph, outputs, "error", False, messages)
                return
            if self.restarts != restart_before:
                return
            results[node_id] = result
            executed.append(node_id)
            if ui is not None:
                outputs[node_id] = ui
                say("executed", {"node": node_id, "display_node": node_id, "output": ui,
                                 "prompt_id": prompt_id})
        say("execution_success", {"prompt_id": prompt_id, "timestamp": stamp})
        self._finish(number, prompt_id, graph, outputs, "success", True, messages)
        self.send("executing", {"node": None, "prompt_id": prompt_id}, client_id)

    def _finish(self, number: int, prompt_id: str, graph: dict[str, Any],
                outputs: dict[str, Any], status: str, completed: bool,
                messages: list[list[Any]]) -> None:
        with self.lock:
            self.history[prompt_id] = {
                "prompt": [number, prompt_id, graph, {}, sorted(outputs)],
                "outputs": outputs,
                "status": {"status_str": status, "completed": completed,
                           "messages": messages},
                "meta": {k: {"node_id": k, "display_node": k} for k in outputs}}

    # ----------------------------------------------------------------------- nodes

    def _save(self, prefix: str, suffix: str, data: bytes) -> dict[str, str]:
        subfolder, _sep, name = prefix.rpartition("/")
        with self.lock:
            count = sum(1 for key in self.outputs if key.startswith(f"{subfolder}/{name}_"))
            filename = f"{name}_{count + 1:05}_{suffix}"
            self.outputs[f"{subfolder}/{filename}"] = data
        return {"filename": filename, "subfolder": subfolder, "type": "output"}

    def _run(self, cls: str, a: dict[str, Any], node_id: str, prompt_id: str,
             client_id: str) -> tuple[tuple[Any, ...], dict[str, Any] | None]:
        if cls in ("UNETLoader", "CLIPLoader", "VAELoader", "CLIPVisionLoader",
                   "AudioEncoderLoader"):
            return (f"{cls}:{next(iter(a.values()))}",), None
        if cls == "LoraLoaderModelOnly":
            return (f"{a['model']}+lora:{a['lora_name']}@{a['strength_model']}",), None
        if cls == "ModelSamplingSD3":
            return (f"{a['model']}+shift:{a['shift']}",), None
        if cls == "CLIPTextEncode":
            return ({"text": a["text"]},), None
        if cls == "CLIPVisionEncode":
            return ({"image": a["image"]},), None
        if cls == "AudioEncoderEncode":
            return ({"audio": a["audio"]},), None
        if cls == "LoadImage":
            return (_image(self._input(a["image"])), None), None
        if cls == "LoadVideo":
            return ({"frames": _video(self._input(a["file"]))},), None
        if cls == "GetVideoComponents":
            return (a["video"]["frames"], None, 16.0), None
        if cls == "LoadAudio":
            with wave.open(io.BytesIO(self._input(a["audio"]))) as wav:
                samples = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
                return ({"waveform": samples.astype(np.float32) / 32767,
                         "sample_rate": wav.getframerate()},), None
        if cls == "ImageToMask":
            channel = ["red", "green", "blue", "alpha"].index(a["channel"])
            return (a["image"][..., min(channel, 2)],), None
        if cls == "EmptyHunyuanLatentVideo":
            return ({"width": a["width"], "height": a["height"], "length": a["length"]},), None
        if cls in ("WanImageToVideo", "WanVaceToVideo", "WanHuMoImageToVideo"):
            latent = {"width": a["width"], "height": a["height"], "length": a["length"],
                      "control": a.get("control_video"), "mask": a.get("control_masks"),
                      "reference": a.get("reference_image", a.get("ref_image")),
                      "start": a.get("start_image"),
                      "audio": a.get("audio_encoder_output")}
            trim = 1 if latent["reference"] is not None and cls == "WanVaceToVideo" else 0
            return (a["positive"], a["negative"], latent, trim)[:4 if cls == "WanVaceToVideo"
                                                              else 3], None
        if cls == "KSampler":
            return (self._sample(a, node_id, prompt_id, client_id),), None
        if cls == "TrimVideoLatent":
            return ({**a["samples"], "trimmed": a["trim_amount"]},), None
        if cls == "VAEDecode":
            return (a["samples"]["frames"],), None
        if cls == "CreateVideo":
            return ({"frames": a["images"], "fps": a["fps"], "audio": a.get("audio")},), None
        if cls == "SaveVideo":
            ref = self._save(a["filename_prefix"], ".mp4", _mp4(a["video"]["frames"],
                                                                a["video"]["fps"]))
            return (), {"images": [ref], "animated": [True]}
        if cls == "SaveAnimatedWEBP":
            ref = self._save(a["filename_prefix"], ".webp", _webp(a["images"], a["fps"]))
            return (), {"images": [ref], "animated": [True]}
        if cls == "FrameDouble":  # a stand-in for an interpolation custom node (RIFE VFI)
            frames = a["images"]
            mids = (frames[:-1] + frames[1:]) / 2
            out = np.empty((2 * len(frames) - 1, *frames.shape[1:]), np.float32)
            out[0::2], out[1::2] = frames, mids
            return (out,), None
        raise NodeFailure(f"the fake server cannot run {cls}")

    def _input(self, name: str) -> bytes:
        if name not in self.inputs:
            raise NodeFailure(f"Invalid image file: {name}")
        return self.inputs[name]

    def _sample(self, a: dict[str, Any], node_id: str, prompt_id: str,
                client_id: str) -> dict[str, Any]:
        """Deterministic frames: a colour from the seed, a bar moving per frame, the control
        video / start image / reference blended in."""
        latent = a["latent_image"]
        width, height, length = latent["width"], latent["height"], latent["length"]
        steps = int(a["steps"])
        for step in range(steps):
            if self.interrupt_flag.is_set():
                raise Interrupted
            if self.crash_at_step is not None and step == self.crash_at_step:
                self.crash_at_step = None
                threading.Thread(target=self.restart, daemon=True).start()
                time.sleep(0.2)
                raise _Crashed
            self.send("progress", {"value": step + 1, "max": steps, "prompt_id": prompt_id,
                                   "node": node_id}, client_id)
            time.sleep(self.step_delay)
        rng = np.random.default_rng(int(a["seed"]))
        colour = rng.uniform(0.2, 0.8, 3).astype(np.float32)
        frames = np.empty((length, height, width, 3), np.float32)
        frames[:] = colour
        for index in range(length):
            x = int((index / max(1, length - 1)) * (width - 8))
            frames[index, :, x:x + 8] = 1.0
        if latent.get("control") is not None:
            control = _fit(latent["control"][:length], width, height)
            frames[:len(control)] = 0.5 * frames[:len(control)] + 0.5 * control
        for key in ("start", "reference"):
            if latent.get(key) is not None:
                image = _fit(latent[key][:1], width // 4, height // 4)[0]
                frames[:, :height // 4, :width // 4] = image
        return {"frames": np.clip(frames, 0, 1)}


class _Crashed(Exception):
    pass


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)


def _order(graph: dict[str, Any]) -> list[str]:
    done: list[str] = []

    def visit(node_id: str) -> None:
        if node_id in done:
            return
        for value in graph[node_id]["inputs"].values():
            if _is_link(value):
                visit(value[0])
        done.append(node_id)

    for node_id in sorted(graph, key=lambda k: int(k) if k.isdigit() else 0):
        visit(node_id)
    return done


def _mp4(frames: np.ndarray, fps: float) -> bytes:
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=round(fps))
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv444p"
        stream.options = {"crf": "10"}
        for frame in frames:
            pixels = (np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def _webp(frames: np.ndarray, fps: float) -> bytes:
    from PIL import Image

    images = [Image.fromarray((np.clip(f, 0, 1) * 255 + 0.5).astype(np.uint8)) for f in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="WEBP", save_all=True, append_images=images[1:],
                   duration=round(1000 / fps), lossless=True)
    return buffer.getvalue()


class _Handler(BaseHTTPRequestHandler):
    comfy: FakeComfy
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, payload: Any, code: int = 200) -> None:
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def do_GET(self) -> None:
        comfy = self.comfy
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        comfy.requests.append(("GET", url.path))
        if url.path == "/ws":
            self._websocket(query.get("clientId") or uuid.uuid4().hex)
        elif url.path == "/object_info":
            self._json(comfy.object_info())
        elif url.path.startswith("/history/"):
            prompt_id = url.path.rsplit("/", 1)[1]
            with comfy.lock:
                entry = comfy.history.get(prompt_id)
            self._json({prompt_id: entry} if entry else {})
        elif url.path == "/queue":
            def row(item: Any) -> list[Any]:
                return [item[0], item[1], item[2], {"client_id": item[3]}, []]
            with comfy.lock:
                running = [row(comfy.running)] if comfy.running else []
                pending = [row(item) for item in comfy.queue]
            self._json({"queue_running": running, "queue_pending": pending})
        elif url.path == "/view":
            key = f"{query.get('subfolder', '')}/{query.get('filename', '')}"
            store = comfy.outputs if query.get("type", "output") == "output" else comfy.inputs
            data = store.get(key if store is comfy.outputs else key.lstrip("/"))
            if data is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            self.send_error(404)

    def do_POST(self) -> None:
        comfy = self.comfy
        path = urllib.parse.urlsplit(self.path).path
        comfy.requests.append(("POST", path))
        body = self._body()
        if path == "/prompt":
            payload = json.loads(body)
            graph = payload["prompt"]
            error, node_errors = comfy.validate(graph)
            if error is not None:
                self._json({"error": error, "node_errors": node_errors}, 400)
                return
            prompt_id, number = comfy.enqueue(graph, payload.get("client_id", ""))
            self._json({"prompt_id": prompt_id, "number": number, "node_errors": {}})
        elif path == "/upload/image":
            message = email.parser.BytesParser().parsebytes(
                b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body)
            fields: dict[str, str] = {}
            upload: tuple[str, bytes] | None = None
            for part in message.get_payload():
                name = part.get_param("name", header="content-disposition")
                data = part.get_payload(decode=True)
                if part.get_filename():
                    upload = (part.get_filename(), data)
                else:
                    fields[name] = data.decode()
            if upload is None:
                self.send_error(400)
                return
            subfolder = fields.get("subfolder", "")
            key = f"{subfolder}/{upload[0]}" if subfolder else upload[0]
            comfy.inputs[key] = upload[1]
            self._json({"name": upload[0], "subfolder": subfolder,
                        "type": fields.get("type", "input")})
        elif path == "/interrupt":
            comfy.interrupts += 1
            comfy.interrupt_flag.set()
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_error(404)

    def _websocket(self, client_id: str) -> None:
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        sock = self.connection
        lock = threading.Lock()
        with self.comfy.lock:
            self.comfy.sockets.setdefault(client_id, []).append((sock, lock))
        self.comfy.send("status", {**self.comfy.status(), "sid": client_id}, client_id)
        try:
            sock.settimeout(None)
            while True:
                head = sock.recv(2)
                if len(head) < 2 or head[0] & 0x0F == 8:
                    break
                length = head[1] & 0x7F
                if length == 126:
                    length = struct.unpack(">H", sock.recv(2))[0]
                elif length == 127:
                    length = struct.unpack(">Q", sock.recv(8))[0]
                sock.recv(4 + length)
        except OSError:
            pass
        finally:
            with self.comfy.lock:
                group = self.comfy.sockets.get(client_id, [])
                if (sock, lock) in group:
                    group.remove((sock, lock))
            self.close_connection = True
