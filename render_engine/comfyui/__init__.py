"""The `comfyui` final backend: finals rendered by the creator's own ComfyUI server.

A `[models.NAME]` with `backend = "comfyui"` names a server (`url`) and an API-format workflow
(`workflow`, exported with ComfyUI's "Export (API)"; relative to the production, or one of the
templates shipped in `render_engine/comfyui/workflows/` by file name). soloreel fills the nodes
whose titles start with `soloreel:` (`workflow`), uploads the shot's inputs, queues the prompt
and follows it on the websocket (`client`), checks a workflow against the server's
`/object_info` before anything is queued (`check`) and publishes the outputs like any other
final (`backend`). The HTTP and websocket API followed is ComfyUI's own, as defined in
comfyanonymous/ComfyUI `server.py` (routes) and `execution.py` (message types and order).
Only the standard library is used for HTTP and the websocket (RFC 6455), so the backend adds no
dependency.
"""

from __future__ import annotations

from render_engine.comfyui.client import ComfyClient, ComfyError

__all__ = ["ComfyClient", "ComfyError"]
