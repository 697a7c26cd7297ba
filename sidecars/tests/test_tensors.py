"""The tensor contract (sidecars/tensors.py) and the framed tensor list (frontends/tensor_frames.py):
round trips of every datatype, and every way a tensor list can be malformed, refused before any
allocation the request's size does not pay for."""
from __future__ import annotations

import struct
import tracemalloc

import numpy as np
import pytest

from sidecars.errors import SidecarError
from sidecars.frontends.tensor_frames import CODE_DATATYPES, DATATYPE_CODES, coalesce, decode_tensors, encode_tensors
from sidecars.tensors import DATATYPES, check_inputs, datatype_of, from_json, from_raw, to_json, to_raw

SAMPLES: dict[str, np.ndarray] = {
    "BOOL": np.array([[True, False], [False, True]]),
    "UINT8": np.array([0, 1, 255], dtype=np.uint8),
    "UINT16": np.array([0, 65535], dtype=np.uint16),
    "UINT32": np.array([2**32 - 1], dtype=np.uint32),
    "UINT64": np.array([2**64 - 1], dtype=np.uint64),
    "INT8": np.array([-128, 127], dtype=np.int8),
    "INT16": np.array([-32768], dtype=np.int16),
    "INT32": np.array([[-(2**31)], [7]], dtype=np.int32),
    "INT64": np.array([-(2**63), 2**63 - 1], dtype=np.int64),
    "FP16": np.array([1.5, -0.0], dtype=np.float16),
    "FP32": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
    "FP64": np.array(3.25),  # rank 0
    "BYTES": np.array([b"", b"h\xc3\xa9", b"\x00\xff"], dtype=object),
}


