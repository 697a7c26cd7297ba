"""`inference.GRPCInferenceService`, the Open Inference Protocol's gRPC API (KServe v2), from
sidecars/proto/grpc_predict_v2.proto, served beside `sidecar.v1.Sidecar` on the same server
(grpc_server.py adds it, under the same in-flight budget, to both `--grpc-server` set-ups).

Inputs come as `raw_input_contents` or typed `contents`; outputs always go as
`raw_output_contents`. Errors are statuses with our code in `sidecar-error-code`, as on the
Sidecar service; an unknown model is NOT_FOUND (docs/protocol.md, "inference.GRPCInferenceService").
"""
from __future__ import annotations

from concurrent import futures
from typing import Any, Callable

import grpc
import numpy as np

from ..cores.base import Core
from ..ops import infer as run_infer
from ..tensors import DATATYPES, MAX_TENSORS, check_datatype, check_shape, element_count, from_raw, to_raw
from .grpc_budget import InflightBudget, budget_aio, budget_thread
from . import grpc_server
from .grpc_server import _abort, _abort_aio, _parse, _serialize
from .oip_rest import EXTENSIONS, SERVER_NAME, bad, metadata_for, server_version

PROTO = "sidecars/proto/grpc_predict_v2.proto"  # relative to the repository root, which must be on sys.path
SERVICE = "GRPCInferenceService"
# The typed field of InferTensorContents for each datatype (FP16 has none: raw only).
CONTENTS_FIELD = {"BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
                  "INT64": "int64_contents", "UINT8": "uint_contents", "UINT16": "uint_contents",
                  "UINT32": "uint_contents", "UINT64": "uint64_contents", "FP32": "fp32_contents",
                  "FP64": "fp64_contents", "BYTES": "bytes_contents"}
OUTPUT_PARAMETERS = ("binary_data",)  # tritonclient's hint; every output goes raw anyway


def load_messages() -> Any:
    """The message module compiled from PROTO."""
    return grpc_server.load_messages(PROTO)


class OipOps:
    """Request bytes in, core call, response message out (blocking), for both servers."""

    def __init__(self, core: Core, pb: Any) -> None:
        self.core = core
        self.pb = pb

    def server_live(self, raw: bytes) -> Any:
        _parse(self.pb.ServerLiveRequest, raw)
        return self.pb.ServerLiveResponse(live=True)

    def server_ready(self, raw: bytes) -> Any:
        _parse(self.pb.ServerReadyRequest, raw)
        return self.pb.ServerReadyResponse(ready=True)

    def server_metadata(self, raw: bytes) -> Any:
        _parse(self.pb.ServerMetadataRequest, raw)
        return self.pb.ServerMetadataResponse(name=SERVER_NAME, version=server_version(), extensions=EXTENSIONS)

    def model_ready(self, raw: bytes) -> Any:
        request = _parse(self.pb.ModelReadyRequest, raw)
        metadata_for(self.core, request.name, request.version)
        return self.pb.ModelReadyResponse(ready=True)

    def model_metadata(self, raw: bytes) -> Any:
        request = _parse(self.pb.ModelMetadataRequest, raw)
        meta = metadata_for(self.core, request.name, request.version)
        tensor = self.pb.ModelMetadataResponse.TensorMetadata
        return self.pb.ModelMetadataResponse(
            name=meta["name"], versions=[str(v) for v in meta.get("versions") or []], platform=meta.get("platform") or "",
            inputs=[tensor(name=t["name"], datatype=t["datatype"], shape=t["shape"]) for t in meta["inputs"]],
            outputs=[tensor(name=t["name"], datatype=t["datatype"], shape=t["shape"]) for t in meta["outputs"]])

    def model_infer(self, raw: bytes) -> Any:
        request = _parse(self.pb.ModelInferRequest, raw)
        meta = metadata_for(self.core, request.model_name, request.model_version)
        inputs, datatypes = self._inputs(request)
        kinds = {str(o["name"]): str(o["datatype"]) for o in meta["outputs"]}
        chosen = self._outputs(request, list(kinds))
        result = run_infer(self.core, inputs, datatypes)
        reply = self.pb.ModelInferResponse(model_name=meta["name"], id=request.id)
        if meta.get("versions"):
            reply.model_version = str(meta["versions"][0])
        reply.parameters["compute_ns"].int64_param = int(result.compute_ns)
        for name in chosen:
            array = result.outputs[name]
            reply.outputs.add(name=name, datatype=kinds[name], shape=list(array.shape))
            reply.raw_output_contents.append(to_raw(array, kinds[name]))
        return reply

    def _inputs(self, request: Any) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        entries, raws = request.inputs, request.raw_input_contents
        if not 1 <= len(entries) <= MAX_TENSORS:
            raise bad(f"Expected 1 to {MAX_TENSORS} inputs, got {len(entries)}")
        if raws and len(raws) != len(entries):
            raise bad(f"Expected one raw_input_contents entry per input ({len(entries)}), got {len(raws)}")
        inputs: dict[str, np.ndarray] = {}
        datatypes: dict[str, str] = {}
        for i, entry in enumerate(entries):
            name = entry.name
            if not name or name in inputs:
                raise bad(f"Expected each input to have a name, once; got {name!r} at index {i}")
            if entry.parameters:
                raise bad(f"Expected no parameters on input `{name}`, got `{next(iter(entry.parameters))}` (not supported here)")
            datatype, shape = check_datatype(entry.datatype), check_shape(list(entry.shape))
            if raws:
                if entry.HasField("contents"):
                    raise bad(f"Expected input `{name}` in raw_input_contents or contents, not both")
                inputs[name] = from_raw(name, datatype, shape, raws[i])
            else:
                inputs[name] = from_contents(name, datatype, shape, entry.contents)
            datatypes[name] = datatype
        return inputs, datatypes

    def _outputs(self, request: Any, declared: list[str]) -> list[str]:
        if not request.outputs:
            return declared
        chosen: list[str] = []
        for entry in request.outputs:
            if entry.name not in declared:
                raise bad(f"Expected requested outputs among {declared}, got {entry.name!r}")
            unknown = [key for key in entry.parameters if key not in OUTPUT_PARAMETERS]
            if unknown:
                raise bad(f"Expected parameters of output `{entry.name}` among {list(OUTPUT_PARAMETERS)}, got `{unknown[0]}`")
            chosen.append(entry.name)
        return chosen


