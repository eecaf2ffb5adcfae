"""Model adapters: every model is a :class:`Model` over [0,1] pixels carrying preprocessing and labels."""

from robustscope.models.base import Model, Normalize
from robustscope.models.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "Model", "Normalize", "Preprocessing"]
