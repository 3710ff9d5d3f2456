"""Margin heads and losses for embedding training (kept apart from the backbone).

`CombinedMarginHead` computes s·(cos(m1·θ + m2) − m3) for the target class and s·cos θ for the
others: ArcFace is (1, 0.5, 0), CosFace (1, 0, 0.35). Serving needs only the backbone.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# name -> (m1, m2, m3)
MARGINS: dict[str, tuple[float, float, float]] = {
    "arcface": (1.0, 0.5, 0.0),
    "cosface": (1.0, 0.0, 0.35),
    "softmax": (1.0, 0.0, 0.0),  # normalised softmax, no margin
}


class CombinedMarginHead(nn.Module):
    """Class-centre weights and the combined angular/additive margin."""

    def __init__(self, dim: int, classes: int, s: float = 30.0, m1: float = 1.0, m2: float = 0.5, m3: float = 0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(classes, dim))
        nn.init.normal_(self.weight, std=0.01)
        self.s, self.m1, self.m2, self.m3 = s, m1, m2, m3

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cos = F.linear(F.normalize(embeddings.float()), F.normalize(self.weight.float())).clamp(-1 + 1e-7, 1 - 1e-7)
        target = cos.gather(1, labels[:, None])
        if self.m1 != 1.0 or self.m2 != 0.0:
            theta = torch.acos(target)
            margined = torch.cos(self.m1 * theta + self.m2)
            # past θ = π - m2 the margin would raise the logit again: fall back to a linear penalty (as insightface)
            limit = math.pi - self.m2
            margined = torch.where(theta < limit, margined, target - math.sin(self.m2) * self.m2)
        else:
            margined = target
        margined = margined - self.m3
        logits = cos.scatter(1, labels[:, None], margined)
        return logits * self.s


class FocalLoss(nn.Module):
    """Cross-entropy down-weighting easy examples (the original project used γ = 2)."""

    def __init__(self, gamma: float = 2.0) -> None:
        super().__init__()
        self.gamma = gamma

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logp = F.log_softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)
        return (-((1 - logp.exp()) ** self.gamma) * logp).mean()


LOSSES = {
    "ce": lambda: nn.CrossEntropyLoss(),
    "focal": lambda: FocalLoss(2.0),
}


def build_head(name: str, dim: int, classes: int, s: float, margin: float | None = None) -> CombinedMarginHead:
    """A head from `MARGINS`; `margin` overrides the preset's main margin (m2 for arcface, m3 for cosface)."""
    if name not in MARGINS:
        raise ValueError(f"unknown margin head {name!r}; valid: {', '.join(sorted(MARGINS))}")
    m1, m2, m3 = MARGINS[name]
    if margin is not None:
        if name == "arcface":
            m2 = margin
        elif name == "cosface":
            m3 = margin
    return CombinedMarginHead(dim, classes, s, m1, m2, m3)


def build_loss(name: str) -> nn.Module:
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; valid: {', '.join(sorted(LOSSES))}")
    return LOSSES[name]()
