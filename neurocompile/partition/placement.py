"""The placement: slices of placed layers -> cores -> chips, its JSON form (``placement.json``) and summary.

``placement.json`` (``Placement.to_json``)::

    {"schema_version": 1, "profile": NAME, "family": ...,
     "strategy": "split+pack" | "split+carve" | "split+empty" | "split+fill",
     "cores": [{"core": 0, "chip": 0,
                "slices": [{"layer": "relu1", "box": [[c0, c1], [h0, h1], [w0, w1]], "resources": {...}}],
                "utilisation": {RESOURCE: {"used": .., "limit": .. | null, "fraction": .. | null}}}],
     "lower_bound": {"cores": N, "resource": NAME, "per_resource": {RESOURCE: cores}, "totals": {...}},
     "chips": N,
     "layers": {LAYER: {"kind": "whole|channels|tiles|ranges", "chunk": [...], "slices": N,
                        "unsplit_synapse_words": N}},
     (kind and chunk: the layer's split; slices: after carving, which may cut more pieces;
     unsplit_synapse_words: the layer's synapse memory as one slice, to compare with its slices' sum)
     "traffic": {"unit": "spikes per timestep per sample", "rates": "...", "total": x,
                 "inter_core": x, "inter_chip": x},
     "seconds": compile time of the placement}

A box is [lo, hi) per axis of the layer's per-sample shape (C, H, W) or (F,). Files written before the naive
placement was retired from the build have a key ``"naive": {"cores": N | null, "more_than": N | null}`` and
``"strategy": "naive+pack"`` is possible there; they load (the key is ignored), and the schema stays 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import BundleError
from .connectivity import Box
from .resources import RESOURCES

SCHEMA_VERSION = 1


@dataclass
class PlacedSlice:
    layer: str
    box: Box
    resources: dict[str, int]
    core: int = -1


@dataclass
class Placement:
    profile: str
    family: str
    limits: dict[str, int | None]
    slices: list[PlacedSlice]
    chip_of_core: list[int]
    lower_bound: dict = field(default_factory=dict)
    layers: dict = field(default_factory=dict)
    traffic: dict = field(default_factory=dict)
    strategy: str = "split+pack"
    seconds: float = 0.0

    @property
    def n_cores(self) -> int:
        return len(self.chip_of_core)

    @property
    def n_chips(self) -> int:
        return max(self.chip_of_core) + 1 if self.chip_of_core else 0

    def core_slices(self) -> list[list[PlacedSlice]]:
        out: list[list[PlacedSlice]] = [[] for _ in range(self.n_cores)]
        for s in self.slices:
            out[s.core].append(s)
        return out

    def core_usage(self) -> list[dict[str, int]]:
        return [{r: sum(s.resources[r] for s in sl) for r in RESOURCES} for sl in self.core_slices()]

    def utilisation(self, used: dict[str, int]) -> dict[str, dict]:
        out = {}
        for r in RESOURCES:
            lim = self.limits.get(r)
            out[r] = {"used": int(used[r]), "limit": lim, "fraction": None if lim is None else round(used[r] / lim, 4)}
        return out

    def to_json(self) -> dict:
        cores = []
        for c, (sl, used) in enumerate(zip(self.core_slices(), self.core_usage())):
            cores.append({"core": c, "chip": self.chip_of_core[c],
                          "slices": [{"layer": s.layer, "box": [list(r) for r in s.box],
                                      "resources": dict(s.resources)} for s in sl],
                          "utilisation": self.utilisation(used)})
        return {"schema_version": SCHEMA_VERSION, "profile": self.profile, "family": self.family,
                "limits": dict(self.limits), "strategy": self.strategy, "cores": cores,
                "lower_bound": self.lower_bound, "chips": self.n_chips, "layers": self.layers,
                "traffic": self.traffic, "seconds": round(self.seconds, 3)}

    @classmethod
    def from_json(cls, doc: dict, where: str = "placement.json") -> "Placement":
        try:
            if doc.get("schema_version") != SCHEMA_VERSION:
                raise BundleError(f"{where}: schema_version {doc.get('schema_version')!r} not supported")
            slices, chips = [], []
            for c in doc["cores"]:
                chips.append(int(c["chip"]))
                for s in c["slices"]:
                    box = tuple((int(lo), int(hi)) for lo, hi in s["box"])
                    res = {r: int(s["resources"][r]) for r in RESOURCES}
                    slices.append(PlacedSlice(str(s["layer"]), box, res, int(c["core"])))
            return cls(str(doc["profile"]), str(doc["family"]), dict(doc["limits"]), slices, chips,
                       dict(doc.get("lower_bound") or {}), dict(doc.get("layers") or {}),
                       dict(doc.get("traffic") or {}), str(doc.get("strategy", "")), float(doc.get("seconds", 0.0)))
        except BundleError:
            raise
        except (KeyError, TypeError, ValueError) as e:
            raise BundleError(f"{where}: malformed placement ({type(e).__name__}: {e})") from None

    def summary(self) -> dict:
        """The report.json entry: cores, chips, bounds, traffic, peak utilisation per resource."""
        usage = self.core_usage()
        peak = {}
        for r in RESOURCES:
            lim = self.limits.get(r)
            top = max((u[r] for u in usage), default=0)
            peak[r] = {"max_used": int(top), "limit": lim,
                       "max_fraction": None if lim is None else round(top / lim, 4)}
        return {"profile": self.profile, "cores": self.n_cores, "chips": self.n_chips,
                "lower_bound": self.lower_bound, "strategy": self.strategy,
                "traffic": self.traffic, "peak_utilisation": peak, "layers": self.layers,
                "seconds": round(self.seconds, 3)}