def tensor(name: bytes, code: int, dims: list[int], data: bytes, data_len: int | None = None) -> bytes:
    size = len(data) if data_len is None else data_len
    return (bytes([len(name)]) + name + bytes([code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
            + struct.pack(">I", size) + data)


def refused(body: bytes) -> str:
    with pytest.raises(SidecarError) as info:
        decode_tensors(body)
    assert info.value.code == "BAD_INPUT"
    return info.value.message


def test_the_codes_are_the_wire_spec() -> None:
    assert DATATYPE_CODES == {"BOOL": 0, "UINT8": 1, "UINT16": 2, "UINT32": 3, "UINT64": 4, "INT8": 5, "INT16": 6,
                              "INT32": 7, "INT64": 8, "FP16": 9, "FP32": 10, "FP64": 11, "BYTES": 12}
    assert set(CODE_DATATYPES.values()) == set(DATATYPES)


@pytest.mark.parametrize("datatype", sorted(SAMPLES))
def test_every_datatype_round_trips_raw_and_framed(datatype: str) -> None:
    array = SAMPLES[datatype]
    assert datatype_of(array) == datatype
    back = from_raw("t", datatype, array.shape, to_raw(array, datatype))
    assert back.shape == array.shape and back.tolist() == array.tolist()
    (name, decoded), = decode_tensors(b"".join(encode_tensors({"t": array})))[0].items()
    assert name == "t" and decoded.shape == array.shape and decoded.tolist() == array.tolist()


def test_raw_is_little_endian_and_big_endian_arrays_are_converted() -> None:
    assert to_raw(np.array([1], dtype=">u4"), "UINT32") == b"\x01\x00\x00\x00"
    assert to_raw(np.array([b"ab"], dtype=object), "BYTES") == b"\x02\x00\x00\x00ab"


def test_the_framed_layout_byte_by_byte() -> None:
    body = b"".join(encode_tensors({"x": np.array([[1, 2]], dtype=np.uint16)}))
    assert body == bytes([1, 1]) + b"x" + bytes([2, 2]) + b"\x00\x00\x00\x01\x00\x00\x00\x02" \
        + b"\x00\x00\x00\x04" + b"\x01\x00\x02\x00"


def test_several_tensors_keep_their_order_and_decoded_arrays_are_read_only_views() -> None:
    body = b"".join(encode_tensors({"b": SAMPLES["INT8"], "a": SAMPLES["BYTES"], "c": SAMPLES["FP32"]}))
    inputs, datatypes = decode_tensors(body)
    assert list(inputs) == ["b", "a", "c"] and datatypes == {"b": "INT8", "a": "BYTES", "c": "FP32"}
    assert not inputs["c"].flags.writeable


def test_every_truncation_is_refused() -> None:
    body = b"".join(encode_tensors({"x": SAMPLES["FP32"], "w": SAMPLES["BYTES"]}))
    for cut in range(len(body)):
        refused(body[:cut])
    decode_tensors(body)


@pytest.mark.parametrize("count", [0, 65, 255])
def test_a_tensor_count_outside_1_to_64_is_refused(count: int) -> None:
    assert "1 to 64 tensors" in refused(bytes([count]) + tensor(b"x", 1, [1], b"\x00") * min(count, 65))


def test_64_tensors_are_accepted() -> None:
    body = bytes([64]) + b"".join(tensor(f"t{i}".encode(), 1, [1], b"\x07") for i in range(64))
    assert len(decode_tensors(body)[0]) == 64


def test_malformed_tensors_are_refused_with_what_is_wrong() -> None:
    assert "rank" in refused(b"\x01" + tensor(b"x", 1, [1] * 9, b"\x00"))
    assert "datatype code" in refused(b"\x01" + tensor(b"x", 13, [1], b"\x00"))
    assert "name" in refused(b"\x01" + tensor(b"", 1, [1], b"\x00"))
    assert "UTF-8" in refused(b"\x01" + tensor(b"\xff", 1, [1], b"\x00"))
    assert "twice" in refused(b"\x02" + tensor(b"x", 1, [1], b"\x00") * 2)
    assert "more bytes" in refused(b"\x01" + tensor(b"x", 1, [1], b"\x00") + b"\x00")
    assert "Expected 8 data bytes" in refused(b"\x01" + tensor(b"x", 10, [2], b"\x00" * 4))


def test_huge_dims_allocate_nothing() -> None:
    dims = [2**32 - 1] * 8  # about 10^77 elements
    tracemalloc.start()
    try:
        for code in (1, 10, 12):
            message = refused(b"\x01" + tensor(b"x", code, dims, b"\x00" * 16))
            assert "bytes" in message
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_data_len_past_the_end_is_refused_before_slicing() -> None:
    assert "ends inside its data" in refused(b"\x01" + tensor(b"x", 1, [4], b"\x00", data_len=4))
    assert "ends inside its data" in refused(b"\x01" + tensor(b"x", 1, [1], b"", data_len=2**32 - 1))


def test_bytes_elements_past_the_end_are_refused() -> None:
    element = struct.pack("<I", 100) + b"abc"  # declares 100 bytes, 3 follow
    assert "element 0 declares 100 bytes" in refused(b"\x01" + tensor(b"w", 12, [1], element))
    assert "after its 1 elements" in refused(b"\x01" + tensor(b"w", 12, [1], struct.pack("<I", 1) + b"ab"))


def test_check_inputs_names_the_problem() -> None:
    specs = [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]
    x = np.zeros((2, 4), dtype=np.float32)
    check_inputs(specs, {"x": x}, {"x": "FP32"})
    for inputs, datatypes, words in (({}, {}, "Missing input `x`"),
                                     ({"x": x, "y": x}, {"x": "FP32", "y": "FP32"}, "Unexpected input `y`"),
                                     ({"x": x}, {"x": "FP64"}, "to be FP32, got FP64"),
                                     ({"x": x.reshape(8)}, {"x": "FP32"}, "shape [-1, 4]"),
                                     ({"x": x.reshape(4, 2)}, {"x": "FP32"}, "got [4, 2]")):
        with pytest.raises(SidecarError, match=words.replace("[", r"\[").replace("]", r"\]")) as info:
            check_inputs(specs, inputs, datatypes)
        assert info.value.code == "BAD_INPUT"


def test_json_form() -> None:
    assert from_json("x", "INT8", [2, 2], [[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert to_json(SAMPLES["BYTES"], "BYTES") == ["", "hé", "\x00\ufffd"]
    for data in ([1, 2, 3], [1.5, 2, 3, 4], [True, 1, 2, 3], [300, 0, 0, 0]):
        with pytest.raises(SidecarError):
            from_json("x", "INT8", [4] if len(data) == 4 else [4], data)


@pytest.mark.parametrize("datatype,data", [
    ("UINT8", [0, 255, 7]), ("INT64", [-2**63, 2**63 - 1, 0]), ("UINT64", [2**64 - 1, 0, 1]),
    ("FP32", [1, 2.5, -3]), ("FP64", [1e300, -0.0, 2]), ("BOOL", [True, False, True]), ("INT16", [1.0, 2, 3]),
])
def test_json_flat_lists_decode_as_nested_ones_do(datatype: str, data: list[object]) -> None:
    """The fast path for flat lists gives what the element-by-element path gives (nesting takes it)."""
    flat = from_json("x", datatype, [3], data)
    nested = from_json("x", datatype, [3, 1], [[v] for v in data])
    assert flat.dtype == nested.dtype and flat.tolist() == nested.reshape(3).tolist()


@pytest.mark.parametrize("datatype,data", [
    ("UINT8", [0, 256, 1]), ("UINT8", [-1, 0, 1]), ("INT8", [True, 1, 2]), ("UINT64", [2**64, 0, 1]),
    ("INT64", [2**63, 0, 1]), ("FP32", [True, 1.0, 2.0]), ("BOOL", [1, 0, 1]), ("INT32", [1.5, 2, 3]), ("FP64", ["1", 2, 3]),
])
def test_json_flat_lists_refuse_what_nested_ones_refuse(datatype: str, data: list[object]) -> None:
    with pytest.raises(SidecarError) as info:
        from_json("x", datatype, [3], data)
    assert info.value.code == "BAD_INPUT"


def test_coalesce_joins_small_buffers_and_keeps_large_ones_apart() -> None:
    big = b"\x00" * 70_000
    assert coalesce([b"a", b"b", big, b"c"]) == [b"ab", big, b"c"]
    assert coalesce([b"a", b"b"]) == [b"ab"]
