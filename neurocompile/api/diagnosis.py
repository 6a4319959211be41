"""``diagnose``: where does a converted network lose accuracy? Per population, the ANN's normalised activation
(a / lambda) against the SNN's firing rate (spikes per step) on the same images (for STCSNN encoders: the
decoded spike train as a fraction of the block's range)."""

from __future__ import annotations

import numpy as np

from ..bundle import Bundle, read_bundle
from ..targets import load_ref
from ..ir.names import user_name
from ..ir.timing import chain_depths
from ..targets.builtin import INTSIM
from . import data
from .options import check_counts
from .progress import Stages, bar


def diagnose(bundle, dataset, *, limit: int = 200, timesteps: int | None = None, progress: bool = True) -> dict:
    """Per-layer ANN-vs-SNN diagnosis of ``bundle`` (a Bundle or a directory) on the first ``limit`` test
    images of ``dataset`` (as in :func:`simulate`), run in intsim for ``timesteps`` (default the bundle's).

    Returns
    -------
    dict
        ``{"samples", "timesteps", "agreement", "layers": [{"layer", "module", "correlation", "ann_mean", "snn_rate",
        "saturated", "silent_snn", "rmse"}, ...]}``: per population the Pearson correlation of ANN activation
        / lambda with the SNN rate, their means, the fraction of neurons the ANN drives past one spike per step
        (saturated), the fraction silent in the SNN and the rmse of ``min(a / lambda, 1)`` against the rate;
        ``agreement``: the fraction of images where SNN and ANN predict the same class.
    """
    from ..ir.ann import run_ann
    from ..passes.scales import as_unit

    check_counts(limit=limit, timesteps=timesteps)
    b = bundle if isinstance(bundle, Bundle) else read_bundle(bundle)
    snn, T = b.snn, timesteps or b.timesteps
    x, _ = data.arrays(dataset, "test", tuple(snn.input.shape), "dataset")
    x = x[:limit]
    stage = Stages(3, progress)
    stage(f"float ANN on {len(x)} images")
    out, acts = run_ann(b.ann, x, record=True)
    stage(f"intsim on {len(x)} images, T = {T}")
    with bar(len(x), "img", f"intsim T={T}", progress) as pbar:
        res = load_ref(INTSIM.run)(snn, x, T, record=True, progress=pbar.update)
    stage("per-layer statistics")
    lam = snn.meta.get("lambda") or {}
    shapes = snn.infer_shapes()
    rows = []
    depth = chain_depths(snn)
    for n in snn.topo():
        if not (n.chain_target and n.spike_source):  # populations (rate-coded or STCSNN encoders)
            continue
        a = (acts[n.name] / as_unit(lam.get(n.name, 1.0), shapes[n.name])).reshape(len(x), -1)
        r = n.rate(res.spikes[n.name], T, depth[n.name]).reshape(len(x), -1)
        corr = float(np.corrcoef(a.ravel(), r.ravel())[0, 1]) if a.std() > 0 and r.std() > 0 else float("nan")
        rows.append({"layer": n.name, "module": user_name(n), "correlation": corr, "ann_mean": float(a.mean()), "snn_rate": float(r.mean()),
                     "saturated": float((a > 1).mean()), "silent_snn": float((r == 0).mean()),
                     "rmse": float(np.sqrt(np.mean((np.minimum(a, 1) - r) ** 2)))})
    stage.done()
    return {"samples": len(x), "timesteps": T, "agreement": float(np.mean(res.predictions == out.argmax(1))),
            "layers": rows}
