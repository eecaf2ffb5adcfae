"""Model adapters: every model is a :class:`Model` over [0,1] pixels carrying preprocessing and labels."""

from robustscope.models.base import Model, Normalize
from robustscope.models.labels import IMAGENET_1K, imagenet_classes, imagenet_templates
from robustscope.models.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from robustscope.models.registry import MODEL_SCHEMES, load_model
from robustscope.models.smallcnn import SmallCNN

__all__ = [
    "IMAGENET_1K",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MODEL_SCHEMES",
    "Model",
    "Normalize",
    "Preprocessing",
    "SmallCNN",
    "imagenet_classes",
    "imagenet_templates",
    "load_model",
]
