"""Regenerate the golden samples (only when the contract changes on purpose; say so in the commit).

    .venv/bin/python tests/golden/make_golden.py

Writes ``v1/snn.json`` + ``v1/snn.npz`` (an integer IR of schema version 1) and ``v1/expected.npz``
(inputs, readout and spike counts of intsim on them), so later versions must keep loading schema 1
and must keep computing the same integers.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1]))

from netgen import random_graph, random_inputs  # noqa: E402
from neurocompile.backends.intsim import simulate  # noqa: E402
from neurocompile.compiler import CompileOptions, compile_graph  # noqa: E402
from neurocompile.ir import save  # noqa: E402

HERE = Path(__file__).parent / "v1"


def main() -> None:
    HERE.mkdir(exist_ok=True)
    g = random_graph(11, residual=True)
    ig = compile_graph(g, random_inputs(g, 32, 11), CompileOptions(method="rueckauer", weight_bits=6, v_init=0.5))
    x = random_inputs(g, 5, 12)
    r = simulate(ig, x, 12)
    save(ig, HERE / "snn")
    np.savez_compressed(HERE / "expected.npz", x=x, timesteps=12, readout=r.readout,
                        **{f"count/{k}": v for k, v in r.spike_counts.items()})
    print(f"wrote {HERE}")


if __name__ == "__main__":
    main()
