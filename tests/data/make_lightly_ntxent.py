"""Regenerate tests/data/lightly_ntxent.json: lightly's NT-Xent loss on fixed inputs, the reference for
tests/test_ssl.py (lightly is not a robustscope dependency: its wheel is installed apart, without its dependencies).

    pip install --no-deps --target /tmp/lightly_pkg lightly==1.6.0
    PYTHONPATH=/tmp/lightly_pkg .venv/bin/python tests/data/make_lightly_ntxent.py
"""

import json
from pathlib import Path

import torch

if __name__ == "__main__":
    from lightly.loss import NTXentLoss  # imported here: pytest imports this file while collecting doctests

    generator = torch.Generator().manual_seed(0)
    cases = []
    for batch, dim, temperature in [(4, 3, 0.5), (8, 16, 0.1), (16, 8, 0.2)]:
        z0 = torch.randn(batch, dim, generator=generator, dtype=torch.float64)
        z1 = torch.randn(batch, dim, generator=generator, dtype=torch.float64)
        loss = NTXentLoss(temperature=temperature)(z0, z1).item()
        cases.append({"temperature": temperature, "z0": z0.tolist(), "z1": z1.tolist(), "loss": loss})
    source = ("lightly 1.6.0 (PyPI wheel), lightly/loss/ntx_ent_loss.py, NTXentLoss(temperature=T, memory_bank_size=0) "
              "on float64 inputs; made by tests/data/make_lightly_ntxent.py")
    out = Path(__file__).with_name("lightly_ntxent.json")
    out.write_text(json.dumps({"source": source, "cases": cases}, indent=1) + "\n")
