"""Long digital silences in an AAC soundtrack written as copies of the encoder's own silent
frame, not encoded one by one.

A slate's soundtrack is its dialog with exact zeros between the lines, often half of it; the
AAC encoder spends nearly as long on a frame of silence as on speech (its psychoacoustic model
and MDCT run either way). Inside a long silence every AAC frame is the same: zero spectra,
long windows (ISO/IEC 14496-3 §4.5.2.3, `individual_channel_stream` with every band zero), and
a decoder's overlap-add of zeros is zeros. So the encoder is given only the silence's edges,
`MARGIN` chunks on each side (enough for its window decisions, which look one frame ahead, and
for the frames before the gap to settle into the steady silent frame), and the frames in
between are copies of the steady frame it made just before the gap.

FFmpeg's native AAC encoder makes one packet per input frame, in order, the first one its
1024-sample priming, and counts time itself (libavcodec/aacenc.c), so each packet is stamped
here with its own chunk's time less the priming; the frames it skips leave a gap of time that
the copies fill. The encoder itself sees a shorter silence, nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import av
import numpy as np

MARGIN = 3
"""Silent chunks the encoder still sees before a gap it skips (the frame before the gap is
then the steady silent frame); after the gap it sees `MARGIN_AFTER` before any sound, so its
window decisions, which look one frame ahead, see the silence the copies stand for."""
MARGIN_AFTER = 2


def silent_chunks(audio: np.ndarray, total: int, chunk: int) -> np.ndarray:
    """Per chunk of `total` samples (the last one partial): whether it is all zeros (samples
    past the end of `audio` are silence)."""
    count = -(-total // chunk)
    padded = np.zeros((audio.shape[0], count * chunk), np.float32)
    take = min(audio.shape[1], total)
    padded[:, :take] = audio[:, :take]
    return ~padded.reshape(audio.shape[0], count, chunk).any(axis=(0, 2))


class SilenceCopies:
    """Which chunks the encoder skips, and the copies that stand in for them."""

    def __init__(self, stream: Any, silent: np.ndarray, chunk: int) -> None:
        self.stream, self.chunk = stream, chunk
        count = len(silent)
        self.skip = np.zeros(count, bool)
        for index in range(MARGIN, count - MARGIN_AFTER):
            self.skip[index] = bool(silent[index - MARGIN:index + MARGIN_AFTER + 1].all())
        self.copied = 0
        self._gaps: list[tuple[int, int]] = []
        """Gaps (first, last skipped chunk) waiting for the packet before them."""
        self._fed: list[int] = []
        """Chunks given to the encoder whose packet has not come out yet (one each, in
        order: the encoder counts its own time, so gaps in the input's pts are lost on it)."""
        self._verified: bool | None = None
        """Whether the encoder's first packet showed the delay this relies on (pts −chunk for
        the first input); None until it comes. Nothing is skipped unless True."""

    def skipped(self, index: int) -> bool:
        """Whether chunk `index` is left out (call once per chunk, in order)."""
        if not self.skip[index] or not self._verified:
            return False
        if self._gaps and self._gaps[-1][1] == index - 1:
            self._gaps[-1] = (self._gaps[-1][0], index)
        else:
            self._gaps.append((index, index))
        return True

    def after(self, index: int | None, packets: Iterable[Any]) -> list[Any]:
        """The encoder's packets after it was given chunk `index` (None: flushed), each
        stamped with the time of the chunk it stands for and followed by the copies of the
        gap it precedes."""
        if index is not None:
            self._fed.append(index)
        out = []
        for packet in packets:
            if self._verified is None:
                self._verified = packet.pts == -self.chunk
            made = self._fed.pop(0) if self._fed else None
            if made is not None and self._verified:
                packet.pts = packet.dts = (made - 1) * self.chunk
            out.append(packet)
            if made is not None and self._gaps and made == self._gaps[0][0] - 1:
                first, last = self._gaps.pop(0)
                template = bytes(packet)
                for gap_index in range(first, last + 1):
                    out.append(self._copy(template, packet, (gap_index - 1) * self.chunk))
        return out

    def _copy(self, data: bytes, like: Any, pts: int) -> Any:
        packet = av.Packet(data)
        packet.pts = packet.dts = pts
        packet.time_base = like.time_base
        packet.duration = like.duration or self.chunk
        packet.stream = self.stream
        packet.is_keyframe = like.is_keyframe
        self.copied += 1
        return packet
