"""Face detection: one interface, several backends, built from the configuration."""

from __future__ import annotations

from .base import Detector
from .sizing import operating_point

__all__ = ["Detector", "build_detector"]


def build_detector(settings) -> Detector:
    """Build the detector named by `settings.backend` (`animeface`, `torch`, `onnx` or `yolo_onnx`); `torch`
    without a checkpoint is the shipped detector; a torch checkpoint with an ONNX twin made from it
    runs on ONNX Runtime (`recognition.onnx_models`)."""
    from ..errors import ConfigError

    if settings.backend == "animeface":
        from .animeface_backend import AnimefaceDetector

        return AnimefaceDetector(
            threshold=settings.threshold,
            min_size=settings.min_size,
            pad=settings.pad,
            max_side=settings.max_side,
            pad_below=settings.pad_below,
        )
    if settings.backend == "torch":
        from ..onnx_models import open_onnx_twin
        from ..weights import DEFAULT_DETECTOR

        checkpoint = settings.checkpoint or DEFAULT_DETECTOR
        # No torch import when the checkpoint has a twin; tiling runs on the torch detector only.
        twin = open_onnx_twin(checkpoint, "detector", settings.device) if not settings.tile else None
        if twin is not None:
            from .onnx_backend import OnnxDetector

            return OnnxDetector(twin, **operating_point(settings))
        from .torch_backend import TorchDetector

        return TorchDetector(
            checkpoint,
            device=settings.device,
            tile=settings.tile,
            tile_overlap=settings.tile_overlap,
            **operating_point(settings),
        )
    if settings.backend == "onnx":
        from .onnx_backend import OnnxDetector

        if not settings.checkpoint:
            raise ConfigError("detector.backend is 'onnx' but detector.checkpoint (the .onnx file) is not set")
        return OnnxDetector(settings.checkpoint, device=settings.device, **operating_point(settings))
    if settings.backend == "yolo_onnx":
        from .yolo_onnx_backend import YoloOnnxDetector

        if not settings.checkpoint:
            raise ConfigError("detector.backend is 'yolo_onnx' but detector.checkpoint (the .onnx file) is not set")
        return YoloOnnxDetector(settings.checkpoint, threshold=settings.threshold, min_size=settings.min_size)
    raise ConfigError(f"unknown detector backend {settings.backend!r}; valid: animeface, torch, onnx, yolo_onnx")
