"""Build the examples on every target with several methods and hash every file of every bundle.

A refactoring check: run it before and after a change (``--out before.json``, then ``--compare
before.json``) and every bundle must come out the same, file by file. Volatile values are left out of
the hashes: the manifest's ``created`` time and every ``seconds`` key of a JSON file (timings). The
manifest pins every file by its sha256, and those of report.json and placement.json change with the
timings they hold, so the manifest is hashed with its files' hashes as this script computes them (without
timings); hashes written before this rule (the manifest of every placed bundle differed from run to run)
cannot be compared with it. A configuration that fails must fail with the same one-line error.

    .venv/bin/python benchmarks/bundle_hashes.py --out /tmp/before.json
    .venv/bin/python benchmarks/bundle_hashes.py --compare /tmp/before.json

Each build is ``neurocompile build`` in a subprocess (run from the repository root, so the model paths
recorded in the manifests are the same in every checkout); ``--cli PATH`` picks the executable.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: (model, calibration set, [(label, extra build options)])
MODELS = [
    ("digits_cnn", "digits", [("rueckauer", []), ("ecc", ["--method", "ecc"]), ("stcsnn", ["--method", "stcsnn"]),
                              ("v0.5-channel", ["--v-init", "0.5", "--normalization", "channel"]),
                              ("zero-reset", ["--reset", "zero"]),
                              ("buffered-x2", ["--neuron", "buffered", "--spike-max", "2"]),
                              ("w10", ["--weight-bits", "10"])]),
    ("fashion_cnn", "fashion-mnist", [("rueckauer", []), ("ecc", ["--method", "ecc"]),
                                      ("stcsnn", ["--method", "stcsnn", "--timesteps", "8"])]),
    ("fashion_qrelu", "fashion-mnist", [("qrelu", ["--method", "qrelu", "--timesteps", "8"])]),
    ("fashion_stcsnn", "fashion-mnist", [("stcsnn", ["--method", "stcsnn", "--timesteps", "8"])]),
    ("fashion_vgg", "fashion-mnist", [("rueckauer", [])]),
    ("fashion_vgg_qrelu", "fashion-mnist", [("qrelu", ["--method", "qrelu", "--timesteps", "8"])]),
]
TARGETS = ["intsim", "loihi2-sim", "loihi1", "loihi2", "fpga", "fpga-unbounded"]
VOLATILE = ("seconds", "created")


#: keys left out of every JSON file as well (``--drop``): entries a change removes on purpose
DROPPED: list[str] = []


def _clean(doc):
    if isinstance(doc, dict):
        return {k: _clean(v) for k, v in doc.items() if k not in VOLATILE and k not in DROPPED}
    if isinstance(doc, list):
        return [_clean(v) for v in doc]
    return doc


def file_hash(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".json":
        try:
            data = json.dumps(_clean(json.loads(data)), sort_keys=True).encode()
        except ValueError:
            pass
    return hashlib.sha256(data).hexdigest()[:16]


def bundle_hashes(path: Path) -> dict[str, str]:
    out = {str(p.relative_to(path)): file_hash(p) for p in sorted(path.rglob("*")) if p.is_file()}
    manifest = path / "manifest.json"
    if manifest.is_file():
        doc = _clean(json.loads(manifest.read_text()))
        doc["files"] = {k: out.get(k) for k in doc.get("files", {})}
        out["manifest.json"] = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]
    return out


def build(cli: str, model: str, calib: str, target: str, extra: list[str], out: Path, unbounded: Path) -> dict:
    tgt = ["--profile", str(unbounded)] if target == "fpga-unbounded" else ["--target", target]
    method = [] if "--method" in extra else ["--method", "rueckauer"]  # the seed's baseline, not the default
    cmd = [cli, "build", f"examples/{model}.pt2", *tgt, *method, "--calib", calib, "--calib-samples", "200",
           "--out", str(out), "--force", "--no-progress", *extra]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        lines = r.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit {r.returncode}", "seconds": seconds}
    return {"files": bundle_hashes(out), "seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="write the hashes here (JSON)")
    ap.add_argument("--compare", type=Path, help="compare with hashes written earlier; exit 1 on a difference")
    ap.add_argument("--cli", default=str(ROOT / ".venv/bin/neurocompile"))
    ap.add_argument("--only", help="comma-separated model names")
    ap.add_argument("--drop", action="append", default=[], metavar="KEY",
                    help="also leave this key out of every JSON file (an entry a change removes on purpose; give "
                         "the same --drop to both runs)")
    args = ap.parse_args()
    DROPPED.extend(args.drop)
    only = set(args.only.split(",")) if args.only else None
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="nc-hashes-") as tmp:
        unbounded = Path(tmp) / "fpga-unbounded.json"
        unbounded.write_text(json.dumps({"base": "fpga-generic", "name": "fpga-unbounded",
                                         "chip": {"cores_per_chip": 64, "max_chips": None}}))
        for model, calib, variants in MODELS:
            if only and model not in only:
                continue
            for label, extra in variants:
                for target in TARGETS:
                    key = f"{model}/{label}/{target}"
                    res = build(args.cli, model, calib, target, extra, Path(tmp) / "b", unbounded)
                    results[key] = res
                    what = res.get("error") or f"{len(res['files'])} files"
                    print(f"{key:<44} {res['seconds']:6.1f} s  {what}", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    if args.compare:
        before = json.loads(args.compare.read_text())
        bad = 0
        for key, now in results.items():
            was = before.get(key)
            if was is None:
                print(f"{key}: not in {args.compare}")
                continue
            if "error" in was or "error" in now:
                if was.get("error") != now.get("error"):
                    bad += 1
                    print(f"DIFF {key}: error {was.get('error')!r} -> {now.get('error')!r}")
                continue
            diff = sorted(k for k in set(was["files"]) | set(now["files"])
                          if was["files"].get(k) != now["files"].get(k))
            if diff:
                bad += 1
                print(f"DIFF {key}: {', '.join(diff[:8])}{' ...' if len(diff) > 8 else ''}")
        same = len([k for k in results if k in before]) - bad
        print(f"{same} of {len(results)} configurations identical to {args.compare}; {bad} differ")
        sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
