"""ONNX export of kaobot checkpoints, checked numerically against torch (`kaobot export onnx`).

* embedder: input `input` (N, 3, S, S) float32 with a dynamic batch axis N, RGB normalised with
  the checkpoint's mean/std (`recognition.preprocess.to_tensor_batch`), output `embedding`
  (N, dim), not yet L2-normalised; run by `embedder.backend: onnx`;
* detector: the whole torchvision model but its resize (normalisation, padding to a multiple of
  32, decoding, NMS) — input `image` (3, H, W) float32 RGB on 0–1 of any size, outputs `boxes`
  (n, 4) in input pixels, `scores` (n,), `labels`; run by `detector.backend: onnx`. Pictures are
  resized before the graph, as torchvision's transform would, by
  `recognition.detect.onnx_backend.prepare`, whose settings (`resize`) are stored in the file.
  The resize stays outside because a traced resize keeps the example's image size in its
  post-processing: with it inside, pictures of another shape gave boxes that differ from torch's
  by hundreds of pixels (measured); without it, boxes match torch's to < 0.001 px at any size.

The checkpoint's metadata (model id, architecture, input size, margin, mean, std, dim) is copied
into the ONNX file's metadata properties (`recognition.onnx_models`). torch's TorchScript-based
exporter is used: it handles the detectors' data-dependent control flow.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recognition.checkpoints import float_weights, load_checkpoint
from recognition.weights import resolve_model_path

log = logging.getLogger(__name__)


def _kind(path: Path) -> str:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    fmt = payload.get("format", "") if isinstance(payload, dict) else ""
    if fmt not in ("kaobot-embedder", "kaobot-detector"):
        raise ValueError(f"{path} is not a kaobot embedder or detector checkpoint (format {fmt!r})")
    return fmt.removeprefix("kaobot-")


def _net(payload: dict[str, Any], kind: str) -> torch.nn.Module:
    if kind == "embedder":
        from recognition.embed.nets import build_embedding_net as build
    else:
        from recognition.detect.nets import build_detection_net as build
    net = build(payload["arch"], **payload["arch_kwargs"])
    net.load_state_dict(float_weights(payload))
    return net.eval()


def _add_metadata(path: Path, payload: dict[str, Any], kind: str, extra: dict[str, str]) -> None:
    import onnx

    model = onnx.load(str(path))
    props = {"kaobot_kind": kind, "model_id": payload["model_id"], "arch": payload["arch"],
             "arch_kwargs": json.dumps(payload["arch_kwargs"]), "meta": json.dumps(payload["meta"], default=str),
             **extra}
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(model, str(path))


def _export(net: torch.nn.Module, args: tuple, path: Path, **kwargs) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about data-dependent shapes are expected
        torch.onnx.export(net, args, str(path), dynamo=False, **kwargs)


def _take_out_resize(net: torch.nn.Module) -> dict[str, Any]:
    """Make the detector's own resize the identity (`prepare` does it); return its settings."""
    t = net.transform
    resize = {"min_size": int(t.min_size[-1]), "max_size": int(t.max_size)}
    t.resize = lambda image, target=None: (image, target)
    return resize


def _check_images(kind: str, payload: dict[str, Any], seed: int, resize: dict[str, Any]) -> list[np.ndarray]:
    """Inputs for the numerical check: drawn faces (meaningful activations) at a few sizes."""
    from recognition.detect.onnx_backend import prepare
    from training.drawing import CharacterStyle, draw_scene

    rng = np.random.default_rng(seed)
    if kind == "embedder":
        from recognition.preprocess import to_tensor_batch

        size = int(payload["meta"]["input_size"])
        crops = [draw_scene([(size // 2, size // 2, int(size * 0.6), CharacterStyle(hair=tuple(int(v) for v in rng.integers(0, 255, 3))))],
                            size=(size, size)) for _ in range(4)]
        return [to_tensor_batch(crops, payload["meta"]["mean"], payload["meta"]["std"])]
    scenes = [draw_scene([(120, 110, 90, CharacterStyle()), (300, 150, 60, CharacterStyle(hair=(200, 80, 80)))],
                         size=(420, 280)), draw_scene([(160, 200, 140, CharacterStyle(hair=(40, 40, 40)))], size=(320, 400))]
    return [prepare(s, resize)[0] for s in scenes]


def export_onnx(checkpoint: str | Path, out: str | Path, opset: int = 17, atol: float = 1e-3, seed: int = 0) -> dict:
    """Export and compare onnxruntime's output with torch's; raises when they differ by more than `atol`."""
    import onnxruntime as ort

    checkpoint, out = resolve_model_path(checkpoint), Path(out)
    kind = _kind(checkpoint)
    payload = load_checkpoint(checkpoint, kind=kind)
    net = _net(payload, kind)
    resize = _take_out_resize(net) if kind == "detector" else {}
    inputs = _check_images(kind, payload, seed, resize)
    out.parent.mkdir(parents=True, exist_ok=True)
    if kind == "embedder":
        _export(net, (torch.from_numpy(inputs[0]),), out, opset_version=opset, input_names=["input"],
                output_names=["embedding"], dynamic_axes={"input": {0: "batch"}, "embedding": {0: "batch"}})
    else:
        _export(net, ([torch.from_numpy(inputs[0])],), out, opset_version=opset, input_names=["image"],
                output_names=["boxes", "scores", "labels"],
                dynamic_axes={"image": {1: "height", 2: "width"}, "boxes": {0: "n"}, "scores": {0: "n"},
                              "labels": {0: "n"}})
    _add_metadata(out, payload, kind, {"resize": json.dumps(resize)} if resize else {})
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    worst, checks = 0.0, []
    with torch.inference_mode():
        for x in inputs:
            got = session.run(None, {session.get_inputs()[0].name: x})
            if kind == "embedder":
                ref = [net(torch.from_numpy(x)).numpy()]
                cos = float(np.min(np.sum(_unit(got[0]) * _unit(ref[0]), axis=1)))
                checks.append({"shape": list(x.shape), "max_abs_diff": float(np.abs(got[0] - ref[0]).max()), "min_cosine": cos})
            else:
                r = net([torch.from_numpy(x)])[0]
                ref = [r["boxes"].numpy(), r["scores"].numpy()]
                if got[0].shape != ref[0].shape:
                    raise AssertionError(f"ONNX found {len(got[0])} boxes, torch {len(ref[0])} on a {x.shape} image")
                checks.append({"shape": list(x.shape), "boxes": len(ref[0]),
                               "max_abs_diff": _set_diff(np.c_[got[0], got[1]], np.c_[ref[0], ref[1]])})
            worst = max(worst, checks[-1]["max_abs_diff"])
    if worst > atol:
        raise AssertionError(f"ONNX and torch outputs differ by {worst:g} (> {atol:g}); see {checks}")
    return {"kind": kind, "model_id": payload["model_id"], "onnx": str(out), "bytes": out.stat().st_size,
            "opset": opset, "max_abs_diff": worst, "checks": checks}


def _set_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Largest distance (max abs) from a row of either to its nearest row of the other: detections
    compared as sets, since tied scores may come out of top-k in another order (seen on 640² FCOS)."""
    if not len(a) or not len(b):
        return 0.0 if len(a) == len(b) else float("inf")
    dist = np.abs(a[:, None, :] - b[None, :, :]).max(axis=2)
    return float(max(dist.min(axis=0).max(), dist.min(axis=1).max()))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
