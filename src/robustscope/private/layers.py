"""Which layers CrypTen 0.4.1 evaluates under encryption, and a clear error for those it cannot.

Measured here (torch 2.14, ``robustscope.compat.crypten_shims``; a 3→4-channel conv then the layer, 8-px inputs):
Conv2d (also depthwise), Linear, BatchNorm2d (eval), ReLU, ReLU6, MaxPool2d (also ``ceil_mode``), AvgPool2d,
AdaptiveAvgPool2d and AdaptiveMaxPool2d to a size that divides the input (1 = global), Flatten, Dropout (eval),
GELU, SiLU, Sigmoid and Softmax (approximated: errors of 1e-3 to 3e-2) run; the layers in
:data:`UNSUPPORTED_LAYERS` do not. The check walks the model before anything is encrypted; a functional op in a
``forward`` (``F.layer_norm``) is caught from the converter's error and named by its ONNX op.
"""

from __future__ import annotations

import re

from torch import nn

from robustscope.private.protocol import UnsupportedLayerError

__all__ = ["UNSUPPORTED_LAYERS", "UNSUPPORTED_OPS", "check_supported_layers", "converter_error", "fold_batchnorm"]

#: torch module class name → what to use instead (CrypTen 0.4.1 has no encrypted version of the layer).
UNSUPPORTED_LAYERS: dict[str, str] = {
    "LayerNorm": "BatchNorm (folded into the previous layer in eval mode), or retrain without normalisation",
    "GroupNorm": "BatchNorm2d",
    "InstanceNorm1d": "BatchNorm1d",
    "InstanceNorm2d": "BatchNorm2d",
    "InstanceNorm3d": "BatchNorm3d",
    "LocalResponseNorm": "BatchNorm2d",
    "Upsample": "no upsampling (CrypTen has no Resize op)",
    "UpsamplingNearest2d": "no upsampling (CrypTen has no Resize)",
    "UpsamplingBilinear2d": "no upsampling (CrypTen has no Resize)",
    "ConvTranspose1d": "Conv1d",
    "ConvTranspose2d": "Conv2d (CrypTen has no ConvTranspose)",
    "LeakyReLU": "ReLU",
    "PReLU": "ReLU",
    "ELU": "ReLU",
    "SELU": "ReLU",
    "CELU": "ReLU",
    "Hardswish": "ReLU (or SiLU, approximated)",
    "Hardsigmoid": "Sigmoid (approximated) or ReLU6",
    "Tanh": "Sigmoid (tanh(x) = 2·sigmoid(2x) − 1) or ReLU",
    "Softplus": "ReLU",
    "Mish": "SiLU (approximated) or ReLU",
    "Dropout2d": "Dropout (or remove it: dropout is the identity at evaluation)",
    "Dropout3d": "Dropout (or remove it: dropout is the identity at evaluation)",
    "MultiheadAttention": "a convolutional network (attention's softmax and layer norms do not convert)",
    "LSTM": "a convolutional network",
    "GRU": "a convolutional network",
    "RNN": "a convolutional network",
    "Embedding": "a one-hot input times a Linear layer",
}

#: ONNX op (as CrypTen's converter names it) → the torch layer that usually produces it.
UNSUPPORTED_OPS: dict[str, str] = {
    "LayerNormalization": "LayerNorm",
    "InstanceNormalization": "GroupNorm",
    "Resize": "Upsample",
    "ConvTranspose": "ConvTranspose2d",
    "LeakyRelu": "LeakyReLU",
    "Elu": "ELU",
    "Selu": "SELU",
    "HardSwish": "Hardswish",
    "HardSigmoid": "Hardsigmoid",
    "Tanh": "Tanh",
    "Softplus": "Softplus",
    "PRelu": "PReLU",
}


