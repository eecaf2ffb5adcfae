"""What a private evaluation agrees on before it starts: the protocol, its errors, and its cache key.

Both parties (and the dealer) must run with the same :class:`PrivateProtocol`; it is recorded in the prediction
key, the prediction store's meta.json and every result row (``private``/``private_protocol`` columns), so a
private measurement is never confused with, nor served from the cache of, a plaintext one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from robustscope.engine.fingerprint import KEY_LENGTH, key_payload
from robustscope.errors import OptionError, RobustscopeError

__all__ = [
    "DATA_OWNER",
    "MODEL_OWNER",
    "REVEALS",
    "PrivateEvaluationError",
    "PrivateProtocol",
    "UnsupportedLayerError",
    "private_key",
]

#: Rank of the party that holds the weights (encrypts the model with ``src=0``).
MODEL_OWNER = 0
#: Rank of the party that holds the images (encrypts them with ``src=1``, applies shifts, stores results).
DATA_OWNER = 1
#: What the parties agree to decrypt: every logit (to the data owner only), or only top-1 correct counts.
REVEALS = ("logits", "metric")


class PrivateEvaluationError(RobustscopeError):
    """A private (CrypTen) evaluation cannot run as asked: the message names the input and the fix."""


class UnsupportedLayerError(PrivateEvaluationError):
    """The model has a layer CrypTen cannot evaluate under encryption; the message names it and a replacement."""


@dataclass(frozen=True)
class PrivateProtocol:
    """The secure two-party protocol a private evaluation runs (semi-honest, CrypTen's arithmetic sharing).

    Attributes:
        precision_bits: fixed-point fraction bits of the encoding (CrypTen's ``encoder.precision_bits``): a value
            ``v`` is held as the ring element ``round(v * 2**precision_bits)``, so each encoded number is off by
            at most ``2**-(precision_bits+1)``; every multiplication adds about as much again (a truncation).
        reveal: ``"logits"`` (the data owner alone decrypts every logit; every metric works) or ``"metric"``
            (nobody sees a logit: the number of correct top-1 predictions is computed under encryption and
            only that count is decrypted, to both parties).
        parties: the number of input parties (always 2: the model owner, rank 0, and the data owner, rank 1).
        provider: who deals the Beaver triples: ``"TTP"``, a third process that sees no input (with ``"TFP"``,
            CrypTen's default, rank 0 would deal them and could open the data owner's images, so it is refused).
        crypten_version: the CrypTen release that ran it.
        batchnorm: ``"folded"``: each BatchNorm after a Conv2d/Linear is folded into it before encryption (exact in
            eval mode; :func:`robustscope.private.layers.fold_batchnorm`).

    Example:
        >>> p = PrivateProtocol(precision_bits=16, reveal="metric")
        >>> p.to_dict()["revealed"], p.to_dict()["precision_bits"]
        ('top-1 correct count', 16)
    """

    precision_bits: int = 16
    reveal: str = "logits"
    parties: int = 2
    provider: str = "TTP"
    crypten_version: str = field(default="0.4.1")
    batchnorm: str = "folded"

    def __post_init__(self) -> None:
        if self.reveal not in REVEALS:
            raise OptionError(f"reveal={self.reveal!r} is not one of {list(REVEALS)}; pass reveal='logits' or 'metric'")
        if isinstance(self.precision_bits, bool) or not 8 <= int(self.precision_bits) <= 24:
            raise OptionError(
                f"precision_bits={self.precision_bits!r} is outside 8..24; CrypTen's 64-bit ring needs room for "
                "products of two encoded values: use 16 (the default)"
            )
        if self.parties != 2:
            raise OptionError(f"parties={self.parties} is not supported; a private evaluation has 2 parties")
        if self.provider != "TTP":
            raise OptionError(
                f"provider={self.provider!r} would let one party deal the triples and open the other's inputs; "
                "use provider='TTP' (a dealer process that sees no input)"
            )

    @property
    def revealed(self) -> str:
        """What is decrypted, in words (the ``revealed`` field of the row's ``private_protocol``)."""
        return "logits (to the data owner)" if self.reveal == "logits" else "top-1 correct count"

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able protocol: the ``private_protocol`` column and the ``private`` field of key and meta."""
        return {**asdict(self), "revealed": self.revealed, "protocol": "beaver"}


def private_key(
    payload_model: Any, dataset: Any, shift: Any, seed: int, protocol: PrivateProtocol, **kwargs: Any
) -> str:
    """The PredictionStore key of a private run: the plaintext key's fields plus the protocol.

    ``payload_model`` is the model's public description (name, preprocessing, labels: see
    :func:`robustscope.private.card.public_model`); pass ``model_fingerprint=``. The protocol is part of the
    key, so a private run never reuses (or is reused as) plaintext predictions, nor one of another precision.

    Example:
        >>> import pandas as pd
        >>> from torch import nn
        >>> from robustscope.data import Dataset
        >>> from robustscope.models import Model, Preprocessing
        >>> from robustscope.engine.fingerprint import prediction_key
        >>> from robustscope.shifts import Identity
        >>> m = Model.from_module(nn.Identity(), Preprocessing(2, 1.0), ["a", "b"])
        >>> d = Dataset("toy", ".", ["a", "b"], pd.DataFrame({"sample_id": ["x"], "path": ["x.png"], "label": [0]}))
        >>> keys = {private_key(m, d, Identity(), 0, PrivateProtocol(b), dataset_fingerprint="f") for b in (12, 16)}
        >>> len(keys), prediction_key(m, d, Identity(), 0, dataset_fingerprint="f") in keys
        (2, False)
    """
    payload = key_payload(payload_model, dataset, shift, seed, **kwargs)
    payload["private"] = protocol.to_dict()
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]
