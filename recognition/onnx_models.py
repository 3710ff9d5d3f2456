"""Opening `kaobot export onnx` files with onnxruntime, shared by the `onnx` backends.

The export (`training/export.py`) stores the checkpoint's metadata as ONNX metadata properties:
`kaobot_kind` (`embedder` | `detector`), `model_id`, `arch`, `arch_kwargs` and `meta` (JSON), and
for detectors `resize` (JSON: the resize done before the graph, `recognition.detect.onnx_backend`).
Only onnxruntime is needed to read them (the `onnx` package is an export-only extra).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError, ModelFileError


@dataclass
class OnnxModel:
    """An onnxruntime session and the kaobot metadata of its file."""

    path: Path
    session: Any  # onnxruntime.InferenceSession
    model_id: str
    props: dict[str, str]

    def json_prop(self, key: str) -> Any:
        """A JSON-valued metadata property; a missing or malformed one raises `ModelFileError`."""
        try:
            return json.loads(self.props[key])
        except (KeyError, ValueError) as exc:
            raise ModelFileError(f"model file {self.path} lacks valid {key!r} metadata ({exc}); "
                                 "export it again with `kaobot export onnx`") from exc


def providers(device: str) -> list[str | tuple[str, dict]]:
    """onnxruntime execution providers for a kaobot device name (`auto`, `cpu`, `cuda`, `cuda:N`)."""
    import onnxruntime as ort

    cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if device == "cpu" or (device == "auto" and not cuda):
        return ["CPUExecutionProvider"]
    if device == "auto":
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device.startswith("cuda"):
        if not cuda:
            raise ConfigError(f"device {device!r} was asked for, but onnxruntime has no CUDA provider here")
        index = int(device.partition(":")[2] or 0)
        return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    raise ConfigError(f"unknown device {device!r}: use auto, cpu or cuda")


def open_onnx_model(path: str | Path, kind: str, device: str = "auto") -> OnnxModel:
    """Open a kaobot ONNX export of `kind`; every problem raises `ModelFileError` naming the file.

    Runs on `recognition.device.inference_threads()` intra-op threads (setting
    `inference.compute_threads`), without spinning between runs (spinning threads take the cores
    from whatever else runs).
    """
    import onnxruntime as ort

    from .device import inference_threads

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = inference_threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    chosen = providers(device)
    try:
        session = ort.InferenceSession(str(path), options, providers=chosen)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelFileError(f"model file {path} is not a valid ONNX model: {exc}") from exc
    props = dict(session.get_modelmeta().custom_metadata_map)
    found = props.get("kaobot_kind")
    if found is None or "model_id" not in props:
        raise ModelFileError(f"model file {path} has no kaobot metadata: write it with `kaobot export onnx`")
    if found != kind:
        raise ModelFileError(f"model file {path} holds a kaobot {found}, not a kaobot {kind}")
    return OnnxModel(path, session, props["model_id"], props)
