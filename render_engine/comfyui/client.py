"""A small ComfyUI client on the standard library: HTTP routes and the `/ws` websocket.

The routes and JSON shapes are ComfyUI's (comfyanonymous/ComfyUI `server.py`):

- `POST /prompt` `{"prompt": graph, "client_id": id}` → `{"prompt_id", "number",
  "node_errors"}`; a graph that fails validation → HTTP 400 `{"error": {"type", "message",
  "details"}, "node_errors": {node_id: {"errors": [...], "class_type"}}}`;
- `POST /upload/image` (multipart: `image`, `subfolder`, `type`, `overwrite`) →
  `{"name", "subfolder", "type"}` — the route the ComfyUI front end uses for every input file,
  videos and audio included (LoadVideo / LoadAudio list the same input folder);
- `GET /history/{prompt_id}` → `{prompt_id: {"outputs": {node_id: {kind: [file refs]}},
  "status": {"status_str", "completed", "messages"}}}` (`{}` while queued or running);
- `GET /view?filename=&subfolder=&type=` → the file's bytes; `GET /object_info`;
  `POST /interrupt` (optionally `{"prompt_id"}`); `GET /queue`.

`GET /ws?clientId=ID` is a websocket (RFC 6455) on which the server sends JSON text frames
`{"type", "data"}` — `status`, then per prompt `execution_start`, `execution_cached`,
`executing` (`node` null when the prompt is done), `progress` (`value`/`max` of a node's
steps), `executed`, and one of `execution_success`, `execution_error`,
`execution_interrupted` (execution.py) — plus binary preview frames, which are skipped.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import socket
import ssl
import struct
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from render_engine.errors import SoloreelError

WS_GUID = "258EAFA5-E914-47DA-95C5-C0AB0DC85B11"
"""RFC 6455 §1.3: the GUID the server's Sec-WebSocket-Accept hashes with the client's key."""


class ComfyError(SoloreelError):
    """A ComfyUI problem the user can act on (the message names the server, node or fix)."""


class ServerLost(ComfyError):
    """The server cannot be reached, or dropped the connection (restarted, crashed)."""


@dataclass(frozen=True)
class FileRef:
    """A file on the server, as `/upload/image` answers and `/history` lists outputs."""

    filename: str
    subfolder: str = ""
    type: str = "output"

    @property
    def annotated(self) -> str:
        """The name a loader node's input takes: `subfolder/filename` (ComfyUI's
        `folder_paths.get_annotated_filepath` resolves it inside the input folder)."""
        return f"{self.subfolder}/{self.filename}" if self.subfolder else self.filename


class WebSocket:
    """A minimal RFC 6455 client: the opening handshake, unmasked server frames (text, binary,
    ping, close; fragmented messages joined) and masked client frames."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    @classmethod
    def connect(cls, host: str, port: int, path: str, timeout: float,
                secure: bool = False) -> WebSocket:
        """Open `ws://host:port/path` (`wss://` when `secure`: a ComfyUI behind a TLS proxy);
        raises ServerLost when the server refuses it."""
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
            if secure:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        except OSError as exc:
            raise ServerLost(f"cannot connect to ws://{host}:{port}{path} ({exc})") from exc
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n")
        ws = cls(sock)
        try:
            sock.sendall(request.encode())
            head = ws._read_until(b"\r\n\r\n").decode("latin-1")
        except OSError as exc:
            sock.close()
            raise ServerLost(f"websocket handshake with {host}:{port} failed ({exc})") from exc
        expected = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        if " 101 " not in head.split("\r\n", 1)[0] or expected not in head:
            sock.close()
            raise ServerLost(f"{host}:{port}{path} did not accept a websocket "
                             f"({head.splitlines()[0] if head else 'no answer'})")
        return ws

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            self.buffer += chunk
        head, _sep, self.buffer = self.buffer.partition(marker)
        return head

    def _read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = self.sock.recv(max(65536, count - len(self.buffer)))
            if not chunk:
                raise ConnectionError("the server closed the websocket")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def send(self, opcode: int, payload: bytes = b"") -> None:
        """Send one masked frame (clients must mask, RFC 6455 §5.3)."""
        mask = os.urandom(4)
        length = len(payload)
        head = bytes([0x80 | opcode])
        if length < 126:
            head += bytes([0x80 | length])
        elif length < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack(">H", length)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def receive(self) -> tuple[int, bytes]:
        """The next whole message (opcode 1 text, 2 binary, 8 close); answers pings.
        Raises ConnectionError when the connection ends, socket.timeout on a quiet socket."""
        message, first_opcode = b"", 0
        while True:
            b0, b1 = self._read(2)
            opcode, final = b0 & 0x0F, bool(b0 & 0x80)
            length = b1 & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else b""
            payload = self._read(length)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 9:  # ping
                self.send(10, payload)
                continue
            if opcode == 10:
                continue
            if opcode == 8:
                return 8, payload
            if opcode:
                first_opcode = opcode
            message += payload
            if final:
                return first_opcode, message

    def close(self) -> None:
        """Send a close frame (best effort) and close the socket."""
        with contextlib.suppress(OSError):
            self.send(8, struct.pack(">H", 1000))
        with contextlib.suppress(OSError):
            self.sock.close()


