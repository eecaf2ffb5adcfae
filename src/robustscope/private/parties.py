"""The two parties of a private evaluation, each a function that touches only its own input.

- :func:`model_owner` (rank 0) loads the model, checks its layers, and sends the data owner only what is public:
  a *model card* (name, fingerprint, preprocessing, labels) and the network's *skeleton* (its ONNX graph with
  every weight set to zero: the architecture, which the protocol reveals anyway). It then encrypts the weights
  (``encrypt(src=0)``) and runs the network on inputs it receives only as shares. It is never given the dataset.
- :func:`data_owner` (rank 1) loads the images, applies each shift in plaintext *before* encryption, encrypts
  them (``crypten.cryptensor(x, src=1)``), and keeps the revealed outputs: every logit (``reveal="logits"``,
  decrypted to it alone and written to its PredictionStore in the usual shards) or only the top-1 correct
  count of each shift (``reveal="metric"``, computed under encryption and decrypted to both). It is never
  given the model: it builds the encrypted network from the zero-weight skeleton.

The Beaver triples come from CrypTen's trusted-third-party dealer (rank 2), which sees no input.
The parties speak in lockstep: the model owner's status (card or error), then the data owner's, then one
message per batch (its size; 0 ends a shift, -1 the session), so an error on either side ends both cleanly.
"""

from __future__ import annotations

import io
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from robustscope.errors import RobustscopeError
from robustscope.models.base import Model
from robustscope.models.preprocessing import Preprocessing
from robustscope.private.card import model_card
from robustscope.private.crypten_session import communicator, crypten_module
from robustscope.private.data_side import DataRequest, DataSide
from robustscope.private.layers import check_supported_layers, converter_error, fold_batchnorm
from robustscope.private.protocol import DATA_OWNER, MODEL_OWNER, PrivateEvaluationError, PrivateProtocol
from robustscope.progress import step_bar

__all__ = ["Audit", "data_owner", "model_owner", "zero_weight_skeleton"]

_END_OF_SHIFT, _END_OF_SESSION = 0, -1


@dataclass
class Audit:
    """What one party's process held, kept when ``audit=True`` (for tests and the threat-model docs).

    ``input_share``: the party's share of the first encrypted batch (first two images; ring elements).
    ``images``: the plaintext images the party held (only the data owner; first two of the first batch).
    ``weights_seen``: largest |value| of any float weight tensor the party received in plaintext from the other.
    ``parameter_share``: the party's share of the first encrypted weight tensor (first 16 ring elements).
    """

    input_share: np.ndarray | None = None
    images: np.ndarray | None = None
    weights_seen: float = 0.0
    parameter_share: np.ndarray | None = None
    received: list[str] = field(default_factory=list)


