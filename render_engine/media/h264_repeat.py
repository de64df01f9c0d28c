"""Show the previous H.264 picture again without encoding it: an all-skip P picture.

A slate holds one picture for seconds at a time. Handing the encoder the same picture again
still costs a full motion search per frame; the H.264 standard has a cheaper way to say
"nothing changed": a P slice whose macroblocks are all skipped (one `mb_skip_run` covering
the picture), which copies the previous reference picture exactly. This module writes such
pictures itself and renumbers the encoder's own pictures around them, so one stream holds
both (ITU-T H.264 (08/2021) §7.3.3 slice header, §7.3.4 slice data, §7.4.3 `frame_num`).

It only works with streams it can reason about, checked on the encoder's SPS/PPS:
CAVLC entropy coding (an all-skip slice is then a handful of exp-Golomb codes), picture
order count type 2 (the order follows `frame_num`, so there is no POC field to rewrite),
one reference frame (no reference list edits to renumber), progressive frames, one slice
group, no weighted prediction, no redundant pictures. libx264 without B-frames makes such
streams (x264's `encoder/set.c` picks POC type 2 when there are no B-frames). Anything else
raises `Unsupported` and the caller keeps encoding every frame.

Every picture is a reference picture, so `frame_num` counts pictures since the last IDR
(modulo MaxFrameNum) with no gaps: the skip pictures take their numbers in that count and the
encoder's later pictures are renumbered to continue it.
"""

from __future__ import annotations

from dataclasses import dataclass

START_CODE = b"\x00\x00\x00\x01"
_SLICE, _IDR = 1, 5
"""NAL unit types of a non-IDR and an IDR coded slice."""


class Unsupported(Exception):
    """The stream uses a feature this module does not rewrite."""


class _Bits:
    """An MSB-first bit reader over an RBSP."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def u(self, count: int) -> int:
        value = 0
        for _ in range(count):
            byte = self.data[self.pos >> 3] if self.pos >> 3 < len(self.data) else 0
            value = (value << 1) | ((byte >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise Unsupported("malformed exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) // 2 if code & 1 else -(code // 2)


class _BitWriter:
    """An MSB-first bit writer building an RBSP."""

    def __init__(self) -> None:
        self.value, self.length = 0, 0

    def u(self, count: int, value: int) -> None:
        self.value = (self.value << count) | (value & ((1 << count) - 1))
        self.length += count

    def ue(self, value: int) -> None:
        code = value + 1
        length = code.bit_length()
        self.u(length - 1, 0)
        self.u(length, code)

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def trailing(self) -> bytes:
        """The bits with rbsp_trailing_bits (a stop bit, zeros to the byte boundary)."""
        value, length = (self.value << 1) | 1, self.length + 1
        pad = -length % 8
        return (value << pad).to_bytes((length + pad) // 8, "big")


def nal_units(data: bytes) -> list[bytes]:
    """The NAL units (header byte first) of an Annex B byte stream."""
    units, start = [], None
    index = 0
    while True:
        found = data.find(b"\x00\x00\x01", index)
        if found < 0:
            break
        if start is not None:
            end = found
            while end > start and data[end - 1] == 0:  # a zero byte before a 4-byte code
                end -= 1
            units.append(data[start:end])
        start = index = found + 3
    if start is not None and start < len(data):
        units.append(data[start:])
    return units


def unescape(payload: bytes) -> bytes:
    """RBSP from a NAL payload: emulation prevention bytes (00 00 03) dropped."""
    return payload.replace(b"\x00\x00\x03", b"\x00\x00")


def escape(rbsp: bytes) -> bytes:
    """A NAL payload from an RBSP: 03 inserted after 00 00 before any byte <= 03."""
    out = bytearray()
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


@dataclass(frozen=True)
class StreamParams:
    """What writing and renumbering slices needs from the stream's SPS and PPS."""

    log2_max_frame_num: int
    picture_mbs: int
    pps_id: int
    deblocking_control: bool
    """Whether slice headers carry `disable_deblocking_filter_idc`."""


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last = next_scale = 8
    for _ in range(size):
        if next_scale:
            next_scale = (last + bits.se() + 256) % 256
        last = next_scale or last


def _parse_sps(rbsp: bytes) -> tuple[int, int, int]:
    """(sps id, log2_max_frame_num, macroblocks per picture) of a supported SPS."""
    bits = _Bits(rbsp)
    profile = bits.u(8)
    bits.u(16)  # constraint flags, level
    sps_id = bits.ue()
    if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
        chroma = bits.ue()
        if chroma == 3:
            bits.u(1)
        bits.ue(), bits.ue(), bits.u(1)  # bit depths, transform bypass
        if bits.u(1):  # seq_scaling_matrix_present_flag
            for index in range(8 if chroma != 3 else 12):
                if bits.u(1):
                    _skip_scaling_list(bits, 16 if index < 6 else 64)
    log2_max_frame_num = bits.ue() + 4
    if bits.ue() != 2:
        raise Unsupported("picture order count type is not 2")
    if bits.ue() != 1:
        raise Unsupported("more than one reference frame")
    if bits.u(1):
        raise Unsupported("gaps in frame_num allowed")
    width_mbs, height_units = bits.ue() + 1, bits.ue() + 1
    if not bits.u(1):
        raise Unsupported("interlaced coding")
    return sps_id, log2_max_frame_num, width_mbs * height_units


