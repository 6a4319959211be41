"""Fixed-point ProcessModels of ``STEncoder`` and ``SpikeAccumulator``; the integer rules are
``neurocompile.fixedpoint.stc_load`` / ``stc_step_`` (the one place they are written)."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from neurocompile import fixedpoint as fx
from neurocompile.backends.lava.stc.process import SpikeAccumulator, STEncoder


@implements(proc=STEncoder, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PySTEncoderModelFixed(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=1)
    v: np.ndarray = LavaPyType(np.ndarray, np.int64)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int64)
    thresholds: np.ndarray = LavaPyType(np.ndarray, np.int64)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.load_shift = int(proc_params["load_shift"])
        self.state_bits = int(proc_params["state_bits"])
        self.t_load = int(proc_params["t_load"])

    def run_spk(self):
        a = self.a_in.recv().astype(np.int64)
        k = self.time_step - self.t_load
        if k == 0:
            self.v[:] = fx.stc_load(a, self.bias, self.load_shift, self.state_bits)
        s = np.zeros(self.v.shape, dtype=np.int32)
        if 0 <= k < self.thresholds.size:
            s = fx.stc_step_(self.v, int(self.thresholds[k])).astype(np.int32)
        self.s_out.send(s)


@implements(proc=SpikeAccumulator, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PySpikeAccumulatorModelFixed(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int64)
    acc: np.ndarray = LavaPyType(np.ndarray, np.int64)
    weights: np.ndarray = LavaPyType(np.ndarray, np.int64)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.t_first = int(proc_params["t_first"])
        self.t_send = int(proc_params["t_send"])

    def run_spk(self):
        a = self.a_in.recv().astype(np.int64)
        k = self.time_step - self.t_first
        if 0 <= k < self.weights.size:
            self.acc += self.weights[k] * a
        out = self.acc.copy() if self.time_step == self.t_send else np.zeros(self.acc.shape, dtype=np.int64)
        self.s_out.send(out)
