"""Opening `kaobot export onnx` files with onnxruntime, shared by the `onnx` backends.

The export (`training/export.py`) stores the checkpoint's metadata as ONNX metadata properties:
`kaobot_kind` (`embedder` | `detector`), `model_id`, `arch`, `arch_kwargs` and `meta` (JSON), and
for detectors `resize` (JSON: the resize done before the graph, `recognition.detect.onnx_backend`).
Only onnxruntime is needed to read them (the `onnx` package is an export-only extra).

Twins (below): the exports of torch checkpoints that the `torch` and `fusion` backends run instead
of torch, so that the default models load without importing torch (`kaobot export twins`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError, ModelFileError

log = logging.getLogger(__name__)


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


# --- Twins: the torch checkpoints' exports, run without importing torch -------------------------
#
# A checkpoint `X.pt` may have a twin beside it: `X.onnx` (a network, `kaobot export twins`) or
# `X.npz` (a numpy-only model such as the descriptor head). The twin records the SHA-256 of the
# `.pt` it was made from (`source_sha256`) and keeps its model id, so galleries stay valid; a twin
# whose hash does not match (the checkpoint was replaced) is ignored with a warning and the torch
# path runs. kaobot ships twins of its default models: a cold `kaobot whois` never imports torch.

TWIN_HASH_KEY = "source_sha256"
TWIN_SUFFIXES = {"net": ".onnx", "numpy": ".npz"}
NPZ_HEADER = "__kaobot__"

_hashes: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (remembered per path, size and modification time)."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _hashes:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        _hashes[key] = digest.hexdigest()
    return _hashes[key]


def twin_path(checkpoint: str | Path, suffix: str) -> Path | None:
    """The twin file (`.onnx` or `.npz`) beside `checkpoint` (a path or ``shipped:FILE``), or None."""
    from .weights import resolve_model_path

    path = resolve_model_path(checkpoint)
    twin = path.with_suffix(suffix)
    return twin if path.is_file() and twin.is_file() and twin != path else None


def _matches(twin: Path, checkpoint: Path, recorded: str | None) -> bool:
    if recorded == file_sha256(checkpoint):
        return True
    log.warning("ignoring %s: it was not made from %s (its %s differs); run `kaobot export twins`",
                twin, checkpoint, TWIN_HASH_KEY)
    return False


def open_onnx_twin(checkpoint: str | Path, kind: str, device: str = "auto") -> OnnxModel | None:
    """The ONNX twin of a torch `checkpoint`, opened, when one exists and was made from it; else None.
    None also when `device` asks for CUDA (`cuda`, `cuda:N`): torch runs the checkpoint there."""
    from .weights import resolve_model_path

    if device.startswith("cuda"):
        return None
    twin = twin_path(checkpoint, TWIN_SUFFIXES["net"])
    if twin is None:
        return None
    model = open_onnx_model(twin, kind, device)
    return model if _matches(twin, resolve_model_path(checkpoint), model.props.get(TWIN_HASH_KEY)) else None


def load_npz_twin(checkpoint: str | Path, kind: str) -> dict[str, Any] | None:
    """The checkpoint payload (`recognition.checkpoints` layout, numpy arrays for tensors) from the
    `.npz` twin of `checkpoint`, when one exists and was made from it; else None."""
    import numpy as np

    from .weights import resolve_model_path

    twin = twin_path(checkpoint, TWIN_SUFFIXES["numpy"])
    if twin is None:
        return None
    try:
        with np.load(twin, allow_pickle=False) as npz:
            header = json.loads(str(npz[NPZ_HEADER]))
            state = {k: npz[k] for k in npz.files if k != NPZ_HEADER}
    except (OSError, KeyError, ValueError) as exc:
        raise ModelFileError(f"model file {twin} is not a kaobot numpy twin: {exc}") from exc
    if header.get("format") != f"kaobot-{kind}":
        raise ModelFileError(f"model file {twin} holds a {header.get('format')!r}, not a kaobot {kind}")
    if not _matches(twin, resolve_model_path(checkpoint), header.get(TWIN_HASH_KEY)):
        return None
    return {**header, "state_dict": state}