def _parse_pps(rbsp: bytes) -> tuple[int, int, bool]:
    """(pps id, sps id, deblocking control present) of a supported PPS."""
    bits = _Bits(rbsp)
    pps_id, sps_id = bits.ue(), bits.ue()
    if bits.u(1):
        raise Unsupported("CABAC entropy coding")
    bits.u(1)  # bottom_field_pic_order_in_frame_present_flag
    if bits.ue() != 0:
        raise Unsupported("slice groups")
    if bits.ue() != 0:
        raise Unsupported("more than one default reference")
    bits.ue()
    if bits.u(1) or bits.u(2):
        raise Unsupported("weighted prediction")
    bits.se(), bits.se(), bits.se()
    deblocking = bool(bits.u(1))
    bits.u(1)  # constrained_intra_pred_flag
    if bits.u(1):
        raise Unsupported("redundant pictures")
    return pps_id, sps_id, deblocking


def stream_params(extradata: bytes) -> StreamParams:
    """The parameters of a stream from its SPS and PPS (Annex B or avcC extradata)."""
    units = nal_units(extradata) if extradata[:1] != b"\x01" else _avcc_units(extradata)
    sps = {}
    pps = []
    for unit in units:
        kind = unit[0] & 0x1F
        if kind == 7:
            sps_id, log2, mbs = _parse_sps(unescape(unit[1:]))
            sps[sps_id] = (log2, mbs)
        elif kind == 8:
            pps.append(_parse_pps(unescape(unit[1:])))
    if len(pps) != 1 or pps[0][1] not in sps:
        raise Unsupported("not exactly one PPS with its SPS")
    pps_id, sps_id, deblocking = pps[0]
    log2, mbs = sps[sps_id]
    return StreamParams(log2, mbs, pps_id, deblocking)


def _avcc_units(extradata: bytes) -> list[bytes]:
    """SPS and PPS NAL units of an avcC (ISO/IEC 14496-15) configuration record."""
    units, pos = [], 5
    for _kind in range(2):
        count = extradata[pos] & (0x1F if not units else 0xFF)
        pos += 1
        for _ in range(count):
            length = int.from_bytes(extradata[pos:pos + 2], "big")
            units.append(extradata[pos + 2:pos + 2 + length])
            pos += 2 + length
    return units


class H264Repeats:
    """All-skip pictures for one stream, and its encoder's pictures renumbered around them."""

    def __init__(self, extradata: bytes) -> None:
        self.params = stream_params(extradata)
        self.modulo = 1 << self.params.log2_max_frame_num

    def skip_picture(self, frame_num: int) -> bytes:
        """An access unit (Annex B) repeating the previous picture, numbered `frame_num`."""
        params = self.params
        bits = _BitWriter()
        bits.ue(0)  # first_mb_in_slice
        bits.ue(5)  # slice_type: P, as every slice of the picture
        bits.ue(params.pps_id)
        bits.u(params.log2_max_frame_num, frame_num % self.modulo)
        bits.u(1, 0)  # num_ref_idx_active_override_flag
        bits.u(1, 0)  # ref_pic_list_modification_flag_l0
        bits.u(1, 0)  # adaptive_ref_pic_marking_mode_flag: sliding window
        bits.se(0)  # slice_qp_delta
        if params.deblocking_control:
            bits.ue(1)  # disable_deblocking_filter_idc: nothing to filter in a copy
        bits.ue(params.picture_mbs)  # mb_skip_run: every macroblock
        return START_CODE + bytes([0x41]) + escape(bits.trailing())

    def renumber(self, packet: bytes, frame_num: int) -> tuple[bytes, bool]:
        """The encoder's access unit with its slices numbered `frame_num`; and whether it is
        an IDR picture (whose number stays 0)."""
        out = []
        idr = False
        for unit in nal_units(packet):
            kind = unit[0] & 0x1F
            if kind in (_SLICE, _IDR):
                idr = idr or kind == _IDR
                unit = unit[:1] + self._renumbered(unit[1:], 0 if kind == _IDR else frame_num)
            out.append(START_CODE + unit)
        return b"".join(out), idr

    def _renumbered(self, payload: bytes, frame_num: int) -> bytes:
        """A slice's NAL payload with `frame_num` rewritten. Only the header's first bytes
        are unescaped, changed and escaped again, up to a non-zero byte past `frame_num`
        (so no run of zeros spans the cut); the slice data after it is kept as it is."""
        head = self._head_bytes(payload)
        rbsp = unescape(payload[:head])
        bits = _Bits(rbsp)
        bits.ue(), bits.ue()
        if bits.ue() != self.params.pps_id:
            raise Unsupported("a slice refers to another PPS")
        start = bits.pos
        width = self.params.log2_max_frame_num
        data = bytearray(rbsp)
        value = frame_num % self.modulo
        for offset in range(width):
            bit = (value >> (width - 1 - offset)) & 1
            byte, shift = divmod(start + offset, 8)
            data[byte] = (data[byte] & ~(0x80 >> shift)) | (bit << (7 - shift))
        return escape(bytes(data)) + payload[head:]

    def _head_bytes(self, payload: bytes) -> int:
        """How many payload bytes hold the slice header up to `frame_num` and end on a
        non-zero byte that is not an emulation prevention byte (the whole payload if none)."""
        need = (3 * 2 * 32 + self.params.log2_max_frame_num) // 8 + 2  # ue()s are short here
        zeros = 0
        count = 0
        for index, byte in enumerate(payload):
            epb = zeros >= 2 and byte == 3
            zeros = 0 if epb else (zeros + 1 if byte == 0 else 0)
            if not epb:
                count += 1
                if count >= need and byte != 0:
                    return index + 1
        return len(payload)
