"""Partitioner sizing (issue 5): cores, lower bound, naive placement, traffic and compile time per model and profile.

For every model and target the FULL command-line build runs in a subprocess, exactly as a user runs it::

    .venv/bin/neurocompile build MODEL --target T --calib DATA --calib-samples 64 --dry-run \\
        --out DIR --force --no-progress

(``--dry-run``: the bundle with IR, report and placement, no target outputs). The wall time of that
subprocess is the "build s" column; the placement's own time (``report.json["placement"]["seconds"]``) is
"place s". A build that exits with code 2 is a row too: its status is the one-line error the CLI printed on
stderr (e.g. a neuron fan-in no split can fix, or a network larger than the device). A build running longer
than ``--timeout`` seconds is killed and recorded as ``timeout``; one that exceeds ``--max-memory`` GB of
address space (default 14; the machine has about 23 GB, shared with other jobs) fails with ``out of memory``
instead of waking the kernel's OOM killer. The peak resident memory of every build is recorded.

Models (``--models``):

* ``digits_cnn``, ``fashion_cnn``, ``fashion_vgg``  the example checkpoints (calibration: ``digits`` /
  ``fashion-mnist``)
* ``vgg11``, ``vgg16``, ``resnet18``  ``benchmarks/sizing_models.py`` at CIFAR size (3 x 32 x 32), random
  weights, exported to a temporary directory; calibration: an .npz there with ``x`` uniform random
  (N, 3, 32, 32) float32 in [0, 1] (seed 0) and ``y`` zeros

Targets (``--targets``): the built-in profiles ``loihi1``, ``loihi2``, ``fpga-generic`` (64 cores, one
device) and ``fpga-generic-unbounded``, the same profile with ``chip.max_chips: null`` passed as
``--profile FILE``, which shows how many cores a network would need where the 64-core device is too small.

Recorded per row: synapses (``report.json`` totals: non-zero integer weights x the positions they connect;
for a failed build, the float ANN's count, marked ``*``), weights (weight parameters of the float IR after
BatchNorm folding, biases excluded), cores, lower bound (max over resources of ceil(total / per-core limit))
and the resource that sets it, cores / lower bound, the naive placement's cores (each layer on cores of its
own, nengo-loihi style; the build does not report it: sized here with ``bounds.naive_boxes`` on the bundle's
integer IR, up to ``bounds.naive_limit`` of the row's cores, else "> N"), chips, spike traffic between cores and between chips (spikes per timestep per
sample, firing rates from intsim on the build's ``--rate-samples`` calibration images), placement seconds,
full build seconds, the 1-minute load average when the build started, and the status.
``--stages`` builds with ``--progress`` instead of ``--no-progress`` (only stage lines on stderr are added) and
records each stage's seconds (load model, calibration data, compile, place incl. firing rates and the
validator, write), shown in a table of their own.

Acceptance (printed and stored): a row's bound is MEANINGFUL when its status is ok and its lower bound is
>= 10 cores (below that a core or two of rounding dominates the ratio). For every meaningful row: cores <=
1.10 x bound, and cores <= naive cores, where bound = max(lower bound, layer bound). The layer bound
(``placement.json["lower_bound"]["layer_bound"]``) is the most cores one layer needs when no core holds more of
it than the largest slice of it that fits an empty core; it exceeds the resource bound where granularity rules
(a dense layer's per-axon synapse lists round up to whole words, a convolution kernel is not split across
cores). Both ratios are printed. And: the full VGG-16 build takes <= 30 s on each target
(a failed VGG-16 build is reported, not judged). Any row with cores < lower bound or cores > naive is
listed as suspicious whatever its bound.

``--baseline-cli PATH`` (the executable of the code before a change, e.g. ``/work/base/.venv/bin/neurocompile``)
builds every row with it too and compares the two placement.json files (left out: timings and the naive entry
the build no longer writes); the VGG-16 rows are built ``--repeat`` times with each executable, alternating,
and the medians compared: after <= 1.10 x before. Placements that differ are listed as suspicious.

The machine has 2 cores and may run other jobs: the load average at the start and end and per build is in
the Markdown and the JSON, to judge the timings.

Writes ``OUT/partition.md`` (the tables, also printed to stdout) and ``OUT/partition.json`` (every number;
rewritten after every build, so an interrupted run keeps what it measured). One progress line per build on
stderr. A quick look (digits_cnn, fashion_cnn and VGG-11 on loihi2):

    .venv/bin/python benchmarks/partition.py --quick

The full run (6 models x 4 targets) takes some minutes on 2 cores, about three times as long against a
baseline:

    .venv/bin/python benchmarks/partition.py --baseline-cli /work/base/.venv/bin/neurocompile
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CLI = ROOT / ".venv" / "bin" / "neurocompile"

#: model name -> (source, calibration dataset); source "example" = examples/NAME.pt2, "sizing" = sizing_models
MODELS: dict[str, tuple[str, str | None]] = {
    "digits_cnn": ("example", "digits"),
    "fashion_cnn": ("example", "fashion-mnist"),
    "fashion_vgg": ("example", "fashion-mnist"),
    "vgg11": ("sizing", None),
    "vgg16": ("sizing", None),
    "resnet18": ("sizing", None),
}
SIZING = [m for m, (src, _) in MODELS.items() if src == "sizing"]
#: target label -> (build arguments); "@PROFILE" stands for the path of the unbounded profile file
TARGETS: dict[str, list[str]] = {
    "loihi1": ["--target", "loihi1"],
    "loihi2": ["--target", "loihi2"],
    "fpga-generic": ["--target", "fpga-generic"],
    "fpga-generic-unbounded": ["--profile", "@PROFILE"],
}
UNBOUNDED_PROFILE = {"base": "fpga-generic", "name": "fpga-generic-unbounded",
                     "description": "fpga-generic without a device limit (chip.max_chips: null): as many 64-core "
                                    "devices as the network needs",
                     "chip": {"max_chips": None}}
QUICK_MODELS = ("digits_cnn", "fashion_cnn", "vgg11")
QUICK_TARGETS = ("loihi2",)
SCALING_TARGET = "loihi2"  # the compile-time-vs-synapses table
MEANINGFUL_LB = 10  # a bound is judged when status is ok and the lower bound has at least this many cores
MAX_RATIO = 1.10
MAX_SLOWER = 0.10  # --baseline-cli: a VGG-16 build may be at most this much slower than the baseline's
VGG16_SECONDS = 30.0
TIMED_MODEL = "vgg16"  # --baseline-cli: the model whose builds are timed --repeat times with each executable
OK = "ok"
TIMEOUT = "timeout"
ERROR_PREFIX = "neurocompile: error: "
#: stderr text of a build that ran out of (address-space-limited) memory: numpy, Python, torch
OOM_MARKS = ("MemoryError", "Unable to allocate", "can't allocate memory", "std::bad_alloc")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


# ---------------------------------------------------------------------------------------------- inputs


def prepare_models(names, work: Path, calib_samples: int) -> dict[str, dict]:
    """Path, calibration argument and float-IR counts (weights, synapses) of every model."""
    from neurocompile.frontend import load_model
    from neurocompile.ir.cost import synapse_counts

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    out = {}
    for name in names:
        src, calib = MODELS[name]
        if src == "example":
            path = EXAMPLES / f"{name}.pt2"
        else:
            import sizing_models

            path = work / f"{name}.pt2"
            if not path.exists():
                _log(f"exporting {name} (sizing_models, random weights) to {path}")
                sizing_models.export(name, path)
            calib_path = work / f"cifar_random_{calib_samples}.npz"
            if not calib_path.exists():
                rng = np.random.default_rng(0)
                x = rng.uniform(0.0, 1.0, size=(calib_samples, 3, 32, 32)).astype(np.float32)
                np.savez(calib_path, x=x, y=np.zeros(calib_samples, dtype=np.int64))
            calib = str(calib_path)
        graph = load_model(path)
        weights = sum(int(np.asarray(n.weight).size) for n in graph.topo() if getattr(n, "weight", None) is not None)
        out[name] = {"path": str(path), "source": src, "calib": calib, "weights": weights,
                     "ann_synapses": int(sum(synapse_counts(graph).values()))}
    return out


def target_args(target: str, work: Path) -> list[str]:
    args = list(TARGETS[target])
    if "@PROFILE" in args:
        prof = work / "fpga-generic-unbounded.json"
        if not prof.exists():
            prof.write_text(json.dumps(UNBOUNDED_PROFILE, indent=1))
        args[args.index("@PROFILE")] = str(prof)
    return args


# ---------------------------------------------------------------------------------------------- one build


def stage_seconds(stderr: str) -> list[list]:
    """[[stage, seconds], ...] from the build's ``--progress`` lines (``[i/n] what`` ... ``done in X s``)."""
    out, cur = [], None
    for ln in stderr.splitlines():
        s = ln.strip()
        if s.startswith("[") and "]" in s and s[1:s.index("]")].replace("/", "").isdigit():
            cur = s[s.index("]") + 1:].strip()
        elif s.startswith("done in ") and cur is not None:
            out.append([cur, float(s.split()[2])])
            cur = None
    return out