def check_supported_layers(network: nn.Module, model_name: str = "model") -> None:
    """Raise :class:`UnsupportedLayerError` naming the first layer CrypTen cannot encrypt, and its replacement.

    Example:
        >>> check_supported_layers(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()))
        >>> try:
        ...     check_supported_layers(nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4)), "demo")
        ... except UnsupportedLayerError as err:
        ...     print(str(err)[:52])
        demo: layer '1' is a LayerNorm, which CrypTen 0.4.1
    """
    for path, module in network.named_modules():
        name = type(module).__name__
        if name in UNSUPPORTED_LAYERS:
            raise UnsupportedLayerError(
                f"{model_name}: layer {path!r} is a {name}, which CrypTen 0.4.1 cannot evaluate under encryption; "
                f"replace it with {UNSUPPORTED_LAYERS[name]} (or evaluate this model in plaintext)"
            )


def converter_error(error: Exception, model_name: str = "model") -> UnsupportedLayerError | None:
    """The :class:`UnsupportedLayerError` for an error of CrypTen's converter or the ONNX export, or None.

    Example:
        >>> str(converter_error(ValueError("CrypTen does not support ONNX op Tanh."), "m"))[:38]
        "m: its forward uses the ONNX op 'Tanh'"
    """
    text = str(error)
    found = re.search(r"does not support ONNX op (\w+)", text)
    if found:
        op = found.group(1)
        layer = UNSUPPORTED_OPS.get(op, op)
        fix = UNSUPPORTED_LAYERS.get(layer, "a layer CrypTen supports (docs/private-evaluation.md lists them)")
        return UnsupportedLayerError(
            f"{model_name}: its forward uses the ONNX op {op!r} (from a {layer} or the function it calls), which "
            f"CrypTen 0.4.1 cannot evaluate under encryption; replace it with {fix} (or evaluate this model in "
            "plaintext)"
        )
    if "Unsupported: ONNX export of operator" in text:
        first_line = text.split("\n", 1)[0].split(". Please")[0]
        return UnsupportedLayerError(
            f"{model_name}: the ONNX export CrypTen needs failed ({first_line}); for adaptive pooling use an output "
            "size that divides the input size (1 = global pooling), or evaluate this model in plaintext"
        )
    return None


def fold_batchnorm(network: nn.Module) -> tuple[nn.Module, int]:
    """A copy of ``network`` (in eval mode) with each BatchNorm that directly follows a Conv2d/Linear in an
    ``nn.Sequential`` folded into it; returns the copy and how many were folded.

    In eval mode the fold is exact algebra (``w' = w·γ/√(var+ε)``, ``b' = (b−mean)·γ/√(var+ε) + β``). Under MPC it
    matters: an unfolded BatchNorm's statistics are encrypted, so CrypTen computes ``1/√(var+ε)`` by Newton
    iterations (~1e-3 error per layer, measured); folded, it is one exact affine map inside the convolution.

    Example:
        >>> import torch
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).eval()
        >>> _ = net[1].running_var.uniform_(0.5, 2.0)
        >>> folded, count = fold_batchnorm(net)
        >>> x = torch.rand(2, 3, 8, 8)
        >>> count, type(folded[1]).__name__, torch.allclose(folded(x), net(x), atol=1e-5)
        (1, 'Identity', True)
    """
    import copy
    from itertools import pairwise

    from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

    folded = copy.deepcopy(network).eval()
    count = 0
    for module in folded.modules():
        if not isinstance(module, nn.Sequential):
            continue
        names = list(module._modules)
        for first, second in pairwise(names):
            layer, norm = module._modules[first], module._modules[second]
            if isinstance(norm, nn.BatchNorm2d | nn.BatchNorm1d) and norm.track_running_stats:
                if isinstance(layer, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                    module._modules[first] = fuse_conv_bn_eval(layer, norm)
                elif isinstance(layer, nn.Linear) and isinstance(norm, nn.BatchNorm1d):
                    module._modules[first] = fuse_linear_bn_eval(layer, norm)
                else:
                    continue
                module._modules[second] = nn.Identity()
                count += 1
    return folded, count

