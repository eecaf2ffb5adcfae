"""The model's public description: what the model owner tells the data owner, and a weightless stand-in for it.

The data owner needs the model's name, fingerprint, preprocessing and labels (to prepare images, map labels and
compute the cache key), never its weights.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from robustscope.models.base import Model
from robustscope.models.preprocessing import Preprocessing

__all__ = ["PUBLIC_DESCRIPTION", "model_card", "public_model"]

#: The fields of ``Model.describe()`` the card carries (the architecture is revealed by the protocol anyway).
PUBLIC_DESCRIPTION = (
    "name", "fingerprint", "preprocessing", "transform", "assumed", "label_space", "num_classes", "arch", "source",
)


def model_card(model: Model, fingerprint: str) -> dict[str, Any]:
    """The model's public description the data owner needs: no weights.

    Example:
        >>> m = Model.from_module(nn.Linear(3, 2), Preprocessing(1, 1.0), ["a", "b"], name="toy")
        >>> sorted(model_card(m, "f"))
        ['describe', 'fingerprint', 'label_space', 'labels', 'name', 'preprocessing', 'version']
    """
    return {
        "name": model.name,
        "fingerprint": fingerprint,
        "preprocessing": model.preprocessing.to_dict(),
        "labels": list(model.labels),
        "label_space": model.label_space,
        "version": model.version,
        # Model.describe() minus what the owner need not share (checkpoint path, training recipe and data)
        "describe": {k: v for k, v in model.describe(fingerprint).items() if k in PUBLIC_DESCRIPTION},
    }


def public_model(card: dict[str, Any]) -> Model:
    """A weightless :class:`Model` with the card's name, preprocessing and labels (for keys and label mapping).

    It computes nothing useful (its network is ``nn.Identity``); the model's real fingerprint travels beside it.

    Example:
        >>> m = Model.from_module(nn.Linear(3, 2), Preprocessing(1, 1.0), ["a", "b"], name="toy")
        >>> stand_in = public_model(model_card(m, "f"))
        >>> stand_in.name, stand_in.labels, sum(p.numel() for p in stand_in.parameters())
        ('toy', ['a', 'b'], 0)
    """
    return Model(
        nn.Identity(),
        Preprocessing.from_dict(card["preprocessing"]),
        card["labels"],
        name=card["name"],
        label_space=card["label_space"],
        version=card.get("version"),
    )