def from_contents(name: str, datatype: str, shape: list[int], contents: Any) -> np.ndarray:
    """A typed `contents` field as an array: its length checked before anything is allocated,
    narrow integers (INT8 in int_contents' int32) checked against their datatype's range."""
    field = CONTENTS_FIELD.get(datatype)
    if field is None:
        raise bad(f"Expected input `{name}` ({datatype}) in raw_input_contents: {datatype} has no typed contents")
    values = getattr(contents, field)
    count = element_count(shape)
    if len(values) != count:
        raise bad(f"Expected {count} elements in contents.{field} for input `{name}` ({datatype} {shape}), got {len(values)}")
    if datatype == "BYTES":
        out = np.empty(count, dtype=object)
        out[:] = list(values)
        return out.reshape(shape)
    dtype = DATATYPES[datatype]
    assert dtype is not None
    wide = np.asarray(values, dtype=np.float64 if dtype.kind == "f" else (np.uint64 if dtype.kind == "u" else np.int64))
    if dtype.kind in "iu" and wide.size:
        info = np.iinfo(dtype)
        if wide.min() < info.min or wide.max() > info.max:
            raise bad(f"An element of input `{name}` is out of range for {datatype}")
    return wide.astype(dtype).reshape(shape)


_METHODS = {"ServerLive": "server_live", "ServerReady": "server_ready", "ServerMetadata": "server_metadata",
            "ModelReady": "model_ready", "ModelMetadata": "model_metadata", "ModelInfer": "model_infer"}


def _handler(behaviours: dict[str, Callable[..., Any]], pb: Any) -> grpc.GenericRpcHandler:
    service = pb.DESCRIPTOR.services_by_name[SERVICE]
    methods = {m.name: grpc.unary_unary_rpc_method_handler(behaviours[m.name], response_serializer=_serialize)
               for m in service.methods}
    return grpc.method_handlers_generic_handler(service.full_name, methods)


def thread_handler(core: Core, budget: InflightBudget) -> grpc.GenericRpcHandler:
    """For grpc.server: handlers run on its pool, so the core is called directly."""
    ops = OipOps(core, load_messages())
    behaviours = {rpc: grpc_server.thread_unary(getattr(ops, name)) for rpc, name in _METHODS.items()}
    return _handler(budget_thread(behaviours, budget, _abort), ops.pb)


def aio_handler(core: Core, budget: InflightBudget, pool: futures.Executor) -> grpc.GenericRpcHandler:
    """For grpc.aio: ModelInfer (the model's code) runs on `pool`; the rest is cheap and stays on the loop."""
    ops = OipOps(core, load_messages())
    behaviours = {rpc: grpc_server.aio_unary(getattr(ops, name), pool, rpc != "ModelInfer") for rpc, name in _METHODS.items()}
    return _handler(budget_aio(behaviours, budget, _abort_aio), ops.pb)
