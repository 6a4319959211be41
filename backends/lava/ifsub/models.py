"""Fixed-point ProcessModel of ``IFSubtract``: Lava's bit-accurate LIF with the reset replaced."""

from __future__ import annotations

import numpy as np
import torch
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.lif.models import AbstractPyLifModelFixed

from neurocompile import fixedpoint as fx
from neurocompile.backends.lava.forked import single_threaded
from neurocompile.backends.lava.ifsub.process import IFGraded, IFSubtract


@implements(proc=IFSubtract, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PyIFSubtractModelFixed(AbstractPyLifModelFixed):
    """u, v, bias and threshold exactly as ``PyLifModelBitAcc``; on a spike ``v -= vth << 6``."""

    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    vth: int = LavaPyType(int, np.int32, precision=17)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.effective_vth = 0

    def scale_threshold(self):
        self.effective_vth = np.left_shift(self.vth, self.vth_shift)
        self.isthrscaled = True

    def spiking_activation(self):
        return self.v > self.effective_vth

    def reset_voltage(self, spike_vector: np.ndarray):
        self.v[spike_vector] -= self.effective_vth


@implements(proc=IFGraded, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PyIFGradedModelFixed(AbstractPyLifModelFixed):
    """u, v, bias and threshold exactly as ``PyLifModelBitAcc``; the spike is the signed graded value of
    ``fixedpoint.if_graded_update_`` (the one place the rule is written), applied to the integrated v."""

    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    vth: int = LavaPyType(int, np.int32, precision=17)
    held: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        single_threaded()
        self.effective_vth = 0
        self.spike_max = int(proc_params["spike_max"])
        self.buffered = bool(proc_params["buffered"])
        self.reset = str(proc_params["reset"])

    def scale_threshold(self):
        self.effective_vth = np.left_shift(self.vth, self.vth_shift)
        self.isthrscaled = True

    def spiking_activation(self):
        v = torch.as_tensor(self.v.astype(np.int64))
        held = torch.as_tensor(self.held.astype(np.int64))
        th = torch.full_like(v, int(np.asarray(self.effective_vth).flat[0]))
        # v already holds sat(v + u + bias) from subthr_dynamics: a zero drive, no further saturation
        s = fx.if_graded_update_(v, held, torch.zeros_like(v), th, self.reset, None, self.spike_max, self.buffered)
        self.v[:] = v.numpy()
        self.held[:] = held.numpy()
        return s.numpy().astype(np.int32)

    def reset_voltage(self, spike_vector: np.ndarray):
        pass  # done in spiking_activation (the reset is part of the graded rule)