def _multipart(fields: dict[str, str], file_field: str, filename: str, data: bytes
               ) -> tuple[bytes, str]:
    """A multipart/form-data body (RFC 7578) and its content type."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     f"{value}\r\n".encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
                 f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                 .encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class ComfyClient:
    """One ComfyUI server (`url`) seen by one client id (the websocket only carries the
    progress of prompts queued with the same `client_id`)."""

    def __init__(self, url: str, client_id: str | None = None, timeout: float = 30.0,
                 model: str = "") -> None:
        parsed = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ComfyError(f'ComfyUI url "{url}" is not an http:// address; fix '
                             f"models.{model or 'NAME'}.url (e.g. http://127.0.0.1:8188)")
        self.url = f"{parsed.scheme}://{parsed.netloc}{parsed.path.rstrip('/')}"
        self.host = parsed.hostname
        self.port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self.base_path = parsed.path.rstrip("/")
        self.client_id = client_id or uuid.uuid4().hex
        self.timeout = timeout
        self.model = model

    # ----------------------------------------------------------------------- HTTP

    def _where(self) -> str:
        fix = f"models.{self.model}.url" if self.model else "the url"
        return f"ComfyUI at {self.url} (start it, or fix {fix} in soloreel.toml)"

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str = "application/json", timeout: float | None = None
                ) -> bytes:
        """One HTTP exchange; a refused connection is ServerLost, an HTTP error ComfyError
        carrying the server's JSON (`exc.payload`)."""
        req = urllib.request.Request(self.url + path, data=body, method=method)
        if body is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as answer:
                return answer.read()
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", "replace")
            error = ComfyError(f"{self._where()}: {method} {path} answered {exc.code}: "
                               f"{text[:300]}")
            try:
                error.payload = json.loads(text)  # type: ignore[attr-defined]
            except ValueError:
                error.payload = {}  # type: ignore[attr-defined]
            error.status = exc.code  # type: ignore[attr-defined]
            raise error from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServerLost(f"{self._where()} is not reachable ({reason})") from None

    def get_json(self, path: str, timeout: float | None = None) -> Any:
        """GET a JSON route."""
        return json.loads(self.request("GET", path, timeout=timeout) or b"null")

    def post_json(self, path: str, payload: Any) -> Any:
        """POST JSON, answer parsed (empty answers are None)."""
        answer = self.request("POST", path, json.dumps(payload).encode())
        return json.loads(answer) if answer.strip() else None

    def object_info(self, timeout: float | None = None) -> dict[str, Any]:
        """Every node class the server knows, with its inputs (`GET /object_info`)."""
        return self.get_json("/object_info", timeout)

    def upload(self, name: str, data: bytes, subfolder: str = "soloreel") -> FileRef:
        """Put an input file (image, video, audio) into the server's input folder
        (`POST /upload/image`, overwriting a file of the same name)."""
        body, kind = _multipart({"subfolder": subfolder, "type": "input", "overwrite": "true"},
                                "image", name, data)
        answer = json.loads(self.request("POST", "/upload/image", body, kind))
        return FileRef(answer["name"], answer.get("subfolder", ""), answer.get("type", "input"))

    def queue_prompt(self, graph: dict[str, Any]) -> str:
        """Queue an API-format graph; its prompt id. A graph the server rejects raises
        ComfyError naming each failing node (class, title, input and the server's reason)."""
        try:
            answer = self.post_json("/prompt", {"prompt": graph, "client_id": self.client_id})
        except ServerLost:
            raise
        except ComfyError as exc:
            payload = getattr(exc, "payload", {}) or {}
            raise ComfyError(f"{self.url} refused the workflow: "
                             f"{describe_rejection(payload, graph) or exc}") from None
        if answer.get("node_errors"):
            raise ComfyError(f"{self.url} refused the workflow: "
                             f"{describe_rejection(answer, graph)}")
        return str(answer["prompt_id"])

    def history(self, prompt_id: str) -> dict[str, Any] | None:
        """The prompt's history entry (outputs, status); None while queued or running."""
        return self.get_json(f"/history/{urllib.parse.quote(prompt_id)}").get(prompt_id)

    def view(self, ref: FileRef) -> bytes:
        """An output file's bytes (`GET /view`)."""
        query = urllib.parse.urlencode({"filename": ref.filename, "subfolder": ref.subfolder,
                                        "type": ref.type})
        return self.request("GET", f"/view?{query}")

    def interrupt(self, prompt_id: str | None = None) -> None:
        """Stop the running prompt (`POST /interrupt`; newer servers stop only `prompt_id`)."""
        self.post_json("/interrupt", {"prompt_id": prompt_id} if prompt_id else {})

    # ----------------------------------------------------------------------- websocket

    def messages(self, timeout: float = 5.0) -> Iterator[dict[str, Any] | None]:
        """JSON messages from `/ws?clientId=…`; None when `timeout` seconds pass without one
        (the caller polls /history then). Ends with ServerLost when the connection drops."""
        path = f"{self.base_path}/ws?clientId={urllib.parse.quote(self.client_id)}"
        ws = WebSocket.connect(self.host, self.port, path, self.timeout,
                               secure=self.url.startswith("https://"))
        ws.sock.settimeout(timeout)
        try:
            while True:
                try:
                    opcode, payload = ws.receive()
                except TimeoutError:
                    yield None
                    continue
                except (ConnectionError, OSError) as exc:
                    raise ServerLost(f"{self._where()} dropped the connection ({exc})") from exc
                if opcode == 8:
                    raise ServerLost(f"{self._where()} closed the websocket")
                if opcode == 1:
                    with contextlib.suppress(ValueError):
                        yield json.loads(payload)
        finally:
            ws.close()


def describe_rejection(payload: dict[str, Any], graph: dict[str, Any]) -> str:
    """One line per node the server's validation rejected (`node_errors` of /prompt)."""
    lines = []
    for node_id, found in (payload.get("node_errors") or {}).items():
        node = graph.get(str(node_id), {})
        title = (node.get("_meta") or {}).get("title") or ""
        title = "" if title == node.get("class_type") else title
        for error in found.get("errors", []):
            detail = error.get("details") or error.get("message", "")
            lines.append(f'node {node_id} ({found.get("class_type") or node.get("class_type")}'
                         f'{f" {title!r}" if title else ""}): {detail}')
    error = payload.get("error")
    if not lines and isinstance(error, dict):
        lines.append(f"{error.get('message', '')} {error.get('details', '')}".strip())
    return "; ".join(lines)
