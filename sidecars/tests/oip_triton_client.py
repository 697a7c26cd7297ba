"""Drive a sidecar with tritonclient, NVIDIA's Open Inference Protocol client from PyPI, and print
what it saw as one JSON object. Runs in .venv-clients (harness/setup/ensure.js), never in the
sidecar's venv, and imports nothing from sidecars: test_tritonclient.py reads its output.

    .venv-clients/bin/python sidecars/tests/oip_triton_client.py http|grpc HOST:PORT < spec.json

spec: {"model", "binary": bool, "inputs": [{"name", "datatype", "shape", "data": flat list}],
       "outputs"?: [names], "bad": [{"model"?, "inputs": [...]}]}  (BYTES data as strings)
"""
from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np


def array(tensor: dict[str, Any]) -> np.ndarray:
    if tensor["datatype"] == "BYTES":
        return np.array([s.encode() for s in tensor["data"]], dtype=object).reshape(tensor["shape"])
    dtype = {"FP32": np.float32, "FP64": np.float64, "INT32": np.int32, "INT64": np.int64}[tensor["datatype"]]
    return np.array(tensor["data"], dtype=dtype).reshape(tensor["shape"])


def as_list(value: np.ndarray) -> list[Any]:
    flat = value.reshape(-1)
    if flat.dtype == object:
        return [v.decode() if isinstance(v, bytes) else str(v) for v in flat]
    return flat.tolist()


def main(protocol: str, url: str) -> dict[str, Any]:
    if protocol == "http":
        import tritonclient.http as client_module
    else:
        import tritonclient.grpc as client_module
    from tritonclient.utils import InferenceServerException

    spec = json.load(sys.stdin)
    client = client_module.InferenceServerClient(url)
    binary = bool(spec.get("binary"))

    def inputs(tensors: list[dict[str, Any]]) -> list[Any]:
        made = []
        for tensor in tensors:
            value = client_module.InferInput(tensor["name"], list(tensor["shape"]), tensor["datatype"])
            if protocol == "http":
                value.set_data_from_numpy(array(tensor), binary_data=binary)
            else:
                value.set_data_from_numpy(array(tensor))
            made.append(value)
        return made

    def outputs(names: list[str] | None) -> list[Any] | None:
        if names is None:
            return None
        if protocol == "http":
            return [client_module.InferRequestedOutput(name, binary_data=binary) for name in names]
        return [client_module.InferRequestedOutput(name) for name in names]

    model = spec["model"]
    meta = client.get_model_metadata(model)
    if protocol == "grpc":
        from google.protobuf.json_format import MessageToDict

        meta = MessageToDict(meta)
        for tensor in meta.get("inputs", []) + meta.get("outputs", []):
            tensor["shape"] = [int(d) for d in tensor["shape"]]
    reply = client.infer(model, inputs(spec["inputs"]), outputs=outputs(spec.get("outputs")))
    response = reply.get_response()
    names = [o["name"] for o in response["outputs"]] if protocol == "http" else [o.name for o in response.outputs]
    errors = []
    for bad in spec.get("bad", []):
        try:
            client.infer(bad.get("model", model), inputs(bad["inputs"]))
            errors.append({"status": "OK"})
        except InferenceServerException as exc:
            errors.append({"status": str(exc.status()), "message": exc.message()})
    return {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(model),
        "extensions": list(client.get_server_metadata()["extensions"] if protocol == "http"
                           else client.get_server_metadata().extensions),
        "metadata": {key: meta.get(key) for key in ("name", "inputs", "outputs")},
        "outputs": {name: {"dtype": str(reply.as_numpy(name).dtype), "shape": list(reply.as_numpy(name).shape),
                           "data": as_list(reply.as_numpy(name))} for name in names},
        "errors": errors,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
