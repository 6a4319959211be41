"""Fixed-point ProcessModel of ``MaxCountGate``: the rule is ``fixedpoint.max_count_gate`` (the one place it
is written; intsim calls it on whole spike trains, this model one step at a time with the state carried)."""

from __future__ import annotations

import numpy as np
import torch
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from neurocompile import fixedpoint as fx
from neurocompile.backends.lava.forked import single_threaded
from neurocompile.backends.lava.maxgate.process import MaxCountGate, pooled_shape


@implements(proc=MaxCountGate, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PyMaxCountGateModelFixed(PyLoihiProcessModel):
    """Receive the source's spikes of this step, update the counts, send the change of each window's max."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    counts: np.ndarray = LavaPyType(np.ndarray, np.int64)
    maxima: np.ndarray = LavaPyType(np.ndarray, np.int64)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        single_threaded()
        self.in_shape = tuple(proc_params["in_shape"])
        self.kernel_size = tuple(proc_params["kernel_size"])
        self.stride = tuple(proc_params["stride"])
        self.padding = tuple(proc_params["padding"])
        self.ceil_mode = bool(proc_params["ceil_mode"])
        self.out_shape = pooled_shape(self.in_shape, self.kernel_size, self.stride, self.padding, self.ceil_mode)

    def run_spk(self):
        x = torch.as_tensor(np.asarray(self.a_in.recv()).astype(np.int64).reshape(1, *self.in_shape))
        counts = torch.as_tensor(self.counts.astype(np.int64).reshape(self.in_shape))
        maxima = torch.as_tensor(self.maxima.astype(np.int64).reshape(self.out_shape))
        out, counts, maxima = fx.max_count_gate(x, self.kernel_size, self.stride, counts, maxima,
                                                self.padding, self.ceil_mode)
        self.counts[:] = counts.numpy().reshape(-1)
        self.maxima[:] = maxima.numpy().reshape(-1)
        self.s_out.send(out.numpy().reshape(-1).astype(np.int32))
