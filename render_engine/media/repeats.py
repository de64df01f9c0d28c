"""Write a frame that repeats the previous one without the encoder: a copied packet.

For a still picture held for seconds (a slate), the encoder's work per repeated frame is pure
waste. With an intra-only codec (DNxHR, ProRes) every packet is a whole picture, so the
previous packet is the repeated frame. With H.264 the repeat is an all-skip P picture
(`h264_repeat`), and the encoder's own pictures are renumbered around the copies; its IDR
pictures are forced where the GOP says keyframes belong, counted in frames of the movie.

`RepeatMuxer` keeps the movie's packets in frame order while the encoder holds frames back
(its delay): a copy waits until every earlier frame's packet is muxed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

import av

from render_engine.media.h264_repeat import H264Repeats, Unsupported

INTRA_CODECS = frozenset({"dnxhd", "prores_ks", "prores", "mjpeg"})
"""Encoders whose every packet is a whole picture."""
H264_CODECS = frozenset({"libx264"})
X264_DEFAULT_KEYINT = 250
"""x264's keyframe interval when the codec context does not set one."""


class RepeatMuxer:
    """Mux an encoder's packets and copies of the previous frame, in frame order."""

    def __init__(self, container: Any, stream: Any, codec: str, gop: int | None,
                 time_base: Fraction) -> None:
        self.container, self.stream, self.time_base = container, stream, time_base
        self.kind = ("intra" if codec in INTRA_CODECS
                     else "h264" if codec in H264_CODECS else None)
        self.gop = gop if gop and gop > 0 else X264_DEFAULT_KEYINT
        self.copied = 0
        """Frames written as copies, without the encoder."""
        self._h264: H264Repeats | None = None
        self._sent: deque[int] = deque()
        """Frames handed to the encoder whose packets have not come out yet."""
        self._copies: deque[int] = deque()
        """Copies waiting for the frames before them."""
        self._last: bytes | None = None
        """The last video packet muxed (what an intra copy repeats)."""
        self._last_idr = 0
        self._duration = 1

    def keyframe_due(self, index: int) -> bool:
        """Whether the encoder must make frame `index` a keyframe (H.264: the GOP counted in
        the movie's frames, which the encoder does not all see)."""
        return self.kind == "h264" and index > 0 and index % self.gop == 0

    def copy(self, index: int) -> bool:
        """Write frame `index` as a copy of the previous frame if this stream allows it;
        False when the encoder must take it."""
        if self.kind is None or index == 0 or self.keyframe_due(index):
            return False
        if self.kind == "h264" and self._h264 is None:
            try:
                self._h264 = H264Repeats(bytes(self.stream.codec_context.extradata or b""))
            except (Unsupported, IndexError, ValueError):
                self.kind = None
                return False
        self._copies.append(index)
        self.copied += 1
        self._mux_copies()
        return True

    def encoded(self, index: int, packets: Iterable[Any]) -> None:
        """Mux what the encoder gave after being handed frame `index`."""
        self._sent.append(index)
        self.take(packets)

    def take(self, packets: Iterable[Any]) -> None:
        """Mux encoder packets (in the order it gave them), then the copies now due."""
        for packet in packets:
            if self._sent:
                self._sent.popleft()
            self._mux_encoded(packet)
            self._mux_copies()

    def finish(self, flushed: Iterable[Any]) -> None:
        """Mux the encoder's last packets and every copy still waiting."""
        self.take(flushed)
        self._sent.clear()
        self._mux_copies()

    def _mux_encoded(self, packet: Any) -> None:
        if packet.duration:
            self._duration = packet.duration
        if self.kind == "h264" and packet.pts is not None:
            if self._h264 is None:  # nothing copied yet: the encoder's numbering holds
                if packet.is_keyframe:
                    self._last_idr = packet.pts
            else:
                data, idr = self._h264.renumber(bytes(packet), packet.pts - self._last_idr)
                if idr:
                    self._last_idr = packet.pts
                packet = self._packet(data, packet.pts, packet.is_keyframe, packet.duration)
        if self.kind == "intra":
            self._last = bytes(packet)
        self.container.mux(packet)

    def _mux_copies(self) -> None:
        while self._copies and (not self._sent or self._copies[0] < self._sent[0]):
            index = self._copies.popleft()
            if self.kind == "intra":
                assert self._last is not None
                data, keyframe = self._last, True
            else:
                assert self._h264 is not None
                data, keyframe = self._h264.skip_picture(index - self._last_idr), False
            packet = self._packet(data, index, keyframe, self._duration)
            self.container.mux(packet)

    def _packet(self, data: bytes, pts: int, keyframe: bool, duration: int) -> Any:
        packet = av.Packet(data)
        packet.pts = packet.dts = pts
        packet.time_base = self.time_base
        packet.duration = duration
        packet.is_keyframe = keyframe
        packet.stream = self.stream
        return packet