def zero_weight_skeleton(onnx_bytes: bytes) -> bytes:
    """The ONNX graph with every floating-point initializer (weights, biases, BatchNorm statistics) set to zero.

    Integer initializers (shapes, indices) are kept: they are the architecture, not the weights.

    Example:
        >>> import onnx  # doctest: +SKIP
        >>> graph = onnx.load_from_string(zero_weight_skeleton(exported))  # doctest: +SKIP
        >>> all(not onnx.numpy_helper.to_array(t).any() for t in graph.graph.initializer)  # doctest: +SKIP
        True
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load_from_string(onnx_bytes)
    for tensor in graph.graph.initializer:
        values = numpy_helper.to_array(tensor)
        if np.issubdtype(values.dtype, np.floating):
            tensor.CopyFrom(numpy_helper.from_array(np.zeros_like(values), tensor.name))
    return graph.SerializeToString()


def _input_shape(preprocessing: Preprocessing, batch: int) -> tuple[int, int, int, int]:
    return batch, preprocessing.channels, preprocessing.input_size, preprocessing.input_size


def _prepare_model(model: str | Model) -> tuple[Model, dict[str, Any], bytes, Any]:
    """Load and check the model, export its ONNX graph (CrypTen's own exporter, shimmed) and convert it.

    ``crypten.nn.from_pytorch`` is exactly this export and conversion; done in two steps here because the same
    graph, weights zeroed, is what the data owner receives. BatchNorms are folded first (:func:`fold_batchnorm`);
    the card's fingerprint is the model's own.
    """
    from robustscope.models.registry import load_model

    loaded = model if isinstance(model, Model) else load_model(model)
    check_supported_layers(loaded, loaded.name)
    loaded.eval()  # BatchNorm uses its running statistics, Dropout is the identity
    # BatchNorm folded into the layer before it: exact in plaintext, and no encrypted inverse square root under MPC
    network, _ = fold_batchnorm(loaded)
    crypten = crypten_module()
    dummy = torch.zeros(_input_shape(loaded.preprocessing, 1))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exported = crypten.nn.onnx_converter._from_pytorch_to_bytes(network, dummy).read()
    except Exception as err:
        translated = converter_error(err, loaded.name)
        if translated is None:
            raise
        raise translated from None
    return loaded, model_card(loaded, loaded.fingerprint()), exported, _from_onnx(exported, loaded.name)


def _from_onnx(onnx_bytes: bytes, name: str) -> Any:
    crypten = crypten_module()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "The given NumPy array is not writable" (read-only ONNX buffers)
            network = crypten.nn.from_onnx(io.BytesIO(onnx_bytes))
    except Exception as err:
        translated = converter_error(err, name)
        if translated is None:
            raise
        raise translated from None
    return network.eval()


def _status(error: Exception | None, payload: Any = None) -> dict[str, Any]:
    """What a party tells the other (and returns): ok with a payload, or the error's class and one-line message."""
    if error is None:
        return {"ok": True, "payload": payload}
    message = str(error) if isinstance(error, RobustscopeError) else f"{type(error).__name__}: {error}"
    return {"ok": False, "error": type(error).__name__, "message": message}


def model_owner(model: str | Model, protocol: PrivateProtocol, audit: bool = False) -> dict[str, Any]:
    """Rank 0: encrypt the model and evaluate it on the data owner's encrypted images; never sees an image.

    Runs inside an initialised CrypTen session (``crypten.mpc.run_multiprocess`` or the env-var rendezvous of
    :func:`robustscope.private.run_party`). Returns a small record: the batches and images served, the seconds,
    and (``audit=True``) an :class:`Audit`; errors come back as ``{"error", "message"}``, never raised, so the
    other party is told and no process hangs.

    Example:
        >>> # crypten.mpc.run_multiprocess(world_size=2)(lambda: model_owner("file:m", PrivateProtocol()))()
    """
    comm = communicator()
    crypten = crypten_module()
    record: dict[str, Any] = {"rank": MODEL_OWNER, "images": 0, "batches": 0, "revealed": []}
    try:
        loaded, card, exported, network = _prepare_model(model)
        mine: dict[str, Any] = _status(None, {"card": card, "skeleton": zero_weight_skeleton(exported)})
    except Exception as err:  # any failure is told to the data owner, who would otherwise wait forever
        mine = _status(err)
    comm.broadcast_obj(mine, MODEL_OWNER)
    theirs = comm.broadcast_obj(None, DATA_OWNER)
    if not mine["ok"] or not theirs["ok"]:
        return {**record, **(mine if not mine["ok"] else theirs)}
    network.encrypt(src=MODEL_OWNER)
    preprocessing, num_classes = loaded.preprocessing, loaded.num_classes
    started = time.perf_counter()
    trail = Audit() if audit else None
    if trail is not None:
        trail.parameter_share = _first_parameter_share(network)
    correct = None
    while True:
        batch = int(comm.broadcast_obj(None, DATA_OWNER))
        if batch == _END_OF_SESSION:
            break
        if batch == _END_OF_SHIFT:
            if protocol.reveal == "metric":
                record["revealed"].append(_reveal_count(correct))
            correct = None
            continue
        # The data owner's images arrive only as shares: this party contributes a zero tensor of the agreed shape.
        encrypted = crypten.cryptensor(torch.zeros(_input_shape(preprocessing, batch)), src=DATA_OWNER)
        if trail is not None and trail.input_share is None:
            trail.input_share = encrypted.share[:2].numpy().copy()
        logits = network(encrypted)
        if protocol.reveal == "logits":
            logits.get_plain_text(dst=DATA_OWNER)  # decrypted to the data owner only: nothing comes back here
        else:
            hits = _correct_under_mpc(logits, torch.zeros(batch, num_classes))
            correct = hits if correct is None else correct + hits
        record["images"] += batch
        record["batches"] += 1
    record["seconds"] = time.perf_counter() - started
    record["audit"] = trail
    return record


def _first_parameter_share(network: Any) -> np.ndarray | None:
    for parameter in network.parameters():
        return parameter.share.flatten()[:16].numpy().copy()
    return None


def _correct_under_mpc(logits: Any, one_hot_labels: torch.Tensor) -> Any:
    """Encrypted number of rows whose arg-max logit is the label; both parties call it in the same order.

    The data owner passes its labels one-hot, the model owner a zero tensor of the same shape (only shares of
    the data owner's labels exist afterwards).
    """
    predicted = logits.argmax(dim=1, one_hot=True)
    labels = crypten_module().cryptensor(one_hot_labels, src=DATA_OWNER)
    return (predicted * labels).sum()


def _reveal_count(correct: Any) -> int:
    """Decrypt the encrypted number of correct predictions to both parties (0 for an empty shift)."""
    return 0 if correct is None else round(float(correct.get_plain_text()))


def data_owner(request: DataRequest, protocol: PrivateProtocol, audit: bool = False) -> dict[str, Any]:
    """Rank 1: shift and encrypt the images, keep what is revealed; never holds a weight.

    With ``reveal="logits"`` the decrypted logits go to the request's PredictionStore (same shards as a
    plaintext run, under the private key); with ``reveal="metric"`` only each shift's top-1 correct count.
    Returns a small record (card, keys, counts, seconds, ``audit``); errors as ``{"error", "message"}``.

    Example:
        >>> # crypten.mpc.run_multiprocess(world_size=2)(lambda: data_owner(request, PrivateProtocol()))()
    """
    comm = communicator()
    record: dict[str, Any] = {"rank": DATA_OWNER, "images": 0, "batches": 0}
    theirs = comm.broadcast_obj(None, MODEL_OWNER)
    side: DataSide | None = None
    try:
        if not theirs["ok"]:
            raise PrivateEvaluationError(theirs["message"])
        card = theirs["payload"]["card"]
        side = DataSide(request, card, protocol)
        network = _from_onnx(theirs["payload"]["skeleton"], card["name"])
        mine = _status(None)
    except Exception as err:  # told to the model owner, who would otherwise wait forever
        mine = _status(err)
    comm.broadcast_obj(mine, DATA_OWNER)
    if not theirs["ok"]:
        return {**record, **theirs}
    if not mine["ok"] or side is None:
        return {**record, **mine}
    trail = Audit() if audit else None
    if trail is not None:
        trail.weights_seen = _largest_weight(theirs["payload"]["skeleton"])
    network.encrypt(src=MODEL_OWNER)  # this party's (zero) skeleton values are ignored: shares come from rank 0
    if trail is not None:
        trail.parameter_share = _first_parameter_share(network)
    started = time.perf_counter()
    total = sum(len(rows) for run in side.runs() for rows in run.rows_to_compute)
    try:
        with step_bar(request.progress, "encrypted evaluation (images)", total) as advance:
            _serve_batches(side, network, protocol, record, trail, advance)
    except Exception as err:  # a bad image, a full disk: raised between two messages, so rank 0 can be told
        comm.broadcast_obj(_END_OF_SESSION, DATA_OWNER)
        return {**record, **_status(err)}
    comm.broadcast_obj(_END_OF_SESSION, DATA_OWNER)
    record["seconds"] = time.perf_counter() - started
    record.update(side.summary())
    record["audit"] = trail
    return record


def _serve_batches(
    side: DataSide, network: Any, protocol: PrivateProtocol, record: dict[str, Any], trail: Audit | None,
    advance: Any,
) -> None:
    """The data owner's loop: announce, encrypt and evaluate each batch, keep what is revealed."""
    comm, crypten = communicator(), crypten_module()
    for run in side.runs():
        correct = None
        for images, labels in side.batches(run):
            comm.broadcast_obj(len(images), DATA_OWNER)
            encrypted = crypten.cryptensor(images, src=DATA_OWNER)
            if trail is not None and trail.input_share is None:
                trail.input_share = encrypted.share[:2].numpy().copy()
                trail.images = images[:2].numpy().copy()
            logits = network(encrypted)
            if protocol.reveal == "logits":
                side.keep(run, logits.get_plain_text(dst=DATA_OWNER).numpy())
            else:
                hits = _correct_under_mpc(logits, torch.nn.functional.one_hot(labels, side.num_classes).float())
                correct = hits if correct is None else correct + hits
            record["images"] += len(images)
            record["batches"] += 1
            advance(len(images))
        comm.broadcast_obj(_END_OF_SHIFT, DATA_OWNER)
        if protocol.reveal == "metric":
            run.correct = _reveal_count(correct)


def _largest_weight(onnx_bytes: bytes) -> float:
    """Largest |value| among the float initializers a party received (0.0: it received no weight)."""
    import onnx
    from onnx import numpy_helper

    values = [numpy_helper.to_array(t) for t in onnx.load_from_string(onnx_bytes).graph.initializer]
    floats = [np.abs(v).max() for v in values if np.issubdtype(v.dtype, np.floating) and v.size]
    return float(max(floats, default=0.0))