def _hwm_kb(pid: int) -> int:
    """Peak resident memory (VmHWM, KB) of a running process; 0 once it has exited."""
    try:
        for ln in Path(f"/proc/{pid}/status").read_text().splitlines():
            if ln.startswith("VmHWM:"):
                return int(ln.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _run(cmd: list[str], timeout: float, max_memory_gb: float | None = None) -> tuple[int, str, float, int, bool]:
    """Run ``cmd`` in its own process group; (exit code, stderr, wall seconds, peak RSS in KB of the process,
    timed out). On timeout the group (the build and anything it started, nothing else) is killed.
    ``max_memory_gb``: the child's address-space limit (RLIMIT_AS), so a runaway build fails with a
    MemoryError instead of waking the kernel's OOM killer, which might pick another job.

    The peak RSS is the process's VmHWM, sampled every 0.1 s (``wait4``'s ru_maxrss would include this
    script's own memory, which a vfork'ed child inherits as its high-water mark)."""
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        t0 = time.perf_counter()
        limit = None if max_memory_gb is None else int(max_memory_gb * 2**30)

        def cap():
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

        proc = subprocess.Popen(cmd, stdout=fo, stderr=fe, cwd=ROOT, start_new_session=True,
                                preexec_fn=cap if limit is not None else None)
        peak, timed_out = 0, False
        while True:
            pid, status = os.waitpid(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            peak = max(peak, _hwm_kb(proc.pid))
            if not timed_out and time.perf_counter() - t0 > timeout:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)  # not reaped yet, so the group id is still this build's
            time.sleep(0.1)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        fe.seek(0)
        stderr = fe.read().decode(errors="replace")
    return proc.returncode, stderr, seconds, peak, timed_out


def code_state(root: Path = ROOT) -> dict:
    """The package's git state in ``root``: HEAD and a hash of the uncommitted changes below neurocompile/ and
    backends/ (another engineer may edit the package while the benchmark runs)."""
    def git(*a):
        try:
            return subprocess.run(["git", *a], cwd=root, capture_output=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return b""
    diff = git("diff", "HEAD", "--", "neurocompile", "backends")
    untracked = git("ls-files", "--others", "--exclude-standard", "--", "neurocompile", "backends")
    for f in sorted(untracked.decode().split()):
        try:
            diff += f.encode() + (root / f).read_bytes()
        except OSError:
            pass
    changed = git("diff", "HEAD", "--name-only", "--", "neurocompile", "backends").decode().split()
    return {"head": git("rev-parse", "HEAD").decode().strip(), "changed_files": changed + untracked.decode().split(),
            "diff_sha256": hashlib.sha256(diff).hexdigest()[:16] if diff else None}


def run_build(model: dict, target: str, out: Path, work: Path, calib_samples: int, timeout: float,
              stages: bool = False, max_memory_gb: float | None = None, cli: Path = CLI) -> dict:
    """Run the build of ``cli`` in a subprocess (own process group, killed on timeout); the row of its
    results."""
    cmd = [str(cli), "build", "--method", "rueckauer",
           model["path"], *target_args(target, work), "--calib", model["calib"],
           "--calib-samples", str(calib_samples), "--dry-run", "--out", str(out), "--force",
           "--progress" if stages else "--no-progress"]
    row = {"target": target, "command": " ".join(cmd), "code": code_state(), "load_before": _load(), "status": OK, "exit_code": None,
           "build_seconds": None}
    code, stderr, seconds, peak_kb, timed_out = _run(cmd, timeout, max_memory_gb)
    row.update(build_seconds=seconds, exit_code=code, peak_rss_mb=round(peak_kb / 1024, 1))
    if stages:
        row["stage_seconds"] = stage_seconds(stderr)
    if timed_out:
        row["status"] = TIMEOUT
        return row
    if code != 0:
        lines = [ln for ln in stderr.splitlines() if ln.strip()]
        err = next((ln for ln in lines if ln.startswith(ERROR_PREFIX)), lines[-1] if lines else "")
        if code == 2 and err.startswith(ERROR_PREFIX):
            row["status"] = err[len(ERROR_PREFIX):].strip()
        elif any(m in stderr for m in OOM_MARKS):
            row["status"] = (f"out of memory (address space limit {max_memory_gb:g} GB, peak RSS "
                             f"{peak_kb / 2**20:.1f} GB): {err.strip()[:200]}")
            row["stderr_tail"] = "\n".join(lines[-20:])
        elif code < 0:
            sig = signal.Signals(-code).name
            why = " (out of memory? see dmesg)" if code == -signal.SIGKILL else ""
            row["status"] = (f"crash: killed by {sig}{why} at {peak_kb / 2**20:.1f} GB peak RSS, "
                             f"last stderr line: {err.strip()}")
            row["stderr_tail"] = "\n".join(lines[-20:])
        else:
            row["status"] = f"crash (exit {code}): {err.strip()}"
            row["stderr_tail"] = "\n".join(lines[-20:])
        return row
    report = json.loads((out / "report.json").read_text())
    p = report.get("placement")
    if p is None:
        row["status"] = "no placement in report.json"
        return row
    lb = p.get("lower_bound") or {}
    tr = p.get("traffic") or {}
    row.update(synapses=int(report["totals"]["synapses"]), neurons=int(report["totals"]["neurons"]),
               profile=p.get("profile"), cores=int(p["cores"]), chips=int(p["chips"]),
               lower_bound=int(lb["cores"]), lower_bound_resource=lb.get("resource"),
               lower_bound_per_resource=lb.get("per_resource"), strategy=p.get("strategy"), traffic_total=tr.get("total"), traffic_inter_core=tr.get("inter_core"),
               traffic_inter_chip=tr.get("inter_chip"), traffic_rates=tr.get("rates"),
               placement_seconds=float(p["seconds"]), peak_utilisation=p.get("peak_utilisation"),
               ratio=(int(p["cores"]) / int(lb["cores"]) if lb.get("cores") else None))
    lay = lb.get("layer_bound") or {}
    row["layer_bound"] = int(lay["cores"]) if lay.get("cores") is not None else None
    row["layer_bound_layer"] = lay.get("layer")
    row["bound"] = max(row["lower_bound"], row["layer_bound"] or 0)
    row["bound_ratio"] = row["cores"] / row["bound"] if row["bound"] else None
    pj = out / "placement.json"  # cross-check the bundle's placement file against the report
    if pj.exists():
        doc = json.loads(pj.read_text())
        row["placement_json_cores"] = len(doc.get("cores", []))
    return row


def naive_of(out: Path, cores: int) -> dict:
    """The naive placement (each layer on cores of its own, equal chunks; ``bounds.naive_boxes``) of the
    bundle's integer IR on its profile, sized here (the build does not report it), up to
    ``bounds.naive_limit(cores)``: {naive_cores or None, naive_more_than or None, naive_seconds}."""
    from neurocompile.bundle import read_bundle
    from neurocompile.partition import ResourceModel
    from neurocompile.partition.bounds import naive_cores, naive_limit

    b = read_bundle(out)
    t0 = time.perf_counter()
    n, more = naive_cores(ResourceModel(b.snn, b.profile), limit=naive_limit(cores))
    return {"naive_cores": n, "naive_more_than": more, "naive_seconds": round(time.perf_counter() - t0, 2)}


#: placement.json keys left out when a placement is compared with the baseline's: timings, and the naive
#: placement's size that the build no longer reports
RETIRED = ("seconds", "naive")


def placement_diff(out: Path, base_out: Path) -> list[str]:
    """Keys of the two bundles' placement.json files (without :data:`RETIRED`) whose values differ (one
    "placement.json" if only one bundle has one)."""
    docs = [json.loads((d / "placement.json").read_text()) if (d / "placement.json").exists() else None
            for d in (out, base_out)]
    if None in docs:
        return [] if docs[0] is docs[1] else ["placement.json"]
    return sorted(k for k in set(docs[0]) | set(docs[1]) if k not in RETIRED and docs[0].get(k) != docs[1].get(k))


def with_baseline(row: dict, info: dict, target: str, work: Path, args) -> None:
    """``--baseline-cli``: build the row with the baseline executable too and compare the placements; for
    VGG-16, ``--repeat`` builds with each executable, alternating (the order swapped every repetition), and
    the medians of their wall times. Adds ``row["baseline"]``."""
    out, base_out = work / f"{row['model']}-{target}", work / f"{row['model']}-{target}-baseline"
    times = {"current": [row["build_seconds"]], "baseline": []}
    loads = {"current": [row["load_before"][0]], "baseline": []}
    reps = args.repeat if row["model"] == TIMED_MODEL else 1
    first = None
    for k in range(reps):
        order = ("current", "baseline") if k % 2 == 0 else ("baseline", "current")
        for who in order:
            if who == "current" and k == 0:
                continue  # the row's own build
            r = run_build(info, target, base_out if who == "baseline" else work / "repeat", work,
                          args.calib_samples, args.timeout, max_memory_gb=args.max_memory,
                          cli=args.baseline_cli if who == "baseline" else CLI)
            times[who].append(r["build_seconds"])
            loads[who].append(r["load_before"][0])
            if who == "baseline" and first is None:
                first = r
    differs = placement_diff(out, base_out)
    row["baseline"] = {"status": first["status"], "cores": first.get("cores"), "strategy": first.get("strategy"),
                       "placement_seconds": first.get("placement_seconds"),
                       "build_seconds": times["baseline"], "current_build_seconds": times["current"],
                       "load": loads, "same_placement": not differs and first["status"] == row["status"],
                       "differs_in": differs,
                       "median_seconds": statistics.median(times["baseline"]),
                       "current_median_seconds": statistics.median(times["current"])}
    if args.keep is None:
        shutil.rmtree(base_out, ignore_errors=True)
        shutil.rmtree(work / "repeat", ignore_errors=True)


# ---------------------------------------------------------------------------------------------- acceptance


def _not_above_naive(r: dict) -> bool:
    """cores <= naive cores; a naive placement sized only as "more than N" (N >= cores, see
    ``bounds.naive_limit``) or not fitting at all cannot be below."""
    return r["naive_cores"] is None or r["cores"] <= r["naive_cores"]


def _baseline_note(row: dict) -> str:
    b = row.get("baseline")
    if not b:
        return ""
    same = "same placement" if b["same_placement"] else f"placement DIFFERS in {', '.join(b['differs_in']) or 'status'}"
    return (f"; baseline: {same}, median {b['median_seconds']:.1f} s against {b['current_median_seconds']:.1f} s "
            f"({len(b['build_seconds'])} build(s) each)")


def _naive_cell(r: dict) -> str:
    if r.get("naive_cores") is not None:
        return _int(r["naive_cores"])
    return f"> {r['naive_more_than']:,}" if r.get("naive_more_than") is not None else "no fit"


def meaningful(r: dict) -> bool:
    return r["status"] == OK and (r.get("lower_bound") or 0) >= MEANINGFUL_LB


def acceptance(rows: list[dict]) -> dict:
    judged = []
    for r in rows:
        if meaningful(r):
            bound = r.get("bound") or r["lower_bound"]
            judged.append({"model": r["model"], "target": r["target"], "cores": r["cores"],
                           "lower_bound": r["lower_bound"], "layer_bound": r.get("layer_bound"), "bound": bound,
                           "naive_cores": r["naive_cores"], "naive_more_than": r.get("naive_more_than"),
                           "ratio": r["ratio"], "bound_ratio": r["cores"] / bound,
                           "within_lower_bound": r["cores"] <= MAX_RATIO * r["lower_bound"],
                           "within_ratio": r["cores"] <= MAX_RATIO * bound,
                           "not_above_naive": _not_above_naive(r)})
    vgg16 = []
    for r in rows:
        if r["model"] == "vgg16":
            ok = r["status"] == OK
            vgg16.append({"target": r["target"], "status": r["status"], "build_seconds": r["build_seconds"],
                          "pass": (r["build_seconds"] <= VGG16_SECONDS) if ok else None})
    before_after = []
    for r in rows:
        b = r.get("baseline")
        if b and r["model"] == TIMED_MODEL and b["status"] == OK and r["status"] == OK:
            ratio = b["current_median_seconds"] / b["median_seconds"]
            before_after.append({"target": r["target"], "before": b["median_seconds"], "after": b["current_median_seconds"],
                                 "ratio": ratio, "pass": ratio <= 1 + MAX_SLOWER})
    suspicious = []
    for r in rows:
        b = r.get("baseline")
        if b and not b["same_placement"]:
            suspicious.append(f"{r['model']} on {r['target']}: placement differs from the baseline's in "
                              f"{', '.join(b['differs_in']) or 'status'} (cores {b.get('cores')} -> {r.get('cores')})")
        if b and b["status"] == OK and r["status"] == OK and r["cores"] > b["cores"]:
            suspicious.append(f"{r['model']} on {r['target']}: {r['cores']} cores > {b['cores']} before")
        if r["status"] != OK:
            if r["status"] == TIMEOUT or r["status"].startswith("crash"):
                suspicious.append(f"{r['model']} on {r['target']}: {r['status']}")
            continue
        if r["cores"] < r["lower_bound"]:
            suspicious.append(f"{r['model']} on {r['target']}: cores {r['cores']} < lower bound {r['lower_bound']} (bug)")
        if not _not_above_naive(r):
            suspicious.append(f"{r['model']} on {r['target']}: cores {r['cores']} > naive {r['naive_cores']}")
        if r.get("placement_json_cores") not in (None, r["cores"]):
            suspicious.append(f"{r['model']} on {r['target']}: placement.json has {r['placement_json_cores']} "
                              f"cores, report.json {r['cores']}")
        if (r.get("traffic_inter_chip") or 0) > (r.get("traffic_inter_core") or 0) + 1e-9:
            suspicious.append(f"{r['model']} on {r['target']}: inter-chip traffic > inter-core traffic")
        if r["chips"] == 1 and (r.get("traffic_inter_chip") or 0) > 0:
            suspicious.append(f"{r['model']} on {r['target']}: one chip but inter-chip traffic "
                              f"{r['traffic_inter_chip']}")
        if r.get("ann_synapses") is not None and r["synapses"] > r["ann_synapses"]:
            suspicious.append(f"{r['model']} on {r['target']}: integer synapses {r['synapses']} > float ANN "
                              f"synapses {r['ann_synapses']}")
    return {"rule": f"judged rows: status ok and lower bound >= {MEANINGFUL_LB} cores; pass = cores <= "
                    f"{MAX_RATIO:.2f} x bound and cores <= naive cores, where bound = max(resource lower bound, "
                    "layer bound); the layer bound exceeds the resource bound where granularity rules (a dense "
                    "layer's per-axon word rounding, a convolution kernel that cannot be split across cores), "
                    "and then the resource bound cannot be reached by any placement that splits at unit level",
            "rows": judged, "all_within_ratio": all(j["within_ratio"] for j in judged) if judged else None,
            "all_not_above_naive": all(j["not_above_naive"] for j in judged) if judged else None,
            "vgg16_rule": f"full VGG-16 build (subprocess wall time) <= {VGG16_SECONDS:g} s on each target",
            "vgg16": vgg16, "suspicious": suspicious,
            "before_after_rule": f"{TIMED_MODEL} build (median wall time over --repeat builds, alternating with the "
                                 f"baseline) <= {1 + MAX_SLOWER:.2f} x the baseline's median",
            "before_after": before_after}


# ---------------------------------------------------------------------------------------------- output


def _int(v) -> str:
    return "-" if v is None else f"{int(v):,}"


def _f(v, fmt=".1f") -> str:
    return "-" if v is None else format(v, fmt)


def _gb(r: dict):
    return None if r.get("peak_rss_mb") is None else r["peak_rss_mb"] / 1024


def _status_cell(s: str) -> str:
    return s.replace("|", "\\|")


def _stage_key(what: str) -> str:
    for prefix, key in (("loading model", "load model"), ("loading calibration", "calib data"),
                        ("compiling", "compile"), ("placing", "place"), ("writing", "write")):
        if what.startswith(prefix):
            return key
    return what


def _code_note(results: dict) -> list[str]:
    states = {}
    for r in results["rows"]:
        c = r.get("code") or {}
        states.setdefault((c.get("head"), c.get("diff_sha256")), []).append(f"{r['model']}/{r['target']}")
    if not states:
        return []
    head, diff = next(iter(states))
    if len(states) == 1:
        return [f"Code: commit {str(head)[:10]}" + (f" with uncommitted changes (diff {diff})" if diff else "")
                + ", the same for every build.", ""]
    out = ["Code: the package changed during the run (another engineer's edits); builds by code state:"]
    for (h, d), names in states.items():
        out.append(f"- {str(h)[:10]} diff {d}: {', '.join(names)}")
    return out + [""]


def _baseline_markdown(results: dict) -> list[str]:
    """The --baseline-cli section: every row's placement against the baseline's, the timed rows' medians."""
    rows = [r for r in results["rows"] if r.get("baseline")]
    if not rows:
        return []
    cfg = results["config"]
    bc = cfg.get("baseline_code") or {}
    lines = ["## Before / after (`--baseline-cli`)", "",
             f"Baseline: `{cfg['baseline_cli']}` (commit {str(bc.get('head'))[:10]}"
             + (", with uncommitted changes" if bc.get("diff_sha256") else "") + "). Every row is built by both; "
             "placements compared without their timings and the `naive` entry (the build no longer reports the "
             f"naive placement). {TIMED_MODEL} rows: {cfg['repeat']} builds with each executable, alternating "
             "(which goes first swaps every repetition), medians of the wall times; `load`: 1-minute load "
             "averages at the starts of the builds (min-max).", "",
             "| model | target | cores before | cores after | same placement | before s | after s | after / before | "
             "builds each | load |", "|---|---|---:|---:|---|---:|---:|---:|---:|---|"]
    for r in rows:
        b = r["baseline"]
        same = "yes" if b["same_placement"] else "NO: " + (", ".join(b["differs_in"]) or "status")
        ld = b["load"]["baseline"] + b["load"]["current"]
        ratio = b["current_median_seconds"] / b["median_seconds"] if b["median_seconds"] else None
        lines.append(f"| {r['model']} | {r['target']} | {_int(b.get('cores'))} | {_int(r.get('cores'))} | {same} | "
                     f"{b['median_seconds']:.1f} | {b['current_median_seconds']:.1f} | {_f(ratio, '.3f')} | "
                     f"{len(b['build_seconds'])} | {min(ld):.2f}-{max(ld):.2f} |")
    lines.append("")
    timed = [r for r in rows if len(r["baseline"]["build_seconds"]) > 1]
    if timed:
        lines += [f"{TIMED_MODEL} builds, seconds in the order run (after | before):", ""]
        lines += [f"- {r['target']}: after {', '.join(f'{x:.1f}' for x in r['baseline']['current_build_seconds'])} "
                  f"| before {', '.join(f'{x:.1f}' for x in r['baseline']['build_seconds'])}" for r in timed]
        lines.append("")
    return lines


def format_markdown(results: dict) -> str:
    cfg = results["config"]
    rows = results["rows"]
    la0, la1 = cfg.get("load_start"), cfg.get("load_end")
    lines = [
        "# Partitioner sizing (issue 5)",
        "",
        (f"Full `neurocompile build --dry-run` per model and target in a subprocess, {cfg['calib_samples']} "
         f"calibration samples, rates from intsim on the build's default rate samples; {cfg['cpus']} CPU cores, "
         f"load average (1/5/15 min) {la0} at the start, {la1} at the end"
         + (f"; total {cfg['wall_seconds']:.0f} s" if cfg.get("wall_seconds") is not None else "") + ". "
         "Traffic in spikes per timestep per sample. `*` synapses: the build failed, float ANN count. "
         "`load`: 1-minute load average when the build started; `peak GB`: the build process's peak RSS."),
        "",
        *_code_note(results),
        "| model | target | synapses | weights | cores | LB | LB resource | cores/LB | layer bound | naive | chips | "
        "inter-core | inter-chip | strategy | place s | build s | peak GB | load | status |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        syn = _int(r.get("synapses")) if r.get("synapses") is not None else (
            _int(r.get("ann_synapses")) + "*" if r.get("ann_synapses") is not None else "-")
        lines.append(
            f"| {r['model']} | {r['target']} | {syn} | {_int(r.get('weights'))} | {_int(r.get('cores'))} | "
            f"{_int(r.get('lower_bound'))} | {r.get('lower_bound_resource') or '-'} | {_f(r.get('ratio'), '.2f')} | "
            f"{_int(r.get('layer_bound'))} | {_naive_cell(r) if r.get('cores') is not None else '-'} | {_int(r.get('chips'))} | {_f(r.get('traffic_inter_core'))} | "
            f"{_f(r.get('traffic_inter_chip'))} | {r.get('strategy') or '-'} | {_f(r.get('placement_seconds'), '.2f')} | "
            f"{_f(r.get('build_seconds'))} | {_f(_gb(r), '.1f')} | {_f((r.get('load_before') or [None])[0], '.2f')} | "
            f"{_status_cell(r['status'])} |")
    lines.append("")

    lines += _baseline_markdown(results)
    scal = [r for m in SIZING for r in rows if r["model"] == m and r["target"] == SCALING_TARGET]
    if scal:
        lines += [f"## Compile time vs synapses ({SCALING_TARGET})", "",
                  "| model | synapses | weights | build s | s / M synapses | place s | place s / M synapses | status |",
                  "|---|---:|---:|---:|---:|---:|---:|---|"]
        for r in scal:
            syn = r.get("synapses") or r.get("ann_synapses")
            per = r["build_seconds"] / (syn / 1e6) if syn and r.get("build_seconds") is not None else None
            pper = r["placement_seconds"] / (syn / 1e6) if syn and r.get("placement_seconds") is not None else None
            lines.append(f"| {r['model']} | {_int(syn)}{'' if r.get('synapses') else '*'} | {_int(r.get('weights'))} | "
                         f"{_f(r.get('build_seconds'))} | {_f(per, '.2f')} | {_f(r.get('placement_seconds'), '.2f')} | "
                         f"{_f(pper, '.3f')} | {_status_cell(r['status'])} |")
        lines.append("")

    staged = [r for r in rows if r.get("stage_seconds")]
    if staged:
        keys = ["load model", "calib data", "compile", "place", "write"]
        lines += ["## Build stages (seconds, from the build's --progress lines)", "",
                  "| model | target | " + " | ".join(keys) + " | other | build s |", "|---|---|" + "---:|" * (len(keys) + 2)]
        for r in staged:
            got = dict(zip(keys, [None] * len(keys)))
            for what, sec in r["stage_seconds"]:
                k = _stage_key(what)
                if k in got:
                    got[k] = sec
            other = r["build_seconds"] - sum(sec for _, sec in r["stage_seconds"])
            lines.append(f"| {r['model']} | {r['target']} | " + " | ".join(_f(got[k]) for k in keys)
                         + f" | {_f(other)} | {_f(r.get('build_seconds'))} |")
        lines += ["", "`other`: interpreter start-up and imports, the report, everything outside the stages.", ""]

    acc = results["acceptance"]
    lines += ["## Acceptance", "", f"Rule: {acc['rule']}.", ""]
    if acc["rows"]:
        lines += ["| model | target | cores | LB | cores/LB | layer bound | cores/bound | <= 1.10 x bound | naive | "
                  "<= naive |", "|---|---|---:|---:|---:|---:|---:|---|---:|---|"]
        for j in acc["rows"]:
            lines.append(f"| {j['model']} | {j['target']} | {j['cores']:,} | {j['lower_bound']:,} | {j['ratio']:.3f} | "
                         f"{_int(j.get('layer_bound'))} | {j['bound_ratio']:.3f} | "
                         f"{'yes' if j['within_ratio'] else 'NO'} | {_naive_cell(j)} | "
                         f"{'yes' if j['not_above_naive'] else 'NO'} |")
        n = len(acc["rows"])
        lines += ["", f"Within 1.10 x resource LB alone: {sum(j['within_lower_bound'] for j in acc['rows'])}/{n}; "
                      f"within 1.10 x bound: {sum(j['within_ratio'] for j in acc['rows'])}/{n}; "
                      f"not above naive: {sum(j['not_above_naive'] for j in acc['rows'])}/{n}.", ""]
    else:
        lines += ["No row has a meaningful bound.", ""]
    lines += [f"VGG-16: {acc['vgg16_rule']}.", ""]
    if acc["vgg16"]:
        for v in acc["vgg16"]:
            verdict = ("pass" if v["pass"] else "FAIL") if v["pass"] is not None else "not judged (build failed)"
            lines.append(f"- {v['target']}: {_f(v['build_seconds'])} s, {verdict}"
                         + ("" if v["status"] == OK else f" ({v['status']})"))
    else:
        lines.append("- VGG-16 was not run.")
    if acc.get("before_after"):
        lines += ["", f"Before / after: {acc['before_after_rule']}.", ""]
        lines += [f"- {v['target']}: {v['after']:.1f} s against {v['before']:.1f} s ({v['ratio']:.3f} x), "
                  f"{'pass' if v['pass'] else 'FAIL'}" for v in acc["before_after"]]
    lines += ["", "Suspicious numbers (cores < LB, cores > naive, placements that differ from the baseline's, "
                  "inconsistent files, crashes, timeouts):", ""]
    lines += [f"- {s}" for s in acc["suspicious"]] or ["- none"]
    lines.append("")
    return "\n".join(lines)


def _atomic_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.close(fd)
    try:
        Path(tmp).write_text(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_outputs(results: dict, out: Path) -> tuple[Path, Path]:
    md, js = out / "partition.md", out / "partition.json"
    _atomic_text(md, format_markdown(results))
    _atomic_text(js, json.dumps(results, indent=1) + "\n")
    return md, js


# ---------------------------------------------------------------------------------------------- main


def parse_args(argv=None) -> argparse.Namespace:
    doc = __doc__.split("\n\n")
    ap = argparse.ArgumentParser(description=doc[0], epilog="\n\n".join(doc[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", choices=list(MODELS), metavar="MODEL",
                    help=f"models: {', '.join(MODELS)} (default: all)")
    ap.add_argument("--targets", nargs="+", choices=list(TARGETS), metavar="TARGET",
                    help=f"targets: {', '.join(TARGETS)} (default: all)")
    ap.add_argument("--quick", action="store_true",
                    help=f"only {', '.join(QUICK_MODELS)} on {', '.join(QUICK_TARGETS)} (unless --models / --targets)")
    ap.add_argument("--calib-samples", type=int, default=64, metavar="N",
                    help="calibration samples per build (--calib-samples of the build; default %(default)s)")
    ap.add_argument("--timeout", type=float, default=900.0, metavar="S",
                    help="kill a build after S seconds and record 'timeout' (default %(default)s)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", metavar="DIR",
                    help="directory for partition.md / partition.json (default: benchmarks/results)")
    ap.add_argument("--max-memory", type=float, default=14.0, metavar="GB",
                    help="address-space limit of each build (RLIMIT_AS), so a runaway build fails with an "
                         "out-of-memory status instead of the kernel's OOM killer hitting other jobs; 0 = none "
                         "(default %(default)s)")
    ap.add_argument("--stages", action="store_true",
                    help="build with --progress instead of --no-progress and record each build stage's seconds "
                         "(load, calibration data, compile, place, write) in the JSON")
    ap.add_argument("--baseline-cli", type=Path, metavar="PATH",
                    help="a neurocompile executable of the code before a change (e.g. "
                         "/work/base/.venv/bin/neurocompile): every row is built with it too and its placement "
                         "compared with this one's (timings and the retired naive entry left out), and the "
                         f"{TIMED_MODEL} rows are built --repeat times with each executable, alternating, and the "
                         "medians compared")
    ap.add_argument("--repeat", type=int, default=3, metavar="N",
                    help=f"--baseline-cli: builds of each {TIMED_MODEL} row with each executable (default %(default)s)")
    ap.add_argument("--keep", type=Path, metavar="DIR",
                    help="keep the bundles (DIR/MODEL-TARGET), the exported sizing models, their calibration "
                         ".npz and the unbounded profile in DIR (default: a temporary directory, removed)")
    args = ap.parse_args(argv)
    if args.calib_samples < 1:
        ap.error("--calib-samples must be >= 1")
    if args.timeout <= 0:
        ap.error("--timeout must be > 0")
    if args.max_memory < 0:
        ap.error("--max-memory must be >= 0")
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")
    if args.baseline_cli is not None and not args.baseline_cli.exists():
        ap.error(f"--baseline-cli {args.baseline_cli} not found")
    args.max_memory = args.max_memory or None
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    models = args.models or (list(QUICK_MODELS) if args.quick else list(MODELS))
    targets = args.targets or (list(QUICK_TARGETS) if args.quick else list(TARGETS))
    if not CLI.exists():
        sys.exit(f"{CLI} not found: run `make` first (it creates .venv)")
    t_start = time.perf_counter()
    tmp = None
    if args.keep is not None:
        work = args.keep.resolve()
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="partition-bench-")
        work = Path(tmp.name)
    results = {"config": {"models": models, "targets": targets, "calib_samples": args.calib_samples,
                          "timeout": args.timeout, "stages": args.stages,
                          "max_memory_gb": args.max_memory, "code_start": code_state(), "cpus": os.cpu_count(), "load_start": _load(), "load_end": None,
                          "wall_seconds": None, "meaningful_lower_bound": MEANINGFUL_LB, "max_ratio": MAX_RATIO,
                          "vgg16_seconds": VGG16_SECONDS, "unbounded_profile": UNBOUNDED_PROFILE,
                          "baseline_cli": None if args.baseline_cli is None else str(args.baseline_cli),
                          "baseline_code": None if args.baseline_cli is None else
                          code_state(args.baseline_cli.resolve().parents[2]),
                          "repeat": args.repeat,
                          "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])])},
               "models": {}, "rows": [], "acceptance": None}
    try:
        info = prepare_models(models, work, args.calib_samples)
        results["models"] = info
        total, i = len(models) * len(targets), 0
        for m in models:
            for t in targets:
                i += 1
                out = work / f"{m}-{t}"
                row = run_build(info[m], t, out, work, args.calib_samples, args.timeout, args.stages, args.max_memory)
                row = {"model": m, **row, "weights": info[m]["weights"], "ann_synapses": info[m]["ann_synapses"]}
                if row["status"] == OK:
                    row.update(naive_of(out, row["cores"]))
                if args.baseline_cli is not None:
                    with_baseline(row, info[m], t, work, args)
                results["rows"].append(row)
                if args.keep is None:
                    shutil.rmtree(out, ignore_errors=True)
                if row["status"] == OK:
                    what = (f"{row['cores']} cores (LB {row['lower_bound']} {row['lower_bound_resource']}, naive "
                            f"{_naive_cell(row)}), {row['chips']} chip(s), place {row['placement_seconds']:.2f} s")
                else:
                    what = row["status"]
                _log(f"[{i}/{total}] {m} on {t}: {what}; build {row['build_seconds']:.1f} s "
                     f"(load {row['load_before'][0]:.2f})" + _baseline_note(row))
                results["acceptance"] = acceptance(results["rows"])
                write_outputs(results, args.out)  # checkpoint
    finally:
        if tmp is not None:
            tmp.cleanup()
    results["config"]["load_end"] = _load()
    results["config"]["wall_seconds"] = time.perf_counter() - t_start
    results["acceptance"] = acceptance(results["rows"])
    md, js = write_outputs(results, args.out)
    print(format_markdown(results))
    print(f"wrote {md} and {js} ({results['config']['wall_seconds']:.0f} s)")
    return results


if __name__ == "__main__":
    main()
