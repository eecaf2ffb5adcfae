"""SmallCNN: the reference classifier robustscope trains offline on its synthetic world (64-px inputs, CPU)."""

from __future__ import annotations

import torch
from torch import nn


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    # bias-free conv: BatchNorm's shift makes it redundant
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """A small VGG-style CNN: stride-2 stem, ``depth`` stages that halve resolution, global pool, linear.

    Stage ``i`` has ``width * 2**i`` channels (capped at ``8 * width``) and ``blocks`` conv-BN-ReLU
    layers, the first with stride 2. On 64-px inputs the default (width 32, depth 3) sees 32→16→8→4
    feature maps and costs ~15 M multiply-adds per image: ~1,300 training images/s on 2 CPU cores.

    Args:
        num_classes: number of logits.
        width: channels of the stem.
        depth: number of stride-2 stages after the stem.
        blocks: conv layers per stage.
        dropout: dropout before the classifier.

    Example:
        >>> import torch
        >>> net = SmallCNN(num_classes=5)
        >>> net(torch.rand(2, 3, 64, 64)).shape
        torch.Size([2, 5])
    """

    def __init__(self, num_classes: int, width: int = 32, depth: int = 3, blocks: int = 1, dropout: float = 0.0):
        super().__init__()
        self.stem = _conv_bn_relu(3, width, stride=2)
        layers: list[nn.Module] = []
        channels = width
        for stage in range(depth):
            out = width * min(2 ** (stage + 1), 8)
            for block in range(blocks):
                layers.append(_conv_bn_relu(channels, out, stride=2 if block == 0 else 1))
                channels = out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(channels, num_classes)
        self.num_features = channels
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features ``[B, num_features]`` before the classifier."""
        return self.pool(self.features(self.stem(x))).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.forward_features(x)))
