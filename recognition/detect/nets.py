"""Detection network architectures (torchvision detectors, no pretrained weights).

`build_detection_net(arch, **kwargs)` looks a name up in `ARCHITECTURES`. Every architecture is a
torchvision detection model: it takes a list of CHW float tensors (0–1) and, in eval mode, returns
per image a dict with `boxes` (x1, y1, x2, y2 in input pixels) and `scores`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn


def _conv(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class _TinyBackbone(nn.Module):
    """A few strided convolutions to stride 8: small enough for tests and smoke runs."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(3, width, 2), _conv(width, width * 2, 2), _conv(width * 2, width * 2, 2))
        self.out_channels = width * 2

    def forward(self, x):
        return self.body(x)


def fcos_tiny(
    width: int = 16,
    anchor_size: int = 32,
    min_size: int = 256,
    max_size: int = 512,
    score_thresh: float = 0.2,
    nms_thresh: float = 0.5,
    detections_per_img: int = 50,
) -> nn.Module:
    """FCOS on a tiny single-level backbone (stride 8)."""
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    return FCOS(
        _TinyBackbone(width),
        num_classes=2,
        min_size=min_size,
        max_size=max_size,
        anchor_generator=AnchorGenerator(sizes=((anchor_size,),), aspect_ratios=((1.0,),)),
        score_thresh=score_thresh,
        nms_thresh=nms_thresh,
        detections_per_img=detections_per_img,
    )


def fcos_mobilenet_v3(
    min_size: int = 640,
    max_size: int = 1024,
    anchor_sizes: Sequence[int] = (32, 64, 128),
    score_thresh: float = 0.2,
    nms_thresh: float = 0.5,
    detections_per_img: int = 100,
) -> nn.Module:
    """FCOS on a MobileNetV3-Large FPN backbone (trained from scratch)."""
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import mobilenet_backbone

    # Real BatchNorm: torchvision's default FrozenBatchNorm2d does not normalise a network trained from scratch.
    backbone = mobilenet_backbone(
        backbone_name="mobilenet_v3_large", fpn=True, weights=None, trainable_layers=6, norm_layer=nn.BatchNorm2d
    )
    n_maps = 3  # mobilenet_backbone with FPN returns two levels plus a max-pooled one
    sizes = tuple((s,) for s in list(anchor_sizes)[:n_maps])
    return FCOS(
        backbone,
        num_classes=2,
        min_size=min_size,
        max_size=max_size,
        anchor_generator=AnchorGenerator(sizes=sizes, aspect_ratios=((1.0,),) * len(sizes)),
        score_thresh=score_thresh,
        nms_thresh=nms_thresh,
        detections_per_img=detections_per_img,
    )


def _stride_outputs(features: nn.Sequential, strides: Sequence[int]) -> tuple[dict[str, str], list[int]]:
    """Index (as IntermediateLayerGetter names) and channels of the last block at each stride."""
    import torch

    found: dict[int, tuple[str, int]] = {}
    x = torch.zeros(1, 3, 64, 64)
    with torch.no_grad():
        for name, layer in features.named_children():
            x = layer(x)
            found[64 // x.shape[-1]] = (name, x.shape[1])
    missing = [s for s in strides if s not in found]
    if missing:
        raise ValueError(f"the backbone has no output at stride(s) {missing}")
    return {found[s][0]: str(i) for i, s in enumerate(strides)}, [found[s][1] for s in strides]


def fcos_mobilenet_p3(
    backbone: str = "mobilenet_v3_large",
    width_mult: float = 1.0,
    fpn_channels: int = 96,
    head_convs: int = 2,
    min_size: int = 512,
    max_size: int = 640,
    score_thresh: float = 0.05,
    nms_thresh: float = 0.5,
    detections_per_img: int = 100,
) -> nn.Module:
    """FCOS for small faces: MobileNetV3 (BatchNorm, trained from scratch) with FPN levels at
    strides 8, 16, 32 and a max-pooled 64; anchor size = stride, so FCOS assigns faces of about
    8–16 × stride to each level and faces from about 16 px land on stride 8. A light head
    (`head_convs` convolutions of `fpn_channels`) keeps it fast on a CPU."""
    from torchvision.models import mobilenet_v3_large, mobilenet_v3_small
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.models.detection.fcos import FCOSHead
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

    builders = {"mobilenet_v3_large": mobilenet_v3_large, "mobilenet_v3_small": mobilenet_v3_small}
    if backbone not in builders:
        raise ValueError(f"unknown backbone {backbone!r}; valid: {', '.join(sorted(builders))}")
    features = builders[backbone](weights=None, width_mult=width_mult, norm_layer=nn.BatchNorm2d).features
    strides = (8, 16, 32)
    return_layers, channels = _stride_outputs(features, strides)
    body = BackboneWithFPN(features, return_layers, channels, fpn_channels, extra_blocks=LastLevelMaxPool())
    sizes = tuple((s,) for s in (*strides, 64))
    return FCOS(
        body,
        num_classes=2,
        min_size=min_size,
        max_size=max_size,
        anchor_generator=AnchorGenerator(sizes=sizes, aspect_ratios=((1.0,),) * len(sizes)),
        head=FCOSHead(fpn_channels, 1, 2, num_convs=head_convs),
        score_thresh=score_thresh,
        nms_thresh=nms_thresh,
        detections_per_img=detections_per_img,
    )


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "fcos_tiny": fcos_tiny,
    "fcos_mobilenet_v3": fcos_mobilenet_v3,
    "fcos_mobilenet_p3": fcos_mobilenet_p3,
}


def build_detection_net(arch: str, **kwargs) -> nn.Module:
    """Build a detection network by registry name."""
    try:
        builder = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(
            f"unknown detection architecture {arch!r}; valid: {', '.join(sorted(ARCHITECTURES))}"
        ) from None
    return builder(**kwargs)
