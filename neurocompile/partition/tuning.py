"""The partitioner's tuning constants, in one place.

Each constant bounds the time or the search of one step, or sizes a cache; none changes what a placement
may be (every placement is checked exactly against the profile's limits), but most change which placement
is found, so a change is judged on ``benchmarks/partition.py`` (cores per row) and
``benchmarks/bundle_hashes.py`` (bundles of the examples). The figures behind the values are in
``docs/partition.md`` and ``benchmarks/results/``, not here.

The partitioner's own modules read them as ``tuning.NAME`` when they run, so a test can change one with
``monkeypatch.setattr(tuning, NAME, value)``; ``connectivity.py`` and ``resources.py`` import their names
(``from .tuning import ...``), so a test changes those where they are imported.
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

# -------------------------------------------------------------------------------------- first fit (pack.py)

#: the first fit drops, every this many slices, the open cores that no remaining slice fits (the scan over
#: open cores is the first fit's cost on thousands of cores; dropping is exact, so the value only moves
#: time between the scan and the pruning)
PRUNE_EVERY = 32

# ------------------------------------------------------------------------------------- carving (carve.py)

#: carved pieces a core may receive: each piece is one more slice (output axons and messages for the
#: feeding layers), so a core is not filled with slivers of many slices
MAX_PIECES = 2
#: a piece is carved for an open core only when that core could take at least this share of the slice:
#: smaller pieces cost a slice each and save little room
MIN_SHARE = 0.05
#: open cores (best fit first) a slice tries to carve a piece for before it opens a core of its own: the
#: best fit may have the room, but not in the resources a piece needs
CARVE_CORES = 4
#: cuts that found no piece, after which carving (and filling's cutting) stops: bounded time on networks of
#: thousands of slices, where a failed cut search costs a bisection per axis
MAX_FAILURES = 200
#: carving is not tried on more slices than this: each slice scans every open core, so its time grows with
#: slices times cores, where emptying the first fit's cores (step 2 of docs/partition.md) is linear in the
#: cores tried
CARVE_MAX_SLICES = 10_000

# ------------------------------------------------------------------------------------- emptying (empty.py)

#: cores the emptier tries at most (the least used first): an attempt recounts the output axons of every
#: slice a cut touches, which on thousands of slices feeding each other costs tens of milliseconds
EMPTY_ATTEMPTS = 1000
#: cores tried for a piece of a slice, the largest share first
PIECE_CORES = 4
#: pieces one attempt may cut: a core emptied into dozens of slivers costs more spike traffic, and time,
#: than the core saves
MAX_CUTS = 12
#: after this many cores in a row that could not be emptied, cores holding the same layers are skipped
#: (they fail for the same reason; bounded, deterministic time)
SKIP_AFTER = 3

# -------------------------------------------------------------------------------------- filling (fill.py)

#: how much more than its even share of each core a resource that does not bind may fill; the placer fills
#: once per value and keeps the packing with the fewest cores (no one value is best for every network)
SLACKS = (0.15, 0.2)
#: filling is not tried on more slices than this: it scans every slice per step, so its time grows with
#: the square of the slices, where carving into open cores does as well on large networks
FILL_MAX_SLICES = 3000
#: slices whose smallest piece fits that are tried for a cut before a core is closed; a slice whose cut
#: fails though its smallest piece fits (output axons: its own, or its feeders') is not cut again
MAX_TRIES = 8

# ------------------------------------------------------------------------- naive placement (bounds.py)

#: the naive placement's chunk count n is bisected to within n / NAIVE_PRECISION (each probe of a layer
#: cut into thousands of chunks counts output axons against thousands of consumer chunks)
NAIVE_PRECISION = 16
#: :func:`bounds.naive_limit`: the naive placement is sized up to NAIVE_LIMIT times the cores of the
#: placement it is compared with, but not beyond NAIVE_CORES cores unless that is less than NAIVE_FLOOR
#: times them (enough to show it is not smaller); then it is reported as "more than" that many cores
NAIVE_LIMIT = 8
NAIVE_CORES = 2000
NAIVE_FLOOR = 1

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
