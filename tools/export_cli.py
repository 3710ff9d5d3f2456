"""`kaobot export onnx`: a kaobot checkpoint (embedder or detector) to ONNX, checked against torch;
`kaobot export twins`: the torch-free twins of the default models (`recognition.onnx_models`)."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path


def cmd_export_onnx(args: argparse.Namespace) -> int:
    from training.export import export_onnx

    print(json.dumps(export_onnx(args.checkpoint, args.out, opset=args.opset, atol=args.atol), indent=1))
    return 0


def default_checkpoints() -> list[str]:
    """The checkpoints the default settings load: detector, embedder and the embedder's descriptor head."""
    from recognition.weights import DEFAULT_DETECTOR, DEFAULT_EMBEDDER, HEAD_EMBEDDER

    return [DEFAULT_DETECTOR, DEFAULT_EMBEDDER, HEAD_EMBEDDER]


def twin_status(checkpoint: str) -> dict:
    """Whether `checkpoint`'s twin exists and was made from it (reads no torch)."""
    from recognition.onnx_models import TWIN_SUFFIXES, file_sha256, twin_path
    from recognition.weights import resolve_model_path

    path = resolve_model_path(checkpoint)
    twins = [t for t in (twin_path(path, s) for s in TWIN_SUFFIXES.values()) if t is not None]
    return {
        "checkpoint": str(path),
        "twin": str(twins[0]) if twins else None,
        "current": bool(twins) and _recorded_hash(twins[0]) == file_sha256(path),
    }


def _recorded_hash(twin: Path) -> str | None:
    from recognition.onnx_models import NPZ_HEADER, TWIN_HASH_KEY

    if twin.suffix == ".npz":
        import numpy as np

        with np.load(twin, allow_pickle=False) as npz:
            return json.loads(str(npz[NPZ_HEADER])).get(TWIN_HASH_KEY)
    import onnxruntime as ort

    session = ort.InferenceSession(str(twin), providers=["CPUExecutionProvider"])
    return session.get_modelmeta().custom_metadata_map.get(TWIN_HASH_KEY)


def write_twin(checkpoint: str, atol: float = 1e-3) -> dict:
    """Write the twin beside `checkpoint`: `.npz` for a descriptor head (numpy weights), else `.onnx`
    (`training.export.export_onnx`, checked against torch within `atol`), with the checkpoint's hash."""
    from recognition.checkpoints import load_checkpoint
    from recognition.embed.projected import ARCH
    from recognition.onnx_models import NPZ_HEADER, TWIN_HASH_KEY, file_sha256
    from recognition.weights import resolve_model_path

    path = resolve_model_path(checkpoint)
    digest = file_sha256(path)
    payload = None
    try:
        payload = load_checkpoint(path, kind="embedder")
    except Exception:  # a detector: export_onnx reads its kind itself
        pass
    if payload is not None and payload["arch"] == ARCH:
        import numpy as np

        header = {k: payload[k] for k in ("format", "version", "model_id", "arch", "arch_kwargs", "meta")}
        header[TWIN_HASH_KEY] = digest
        arrays = {k: (v.float() if v.is_floating_point() else v).numpy() for k, v in payload["state_dict"].items()}
        twin = path.with_suffix(".npz")
        _atomic(twin, lambda f: np.savez(f, **{NPZ_HEADER: np.array(json.dumps(header, default=str))}, **arrays))
        return {
            "checkpoint": str(path),
            "twin": str(twin),
            "model_id": header["model_id"],
            "bytes": twin.stat().st_size,
        }
    import onnx

    from training.export import export_onnx

    twin = path.with_suffix(".onnx")
    with tempfile.TemporaryDirectory() as tmp:
        report = export_onnx(path, Path(tmp) / "model.onnx", atol=atol)
        model = onnx.load(str(Path(tmp) / "model.onnx"))
        entry = model.metadata_props.add()
        entry.key, entry.value = TWIN_HASH_KEY, digest
        _atomic(twin, lambda f: f.write(model.SerializeToString()))
    return {
        "checkpoint": str(path),
        "twin": str(twin),
        "model_id": report["model_id"],
        "bytes": twin.stat().st_size,
        "max_abs_diff": report["max_abs_diff"],
    }


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        write(f)
    os.replace(tmp, path)


def cmd_export_twins(args: argparse.Namespace) -> int:
    checkpoints = args.checkpoints or default_checkpoints()
    if args.check:
        found = [twin_status(c) for c in checkpoints]
        print(json.dumps(found, indent=1))
        return 0 if all(f["current"] for f in found) else 1
    print(json.dumps([write_twin(c, atol=args.atol) for c in checkpoints], indent=1))
    return 0


def register(sub, add_common) -> None:
    p = sub.add_parser("export", help="export a checkpoint to another format")
    kinds = p.add_subparsers(dest="export_kind", required=True, metavar="FORMAT")
    o = kinds.add_parser("onnx", help="ONNX (embedder or detector), compared numerically with torch")
    o.add_argument("checkpoint", help="a kaobot embedder or detector checkpoint (.pt)")
    o.add_argument("out", help="the .onnx file to write")
    o.add_argument("--opset", type=int, default=17)
    o.add_argument("--atol", type=float, default=1e-3, help="largest absolute difference accepted")
    o.set_defaults(func=cmd_export_onnx)
    t = kinds.add_parser(
        "twins",
        help="the torch-free twins beside checkpoints (default: the default models), "
        "which the torch and fusion backends run instead of torch",
    )
    t.add_argument("checkpoints", nargs="*", help="checkpoints (paths or shipped:FILE); default: the default models")
    t.add_argument("--check", action="store_true", help="only say whether each twin is current (exit 1 if not)")
    t.add_argument("--atol", type=float, default=1e-3, help="largest absolute difference accepted (ONNX)")
    t.set_defaults(func=cmd_export_twins)
