"""Starting CrypTen sessions: all parties as processes of one machine, or one party per machine.

On one machine, :func:`run_local` runs the model owner (rank 0) and the data owner (rank 1) with
``crypten.mpc.run_multiprocess(world_size=2)``, which also starts the triple dealer (rank 2). Across machines each
party runs :func:`run_party` with CrypTen's environment-variable rendezvous (``RENDEZVOUS``, ``WORLD_SIZE=2``,
``RANK``; see docs/private-evaluation.md for a worked example).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

from robustscope.private.protocol import PrivateEvaluationError, PrivateProtocol

__all__ = ["RENDEZVOUS_VARIABLES", "communicator", "configure", "crypten_module", "run_local", "run_party"]

#: The environment variables CrypTen's communicator reads to find the other parties.
RENDEZVOUS_VARIABLES = ("RENDEZVOUS", "WORLD_SIZE", "RANK")


def crypten_module() -> ModuleType:
    """``crypten``, shimmed for today's torch; a one-line error naming the extra when it is not installed.

    Example:
        >>> crypten_module().cryptensor  # doctest: +SKIP
        <function cryptensor at ...>
    """
    from robustscope.compat.crypten_shims import crypten_installed, load_crypten

    if not crypten_installed():
        raise PrivateEvaluationError(
            "private evaluation needs CrypTen: SKLEARN_ALLOW_DEPRECATED_SKLEARN_PACKAGE_INSTALL=True "
            "pip install 'robustscope[private]'"
        )
    return load_crypten()


def communicator() -> Any:
    """The initialised CrypTen communicator of this process (rank, world size, broadcast).

    Example:
        >>> communicator().get_rank()  # doctest: +SKIP
        0
    """
    crypten_module()
    import crypten.communicator as comm

    return comm.get()


def configure(protocol: PrivateProtocol) -> dict[str, Any]:
    """Set CrypTen's global configuration to the protocol: fixed-point precision and the triple dealer.

    Must run before ``crypten.init()`` in every party's process (and in the launching one, whose configuration
    the processes of ``run_multiprocess`` inherit), since the dealer's channel is opened there. Returns the
    previous values, so a launching process can restore them (a later single-process ``crypten.init()`` must not
    wait for a dealer).

    Example:
        >>> configure(PrivateProtocol(precision_bits=16))  # doctest: +SKIP
    """
    crypten = crypten_module()
    previous = {"precision_bits": crypten.cfg.encoder.precision_bits, "provider": crypten.cfg.mpc.provider}
    crypten.cfg.encoder.precision_bits = int(protocol.precision_bits)
    crypten.cfg.mpc.provider = protocol.provider
    return previous


def run_local(party: Callable[..., dict[str, Any]], *args: Any) -> list[dict[str, Any]]:
    """Run ``party(*args)`` as ranks 0 and 1 (and the dealer) on this machine; returns ``[rank 0's, rank 1's]``.

    ``party`` decides by its rank which side it is; what it returns must be small (a dict of numbers and short
    arrays: it travels through a pipe). The processes are forked, so pass specs rather than loaded objects when
    each rank should load only its own input.

    Example:
        >>> # model_side, data_side = run_local(both_parties, model_spec, request, protocol)
    """
    crypten = crypten_module()

    import torch

    protocol = next(a for a in args if isinstance(a, PrivateProtocol))
    previous = configure(protocol)
    # run_multiprocess forks: a child inheriting a started OpenMP pool (any earlier torch op in this process)
    # hangs in its first parallel op. One intra-op thread from the fork on avoids that (3 processes share the cores).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        results = crypten.mpc.run_multiprocess(world_size=protocol.parties)(party)(*args)
    finally:
        torch.set_num_threads(threads)
        crypten.cfg.encoder.precision_bits, crypten.cfg.mpc.provider = previous["precision_bits"], previous["provider"]
    if results is None or len(results) < 2:
        raise PrivateEvaluationError(
            "a party of the private evaluation failed (its traceback is above); rerun with a single batch "
            "(--batch-size 1) to narrow it down, or report it with the traceback"
        )
    return [results[0], results[1]]


def run_party(rank: int, party: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any] | None:
    """Run rank ``rank``'s party of a multi-machine evaluation; the rendezvous address comes from ``$RENDEZVOUS``.

    ``RENDEZVOUS`` is ``tcp://HOST:PORT`` (a port on the host of rank 0, reachable by the others) or
    ``file:///shared/path``; ``WORLD_SIZE`` (2) and ``RANK`` are set here from the protocol and ``rank`` (0: model
    owner, 1: data owner, 2: the dealer). The dealer runs CrypTen's ``TTPServer`` and returns None.

    Example:
        >>> # RENDEZVOUS=tcp://10.0.0.5:29500 python -c "...run_party(1, both_parties, None, request, protocol)"
    """
    if not os.environ.get("RENDEZVOUS"):
        raise PrivateEvaluationError(
            "a party on its own machine needs the rendezvous address: set RENDEZVOUS=tcp://HOST:PORT (the model "
            "owner's host and a free port) on every machine, the same for all three"
        )
    protocol = next(a for a in args if isinstance(a, PrivateProtocol))
    os.environ.update({"WORLD_SIZE": str(protocol.parties), "RANK": str(rank)})
    os.environ.setdefault("DISTRIBUTED_BACKEND", "gloo")
    crypten = crypten_module()
    configure(protocol)
    if rank >= protocol.parties:
        crypten.mpc.provider.TTPServer()  # serves triples until rank 0 says it is done
        return None
    crypten.init()
    try:
        return party(*args)
    finally:
        crypten.uninit()
