"""Random networks with the blocks of real architectures (tests/netgen.py ``arch_graph``: padded / ceil-mode
max pool, MobileNetV2 inverted residuals on a linear stream, an average pool feeding a skip, a channel concat)
in Lava's fixed-point simulator and the FPGA RTL against intsim, with negative controls.

Run:  .venv/bin/python benchmarks/random_nets.py [--lava 50] [--rtl 20] [--out benchmarks/results/random_nets]
Prints a Markdown table (one row per network: populations, gates, copies made by the fan-out rewrite, weight bits
in Lava and the chains composed to fit Lava's 8-bit weights (docs/semantics.md, "Composed chains"), spike
mismatches in Lava and RTL, seconds) and writes it with a JSON of the same rows. The negative controls (one LSB
of one weight changed on one side) must show mismatches; the script exits 1 if any network mismatches or a
control is not caught. The cases are tests/bitexact/test_arch_random.py's (its subset runs in ``make test``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "bitexact")]

from test_arch_random import T, lava_case, one_lsb_off, rtl_case  # noqa: E402
from test_lava_bitexact import simulate_lava  # noqa: E402
from test_rtl_bitexact import rtl_result  # noqa: E402

from neurocompile.backends.intsim import simulate  # noqa: E402
from neurocompile.errors import QuantizationError  # noqa: E402
from neurocompile.ir import Composed, MaxPool2d, Neurons  # noqa: E402
from neurocompile.results import spike_mismatches  # noqa: E402


def _silent(ref) -> int:
    return sum(1 for v in ref.spikes.values() if not v.any())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lava", type=int, default=50, help="networks run in Lava (seeds 0..N-1)")
    ap.add_argument("--rtl", type=int, default=20, help="networks run in the RTL simulation (seeds 0..N-1)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "random_nets"),
                    help="write OUT.md and OUT.json")
    args = ap.parse_args()
    rows, failed = [], 0
    for seed in range(max(args.lava, args.rtl)):
        row = {"seed": seed}
        if seed < args.lava:
            t0 = time.perf_counter()
            try:
                ig, x, ref = lava_case(seed)
                lav = simulate_lava(ig, x, T, record_voltage=True)
            except QuantizationError as e:  # refused (no network should be): counted as a failure
                row.update(lava_refused=str(e))
                failed += 1
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
                continue
            row.update(populations=len(ig.nodes_of(Neurons)), gates=len(ig.nodes_of(MaxPool2d)),
                       copies=sum(1 for n in ig.topo() if "_copy" in n.name),
                       weight_bits=ig.meta["weight_bits"], composed=len(ig.nodes_of(Composed)), samples=len(x),
                       lava_mismatches=spike_mismatches(ref, lav),
                       lava_readout_equal=bool(np.array_equal(ref.readout, lav.readout)),
                       silent_layers=_silent(ref), lava_s=round(time.perf_counter() - t0, 1))
            if seed == 0:  # negative control: Lava runs a copy with one weight one LSB off
                row["lava_control_mismatches"] = spike_mismatches(ref, simulate_lava(one_lsb_off(ig), x, T))
            failed += row["lava_mismatches"] != 0 or not row["lava_readout_equal"] or row["silent_layers"] > 0
        if seed < args.rtl:
            t0 = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                ig, x, ref, fpga = rtl_case(seed, Path(tmp))
                got = rtl_result(ig, fpga, x)
                row.update(rtl_mismatches=spike_mismatches(ref, got),
                           rtl_readout_equal=bool(np.array_equal(ref.readout, got.readout)),
                           rtl_silent_layers=_silent(ref), rtl_s=round(time.perf_counter() - t0, 1))
                if seed == 0:  # negative control: intsim of the one-LSB copy against the original's RTL
                    row["rtl_control_mismatches"] = spike_mismatches(simulate(one_lsb_off(ig), x, T, record=True), got)
            failed += row["rtl_mismatches"] != 0 or not row["rtl_readout_equal"] or row["rtl_silent_layers"] > 0
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    controls_caught = rows[0].get("lava_control_mismatches", 1) > 0 and rows[0].get("rtl_control_mismatches", 1) > 0
    table = _table(rows, args, failed, controls_caught)
    print(table)
    Path(args.out + ".md").write_text(table)
    Path(args.out + ".json").write_text(json.dumps({"timesteps": T, "rows": rows}, indent=1) + "\n")
    return 0 if failed == 0 and controls_caught else 1


def _table(rows, args, failed, caught) -> str:
    def cell(r, k):
        return "" if k not in r else str(r[k])

    n_lava = sum("lava_mismatches" in r for r in rows)
    n_rtl = sum("rtl_mismatches" in r for r in rows)
    ok_lava = sum(r.get("lava_mismatches") == 0 and r.get("lava_readout_equal") for r in rows)
    ok_rtl = sum(r.get("rtl_mismatches") == 0 and r.get("rtl_readout_equal") for r in rows)
    lines = [f"# Random architecture networks (tests/netgen.py arch_graph), T = {T}", "",
             f"Run: `.venv/bin/python benchmarks/random_nets.py --lava {args.lava} --rtl {args.rtl}`", "",
             f"- Lava = intsim (every spike of every population and gate, voltages, readout): {ok_lava} / {n_lava}",
             f"- RTL = intsim (every spike, readout): {ok_rtl} / {n_rtl}",
             f"- negative controls (one weight one LSB off) caught: Lava "
             f"{cell(rows[0], 'lava_control_mismatches')} mismatches, RTL {cell(rows[0], 'rtl_control_mismatches')}"
             f" mismatches -> {'caught' if caught else 'NOT CAUGHT'}",
             f"- failures: {failed}", "",
             "| seed | populations | gates | fan-out copies | Lava weight bits | composed chains | Lava mismatches | Lava s "
             "| RTL mismatches | RTL s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| " + " | ".join(cell(r, k) for k in ("seed", "populations", "gates", "copies", "weight_bits",
                                                             "composed", "lava_mismatches",
                                                             "lava_s", "rtl_mismatches", "rtl_s")) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
