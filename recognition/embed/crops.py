"""Face crops for the network embedders (torch and ONNX): one definition of crop, normalise, batch.

The metadata (`input_size`, `margin`, `mean`, `std`, `dim`, optionally `flip`) is a checkpoint's
`meta`, or the copy of it inside an ONNX export, so both backends turn a face into exactly the same
input. With `flip` true the network also sees the mirrored crop and the two outputs are added
(test-time flip: a face and its mirror image are the same character).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..faces import Face
from ..preprocess import crop_face, l2_normalize, to_tensor_batch


class CropEmbedder:
    """Base of the network embedders; subclasses run the network in `_forward`."""

    model_id: str
    batch_size: int = 64

    def _read_meta(self, meta: Mapping[str, Any]) -> None:
        """Take the crop geometry and normalisation from `meta` (KeyError/TypeError/ValueError if bad)."""
        self.input_size = int(meta["input_size"])
        self.margin = float(meta["margin"])
        self.mean = [float(v) for v in meta["mean"]]
        self.std = [float(v) for v in meta["std"]]
        self.dim = int(meta["dim"])
        self.flip = bool(meta.get("flip", False))

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        """Raw embeddings (N, dim) of a normalised float32 NCHW batch."""
        raise NotImplementedError

    def crops(self, image: np.ndarray, faces: Sequence[Face]) -> list[np.ndarray]:
        """The network's input crops for `faces` (exposed for batching across images)."""
        return [crop_face(image, f.box, margin=self.margin, size=self.input_size) for f in faces]

    def embed_crops(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Embed prepared crops in batches of `batch_size`; rows of unit length."""
        if not crops:
            return np.zeros((0, self.dim), np.float32)
        out = [
            self._forward_maybe_flipped(to_tensor_batch(crops[i : i + self.batch_size], self.mean, self.std))
            for i in range(0, len(crops), self.batch_size)
        ]
        return l2_normalize(np.concatenate(out))

    def _forward_maybe_flipped(self, batch: np.ndarray) -> np.ndarray:
        if not self.flip:
            return self._forward(batch)
        both = self._forward(np.ascontiguousarray(np.concatenate([batch, batch[..., ::-1]])))
        return l2_normalize(both[: len(batch)]) + l2_normalize(both[len(batch) :])

    def embed(self, image: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        return self.embed_crops(self.crops(image, faces))
