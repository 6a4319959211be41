"""Memory images of the FPGA cores: ``$readmemh`` (canonical), Xilinx COE and Intel MIF, plus a JSON
manifest per memory that is enough to decode an image without this code.

A memory is ``depth`` words of ``word_bits`` bits. A word holds ``lanes`` lanes of ``lane_bits`` bits each,
lane k at bits ``[k * lane_bits, (k + 1) * lane_bits)`` (lane 0 in the least significant bits, unused high bits
zero). A lane holds named fields, each at ``[lsb, lsb + bits)`` of the lane, signed fields in two's
complement. Words past ``used`` are zero up to the full ``depth`` (a power of two, at least 2), so every
simulator loads the same contents (a ``$readmemh`` of fewer lines than the memory leaves the rest undefined
in some simulators).

* ``.mem`` (``$readmemh``): a ``//`` comment header, then one word per line, ``ceil(word_bits / 4)`` hex
  digits, most significant first, masked (no minus sign).
* ``.coe``: ``memory_initialization_radix=16;`` and the same hex words, comma separated, ``;`` at the end.
* ``.mif``: ``DEPTH``, ``WIDTH``, ``ADDRESS_RADIX = HEX``, ``DATA_RADIX = HEX``, ``CONTENT BEGIN``, one
  ``address : word;`` per line, ``END;``.

Words are packed with exact integer arithmetic on numpy object arrays (Python ints of any width); the tests
decode every image field by field with ``bitstring`` from the manifest alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from neurocompile import fixedpoint as fx

MANIFEST_FORMAT = "neurocompile-fpga-memory"
MANIFEST_VERSION = 1
FORMATS = ("mem", "coe", "mif")


@dataclass(frozen=True)
class Field:
    name: str
    bits: int
    signed: bool
    description: str = ""


@dataclass
class Memory:
    """One ROM: ``values[field]`` holds one integer per lane slot (lane-major: slot = word * lanes + lane)."""

    name: str  # e.g. "core3_syn"
    role: str  # "synapses", "axons" or "neurons"
    fields: tuple[Field, ...]  # least significant first within a lane
    values: dict[str, np.ndarray]  # field -> (slots,) int64, slots = used * lanes
    lanes: int = 1
    word_bits: int | None = None  # None: lanes * lane_bits
    order: str = ""  # what address / lane k holds, in words
    slot_valid: np.ndarray | None = None  # (slots,) bool: False for padding lanes (written as 0)

    @property
    def lane_bits(self) -> int:
        return sum(f.bits for f in self.fields)

    @property
    def width(self) -> int:
        return self.word_bits if self.word_bits is not None else self.lanes * self.lane_bits

    @property
    def used(self) -> int:
        n = len(next(iter(self.values.values()))) if self.values else 0
        return -(-n // self.lanes)

    @property
    def depth(self) -> int:
        return max(2, 1 << max(0, self.used - 1).bit_length())

    @property
    def addr_bits(self) -> int:
        return max(1, (self.depth - 1).bit_length())

    def words(self) -> list[int]:
        """The ``depth`` words as non-negative Python ints."""
        if self.lanes * self.lane_bits > self.width:
            raise ValueError(f"memory {self.name}: {self.lanes} lanes of {self.lane_bits} bits > {self.width}-bit word")
        slots = self.used * self.lanes
        lane = np.zeros(slots, dtype=object)
        lsb = 0
        for f in self.fields:
            v = np.zeros(slots, dtype=np.int64)
            got = np.asarray(self.values[f.name], dtype=np.int64)
            v[: got.size] = got
            lo, hi = (-(1 << (f.bits - 1)), (1 << (f.bits - 1)) - 1) if f.signed else (0, (1 << f.bits) - 1)
            if v.size and (v.min() < lo or v.max() > hi):
                raise ValueError(f"memory {self.name}: field {f.name} value out of {f.bits}-bit "
                                 f"{'signed' if f.signed else 'unsigned'} range [{v.min()}, {v.max()}]")
            lane = lane + (fx.twos_complement(v, f.bits).astype(object) << lsb)
            lsb += f.bits
        if self.slot_valid is not None:
            valid = np.zeros(slots, dtype=bool)
            valid[: self.slot_valid.size] = self.slot_valid
            lane = np.where(valid, lane, 0)
        per_word = lane.reshape(self.used, self.lanes) if slots else np.zeros((0, self.lanes), dtype=object)
        words = np.zeros(self.used, dtype=object)
        for k in range(self.lanes):
            words = words + (per_word[:, k] << (k * self.lane_bits))
        return [int(w) for w in words] + [0] * (self.depth - self.used)

    def manifest(self, files: dict[str, str]) -> dict:
        lsb, fields = 0, []
        for f in self.fields:
            fields.append({"name": f.name, "lsb": lsb, "bits": f.bits, "signed": f.signed,
                           "description": f.description})
            lsb += f.bits
        return {"format": MANIFEST_FORMAT, "schema_version": MANIFEST_VERSION, "memory": self.name,
                "role": self.role, "depth": self.depth, "used_words": self.used, "word_bits": self.width,
                "addr_bits": self.addr_bits, "lanes": self.lanes, "lane_bits": self.lane_bits,
                "lane_order": "lane k at word bits [k*lane_bits, (k+1)*lane_bits), lane 0 least significant",
                "fields": fields, "order": self.order,
                "encoding": "two's complement for signed fields; unused bits and words past used_words are 0",
                "files": files}


def hex_digits(bits: int) -> int:
    return -(-bits // 4)


def render(mem: Memory, fmt: str, words: list[int] | None = None) -> str:
    words = mem.words() if words is None else words
    nd, w = hex_digits(mem.width), mem.width
    hexes = [format(x, f"0{nd}x") for x in words]
    title = f"{mem.name}: {mem.depth} x {w}-bit words ({mem.role}, {mem.lanes} lane(s) of {mem.lane_bits} bits)"
    if fmt == "mem":
        return f"// {title}; see {mem.name}.json\n" + "\n".join(hexes) + "\n"
    if fmt == "coe":
        return (f"; {title}\nmemory_initialization_radix=16;\nmemory_initialization_vector=\n"
                + ",\n".join(hexes) + ";\n")
    if fmt == "mif":
        ad = hex_digits(mem.addr_bits)
        body = "\n".join(f"{i:0{ad}X} : {h.upper()};" for i, h in enumerate(hexes))
        return (f"-- {title}\nDEPTH = {mem.depth};\nWIDTH = {w};\nADDRESS_RADIX = HEX;\nDATA_RADIX = HEX;\n"
                f"CONTENT\nBEGIN\n{body}\nEND;\n")
    raise ValueError(f"unknown image format {fmt!r}")


def image_files(mem: Memory, prefix: str = "") -> dict[str, str]:
    """``{relative path: text}``: the three images and the manifest (``<prefix><name>.json``)."""
    words = mem.words()
    names = {fmt: f"{mem.name}.{fmt}" for fmt in FORMATS}
    out = {prefix + names[f]: render(mem, f, words) for f in FORMATS}
    out[prefix + f"{mem.name}.json"] = json.dumps(mem.manifest(names), indent=2) + "\n"
    return out
