"""``Sparse`` in fixed point, as Lava's ``PySparseModelBitAcc``, with binary spikes summed by a product.

Lava's model sums the weights of the columns that spiked as ``weights[:, s].sum(axis=1)``: a boolean column
selection of a CSR matrix copies the selected columns every step, and in a network of a few samples side by
side it was most of the run's time. ``weights @ s`` (``s`` as 0 / 1) is the same integer sum of the same
weights, in int64 (no rounding: integers); weights are clipped and truncated and the sum shifted exactly as
Lava does (``super().run_spk`` does it for graded spikes, which Lava already takes as a product).
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.sparse.models import PySparseModelBitAcc
from lava.proc.sparse.process import Sparse


@implements(proc=Sparse, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PySparseModelProduct(PySparseModelBitAcc):
    """Binary spikes: ``weights @ s``; graded spikes: Lava's own step."""

    def run_spk(self):
        if self.num_message_bits.item() > 0 or not self.weights_set:
            super().run_spk()  # graded, or the first step (Lava clips and truncates the weights there)
            return
        self.a_out.send(self.a_buff)
        s_in = self.s_in.recv().astype(bool).astype(np.int64)
        a_accum = self.weights.dot(s_in)
        self.a_buff = (np.left_shift(a_accum, self.weight_exp) if self.weight_exp > 0
                       else np.right_shift(a_accum, -self.weight_exp))
