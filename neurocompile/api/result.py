"""``SimResult``: what ``simulate`` measured, with the keys and values of ``neurocompile simulate --json``."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: keys the ``--json`` document starts with, in this order (more follow them)
JSON_KEYS = ("backend", "dataset", "samples", "timesteps", "ann_accuracy", "snn_accuracy",
             "synops_per_sample", "macs_per_sample", "seconds")


@dataclass(eq=False)
class SimResult:
    """One simulation of a bundle on a test set. The attributes up to ``energy`` are the keys of
    :meth:`to_dict`; ``extra`` holds backend-specific keys (``rtl``: ``simulator``, ``cycles``), which are
    also readable as attributes."""

    backend: str  # simulator name
    dataset: str  # the dataset as given (name or path), "(x, y) arrays" or "torch Dataset <class>"
    samples: int  # test samples simulated
    timesteps: int  # integration steps T
    ann_accuracy: float  # fraction in [0, 1]: argmax of the bundle's float ANN vs the labels
    snn_accuracy: float  # argmax of the SNN readout vs the labels
    synops_per_sample: float  # mean over samples of the synaptic operations
    macs_per_sample: int  # multiply-accumulates of one ANN inference
    seconds: float  # wall time of the SNN simulation alone
    mismatches: int | None  # checked backends: spike values that differ from intsim's (all layers and steps)
    readout_mismatches: int | None  # checked backends: samples whose readout differs from intsim's
    spikes_per_sample: dict[str, float]  # per population / spiking gate: mean spikes per sample
    synops_per_mac: float | None  # SynOps per MAC (None without MACs)
    run_steps: int  # simulated steps (T + pipeline latency)
    bundle: str | None  # the bundle's directory (None: not saved)
    target: str  # the bundle's target
    #: operation counts per sample and the energy per sample they cost on each target profile and the ANN
    #: references (``neurocompile.energy.estimate``; docs/semantics.md, "Energy")
    energy: dict | None = None
    extra: dict = field(default_factory=dict)  # backend-specific keys of the document, after the others
    neurons: dict[str, int] = field(default_factory=dict, repr=False)  # per layer of spikes_per_sample: units
    readout: np.ndarray | None = field(default=None, repr=False)  # (samples, classes) int64 readout
    spikes: dict[str, np.ndarray] | None = field(default=None, repr=False)  # record=True: (run_steps, samples, ...)

    @property
    def predictions(self) -> np.ndarray:
        """The SNN's class per sample (argmax of the readout)."""
        return self.readout.argmax(1)

    def __getattr__(self, name: str):
        extra = self.__dict__.get("extra") or {}
        if name in extra:
            return extra[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def to_dict(self) -> dict:
        """The document ``neurocompile simulate --json`` writes: the same keys in the same order."""
        doc = {k: getattr(self, k) for k in JSON_KEYS}
        if self.mismatches is not None:
            doc["mismatches"] = self.mismatches
            doc["readout_mismatches"] = self.readout_mismatches
        doc["spikes_per_sample"] = dict(self.spikes_per_sample)
        doc.update({"synops_per_mac": self.synops_per_mac, "run_steps": self.run_steps, "bundle": self.bundle,
                    "target": self.target, "energy": self.energy})
        doc.update(self.extra)
        return doc
