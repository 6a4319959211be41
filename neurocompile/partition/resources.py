"""The resource model: what one slice of a placed layer costs a core, per the target's profile.

Resources of a slice (a box of a placed layer, see ``connectivity``):

* ``neurons``: units in the box.
* ``input_axons``: distinct source units feeding the box, summed over its connections; with
  ``pixel_axons`` a convolution-like connection needs one axon per source *pixel* instead (population
  axons: the channel travels with the spike). The analog input counts like any source.
* ``synapse_words``: synapse memory. Per input axon a list of entries (weight + target index + delay +
  tag bits, ``HardwareProfile.entry_bits``; the index addresses any neuron of the core) packed per
  ``SynapseEncoding`` (:func:`list_words`; ``groups`` packing: one synapse format per connection, of the
  group size that needs the fewest words, :func:`format_words`). With
  ``conv_sharing`` a convolution-like connection stores each distinct weight set once (``variants``: the
  boundary variants of the kernel restricted to the slice's output channels) or the kernel once
  (``kernel``: its part for the slice's channels and the taps the slice uses), not one list per source unit.
  MaxPool2d gates store no weights.
* ``output_axons``: per source unit, one axon for every slice of every layer it feeds (per source pixel
  with ``pixel_axons``); depends on how the consumers are split, so it is computed for a whole split by
  :func:`output_axons`. Units of the network input live off-chip and are not counted.
* ``populations``: 1 per slice (each slice has its own neuron configuration and threshold).
* ``param_bits``: neuron memory: per unit its state and, where present, its bias and initial potential,
  plus the slice's thresholds, each ``profile.state_bits`` wide.

All are additive over the slices on a core (a conservative model: two slices on one core share nothing).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..ir import Graph
from .connectivity import Box, Conn, box_index, box_size, build_conns, placed_layers, widest_composed_bits
from ..targets.profiles import HardwareProfile, SynapseEncoding
from .tuning import CACHED_LISTS as _CACHED_LISTS

RESOURCES = ("neurons", "input_axons", "output_axons", "synapse_words", "populations", "param_bits")
OUT = RESOURCES.index("output_axons")  # the resource a slice's consumers' split decides
#: how each resource is named in messages
RESOURCE_TEXT = {"neurons": "neurons", "input_axons": "input axons", "output_axons": "output axons",
                 "synapse_words": "synapse memory words", "populations": "layer slices",
                 "param_bits": "neuron parameter bits"}


@functools.lru_cache(maxsize=None)
def group_rate(entry_bits: int, enc: SynapseEncoding) -> tuple[int, int]:
    """(words, entries) of the group size whose words per entry are fewest: a group of m <= group_size
    entries costs ceil((m * entry + overhead) / word) words, so any list of n entries, however it is cut
    into groups (or its groups spread over cores), costs at least n * words / entries words."""
    best = (1, 0)
    for m in range(1, enc.group_size + 1):
        w = -(-(m * entry_bits + enc.group_overhead_bits) // enc.word_bits)
        if w * best[1] < best[0] * m:
            best = (w, m)
    return best


def list_words(n: np.ndarray, entry_bits: int, enc: SynapseEncoding, lower: bool = False,
               mult: np.ndarray | None = None) -> int:
    """Memory words of synapse lists of ``n`` entries each, the list ``n[i]`` standing for ``mult[i]`` lists
    (default 1). ``groups`` packing: the lists of one connection share one synapse format, whose group size
    (entries per group, at most ``group_size``) is chosen to need the fewest words (:func:`format_words`).
    ``lower``: a bound that no way of cutting the lists into pieces can beat (for the lower bound): per list
    the larger of ceil((n * entry + groups * overhead) / word) (exact for a list of one group: cutting it
    adds overhead) and, with a group size, n entries at the best words per entry of any group
    (:func:`group_rate`)."""
    n = np.atleast_1d(np.asarray(n, dtype=np.int64))
    mult = np.ones(len(n), dtype=np.int64) if mult is None else np.atleast_1d(np.asarray(mult, dtype=np.int64))
    if enc.packing == "lanes":
        lanes = enc.word_bits // entry_bits
        words = n * math.ceil(entry_bits / enc.word_bits) if lanes == 0 else -(-n // lanes)
        return int((words * mult).sum())
    if lower or not enc.group_size:  # without a group size: one group per list, exact
        groups = -(-n // enc.group_size) if enc.group_size else (n > 0)
        words = -(-(n * entry_bits + groups * enc.group_overhead_bits) // enc.word_bits)
        if enc.group_size:
            per, entries = group_rate(entry_bits, enc)
            words = np.maximum(words, -(-(n * per) // entries))
        return int((words * mult).sum())
    if len(n) <= _CACHED_LISTS:  # a convolution's slices repeat the same few: one kernel, or its variants
        return _lists_words(n.tobytes(), mult.tobytes(), entry_bits, enc)
    return _grouped_words(n, mult, entry_bits, enc)


@functools.lru_cache(maxsize=65536)
def _lists_words(n: bytes, mult: bytes, entry_bits: int, enc: SynapseEncoding) -> int:
    return _grouped_words(np.frombuffer(n, np.int64), np.frombuffer(mult, np.int64), entry_bits, enc)


def _grouped_words(n: np.ndarray, mult: np.ndarray, entry_bits: int, enc: SynapseEncoding) -> int:
    lengths, inverse = np.unique(n, return_inverse=True)
    counts = np.bincount(inverse, weights=mult).astype(np.int64)
    return format_words(tuple(lengths.tolist()), tuple(counts.tolist()), entry_bits, enc)


@functools.lru_cache(maxsize=65536)
def format_words(lengths: tuple[int, ...], counts: tuple[int, ...], entry_bits: int,
                 enc: SynapseEncoding) -> int:
    """Fewest words of ``counts[i]`` lists of ``lengths[i]`` entries in groups of one size g <= group_size
    (a list costs its full groups of g, ceil((g * entry + overhead) / word) words each, plus its remainder
    group): the group size is a field of the synapse format (nengo-loihi's ``n_synapses + 1``)."""
    g = np.arange(1, enc.group_size + 1, dtype=np.int64)[:, None]
    n = np.asarray(lengths, dtype=np.int64)[None, :]
    rem = n % g
    cost = (n // g) * (-(-(g * entry_bits + enc.group_overhead_bits) // enc.word_bits)) \
        + np.where(rem > 0, -(-(rem * entry_bits + enc.group_overhead_bits) // enc.word_bits), 0)
    return int((cost @ np.asarray(counts, dtype=np.int64)).min())


class ResourceModel:
    """Per-slice resources of ``graph``'s placed layers on ``profile``; queries are cached per box."""

    def __init__(self, graph: Graph, profile: HardwareProfile, conns: dict[str, list[Conn]] | None = None):
        self.graph, self.profile = graph, profile
        self.conns = conns if conns is not None else build_conns(graph)
        self.shapes = graph.infer_shapes()
        self.layers = placed_layers(graph)
        self._cache: dict[tuple, dict] = {}
        self._unit_bits = {name: self._param_words(name) for name in self.layers}
        # lanes (the FPGA ROMs): every core's entries are as wide as the network's widest composed weight
        self._lane_bits = max(max((c.weight_bits for cs in self.conns.values() for c in cs), default=0),
                              widest_composed_bits(graph)) if profile.synapses.packing == "lanes" else None

    def _param_words(self, name: str) -> tuple[int, int]:
        """(state words per unit, threshold words per slice): the layer's ``param_words`` facet."""
        return self.graph.node(name).param_words()

    def pixel_mode(self, conn: Conn) -> bool:
        return self.profile.synapses.pixel_axons and conn.conv_like

    def slice_resources(self, layer: str, box: Box, lower: bool = False) -> dict[str, int]:
        """Every resource of the slice except ``output_axons`` (0 here; see :func:`output_axons`). ``lower``:
        synapse memory without the rounding a split could avoid (a figure no split of the slice can go
        below, for the lower bound)."""
        key = (layer, box, lower)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        prof = self.profile
        neurons = box_size(box)
        axons = words = 0
        for c in self.conns[layer]:
            q = c.query(box)
            axons += q.pixels if self.pixel_mode(c) else q.units
            if c.weight_bits == 0:
                continue
            entry = prof.entry_bits(self._lane_bits or c.weight_bits)
            sharing = prof.synapses.conv_sharing if c.conv_like and q.set_syn is not None else "none"
            if sharing == "kernel":
                words += list_words(q.kernel_syn, entry, prof.synapses, lower)
            elif sharing == "variants":
                words += list_words(q.set_syn, entry, prof.synapses, lower)
            else:
                words += list_words(q.unit_syn, entry, prof.synapses, lower, q.unit_mult)
        per_unit, per_slice = self._unit_bits[layer]
        res = {"neurons": neurons, "input_axons": int(axons), "output_axons": 0, "synapse_words": int(words),
               "populations": 1, "param_bits": (neurons * per_unit + per_slice) * prof.state_bits}
        self._cache[key] = res
        return res

    def fits(self, res: dict[str, int], skip: tuple[str, ...] = ("output_axons",)) -> str | None:
        """The first resource of ``res`` over its per-core limit (None if all fit)."""
        for r, lim in self.profile.limits.items():
            if r not in skip and lim is not None and res[r] > lim:
                return r
        return None


# ------------------------------------------------------------------------------------- output axons, traffic
def consumers(model: ResourceModel) -> dict[str, list[tuple[str, Conn]]]:
    """Placed layer -> [(consumer layer, connection)] for every connection it is the source of."""
    out: dict[str, list] = {name: [] for name in model.layers}
    for dst in model.layers:
        for c in model.conns[dst]:
            if c.source in out:
                out[c.source].append((dst, c))
    return out


def output_axons(model: ResourceModel, layer: str, boxes: list[Box], dst_boxes: dict[str, list[Box]],
                 rates: dict[str, np.ndarray] | None = None, cons=None,
                 traffic: bool = False) -> tuple[np.ndarray, list]:
    """Output axons of each of ``layer``'s slices ``boxes`` given its consumers' slices ``dst_boxes``; with
    ``traffic``, also the spike traffic [(consumer, d, s, spikes)]: the consumer's slices ``d`` and these
    slices ``s`` (int32) of the pairs with connected units, and the spikes per step from s to d (connected
    units times the mean firing rate of the source slice; ``rates``: per-unit rates of ``layer``, spikes
    per step; None = 1, so traffic counts connected units)."""
    cons = cons if cons is not None else consumers(model)
    axons = np.zeros(len(boxes), dtype=np.int64)
    flows: list = []
    arr = np.asarray(boxes, dtype=np.int64).reshape(len(boxes), -1, 2)
    rate = np.ones(len(boxes))
    if rates is not None and layer in rates:
        r = np.asarray(rates[layer], dtype=np.float64)
        rate = np.array([r[box_index(b)].mean() for b in boxes])
    for dst, conn in cons.get(layer, []):
        pixel = model.pixel_mode(conn)
        if not traffic:
            axons += conn.overlap_many(dst_boxes[dst], arr, pixel)
            continue
        units = conn.overlap_matrix(dst_boxes[dst], arr)
        axons += (conn.overlap_matrix(dst_boxes[dst], arr, True) if pixel else units).sum(0)
        d, s = np.nonzero(units)
        spikes = units[d, s] * rate[s]
        keep = spikes != 0  # silent source slices send nothing
        flows.append((dst, d[keep].astype(np.int32), s[keep].astype(np.int32), spikes[keep]))
    return axons, flows


def out_axons_of(model: ResourceModel, layer: str, dst_boxes: dict[str, list[Box]], cons=None):
    """A function box -> output axons of that slice of ``layer`` given its consumers' slices."""
    cons = cons if cons is not None else consumers(model)
    counts = [conn.counter(dst_boxes[dst], model.pixel_mode(conn)) for dst, conn in cons.get(layer, [])]

    def count(box: Box) -> int:
        return sum(c(box) for c in counts)
    return count
