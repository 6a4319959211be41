"""The partitioner's tuning constants, in one place.

Each constant bounds the time or the search of one step, or sizes a cache; none changes what a placement
may be (every placement is checked exactly against the profile's limits), but most change which placement
is found, so a change is judged on ``benchmarks/partition.py`` (cores per row) and
``benchmarks/bundle_hashes.py`` (bundles of the examples). The figures behind the values are in
``docs/partition.md`` and ``benchmarks/results/``, not here.

The partitioner's own modules read them as ``tuning.NAME`` when they run, so a test can change one with
``monkeypatch.setattr(tuning, NAME, value)``; ``connectivity.py`` and ``resources.py`` import their names
(``from .tuning import ...``), so a test changes those where they are imported. (The packings' constants
are still in carve.py, empty.py, fill.py, pack.py and place.py.)
"""

from __future__ import annotations

# ------------------------------------------------------------------------------------ splitting (split.py)

#: weight sharing modes (``synapses.conv_sharing``) whose split score counts every slice's output axons:
#: with ``variants`` every spatial tile stores the boundary weight sets again, so the splits the output
#: axons allow are small and their slices fill a core's output axons; with ``kernel`` output axons do not
#: bind, and counting them steers early layers to splits that store more synapse memory
OUT_AXONS_SCORED = ("variants",)
#: splits within this factor of the fewest fractional cores (then of the smallest sum over the resources)
#: count as equal and are ranked by slices, then fan-in: the fractional-core score is an estimate from one
#: window of the layer, so a difference of a few per cent is noise, while fewer slices are fewer messages
FRAC_TOLERANCE = 1.02

# ------------------------------------------------------------------- workers (workers.py, validate.py)

#: jobs over fewer slices than this run in this process: forking costs more than they take
MIN_SLICES = 100
#: the validator's recount of every slice's resources is shared among this many jobs (forked workers on
#: several CPUs)
VALIDATE_PARTS = 2

# ----------------------------------------------------------------------- connectivity (connectivity.py)

#: composite taps per axis of a ConvConn: its tap patterns are held as the bits of an int64 (a
#: representation limit, not a knob: a path with more taps is a MatrixConn)
MAX_TAPS = 62
#: elements of the largest intermediate array of an overlap computation (memory against the number of
#: numpy calls)
OVERLAP_BATCH = 2_000_000
#: ConvConn overlaps go through the grid of the source boxes' distinct row and column ranges when it has at
#: most this many cells per source box (else per source box directly)
GRID_FACTOR = 1
#: up to this many source boxes, or (group, source box) products, overlaps are computed directly per group
#: and source box (the grouped computation's set-up costs more)
DIRECT_SOURCES = 8
DIRECT_MAX = 50_000
#: counts kept per ConvConn for boxes of the same channels and tap patterns (``ConvConn._by_taps``): bounded
#: memory; cleared when full
SHAPE_CACHE = 2048

# ----------------------------------------------------------------------------- resources (resources.py)

#: synapse lists of at most this many distinct lengths are counted through a cache (a convolution's slices
#: repeat the same few: one kernel, or its boundary variants); longer ones are counted directly
CACHED_LISTS = 64
