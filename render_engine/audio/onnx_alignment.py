"""Expose a Piper voice's phoneme durations without the `onnx` package.

Piper 1.8 gets per-phoneme sample counts by marking the model's single `Ceil` tensor (the
rounded phoneme widths) as an extra graph output; its own `include_alignments=True` needs the
`onnx` package to do that, which is not a dependency here. The edit is tiny, so it is done on
the protobuf wire format directly: ModelProto.graph (field 7) gets one more
GraphProto.output (field 12) ValueInfoProto whose name (field 1) is the Ceil output.
"""

from __future__ import annotations

from collections.abc import Iterator

_MODEL_GRAPH, _GRAPH_NODE, _GRAPH_OUTPUT = 7, 1, 12
_NODE_OUTPUT, _NODE_OP_TYPE, _VALUE_INFO_NAME = 2, 4, 1
_LEN = 2


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    """Decode a protobuf varint at `pos`: (value, position after it)."""
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    """Encode a non-negative int as a protobuf varint."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | 0x80 if value else byte)
        if not value:
            return bytes(out)


def _fields(buf: memoryview, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, field start, value start, value end) for each field."""
    pos = start
    while pos < end:
        field_start = pos
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value_start = pos
            _, pos = _varint(buf, pos)
        elif wire == 1:
            value_start, pos = pos, pos + 8
        elif wire == 5:
            value_start, pos = pos, pos + 4
        elif wire == _LEN:
            length, value_start = _varint(buf, pos)
            pos = value_start + length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, field_start, value_start, pos


def _length_field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field."""
    return _encode_varint(number << 3 | _LEN) + _encode_varint(len(payload)) + payload


def add_alignment_output(model: bytes) -> bytes | None:
    """`model` (ONNX bytes) with its single Ceil tensor added as an output, or None.

    None means there is nothing to do: no graph, no Ceil or several (an unknown layout), or
    the tensor is already an output (a model patched by piper.patch_voice_with_alignment).
    """
    buf = memoryview(model)
    graph = next((f for f in _fields(buf, 0, len(buf)) if f[0] == _MODEL_GRAPH), None)
    if graph is None or graph[1] != _LEN:
        return None
    _, _, graph_field_start, graph_start, graph_end = graph
    ceil_outputs: list[bytes] = []
    outputs: list[bytes] = []
    for number, wire, _, start, end in _fields(buf, graph_start, graph_end):
        if wire != _LEN:
            continue
        if number == _GRAPH_NODE:
            node = [(n, bytes(buf[s:e])) for n, w, _, s, e in _fields(buf, start, end)
                    if w == _LEN and n in (_NODE_OUTPUT, _NODE_OP_TYPE)]
            if (_NODE_OP_TYPE, b"Ceil") in node:
                ceil_outputs += [value for n, value in node if n == _NODE_OUTPUT]
        elif number == _GRAPH_OUTPUT:
            outputs += [bytes(buf[s:e]) for n, w, _, s, e in _fields(buf, start, end)
                        if n == _VALUE_INFO_NAME and w == _LEN]
    if len(ceil_outputs) != 1 or ceil_outputs[0] in outputs:
        return None
    value_info = _length_field(_VALUE_INFO_NAME, ceil_outputs[0])
    new_graph = bytes(buf[graph_start:graph_end]) + _length_field(_GRAPH_OUTPUT, value_info)
    return (bytes(buf[:graph_field_start]) + _length_field(_MODEL_GRAPH, new_graph)
            + bytes(buf[graph_end:]))
