"""lava-nc 0.10.0 on Python 3.11 (issue 3): installed by `make lava`, patched, and bit-exact on E1.

Skipped when lava-nc is not installed at all; an installed but unpatched or wrong-version lava fails.
Expected integers: experiment E1 of backends/lava/install.py (measured with Lava 0.10.0).
"""

import importlib.metadata as md
import subprocess
import sys

import numpy as np
import pytest
from neurocompile.backends.lava import install

pytestmark = pytest.mark.lava

try:
    md.version(install.DIST_NAME)
except md.PackageNotFoundError:
    pytest.skip("lava-nc is not installed (run `make lava`)", allow_module_level=True)


def test_version_requirements_and_patch_state():
    assert install.installed_version() == install.REQUIRED_VERSION
    assert install.unmet_requirements() == []
    assert set(install.patch_state().values()) == {"patched"}
    assert install.marker_path().is_file()
    # --check logic without the simulation runs (those are the tests below)
    assert install.check(run=False) == "lava-nc 0.10.0 OK (patched)"


def test_patcher_is_a_noop_when_already_patched():
    assert install.apply_patches(log=lambda *_: None) is False


def test_patcher_refuses_unknown_text():
    patch = install.PATCHES[0]
    with pytest.raises(install.LavaInstallError, match="exactly one occurrence"):
        install._patched_text(patch, "# not lava's var_model.py\n")


def test_lava_runtime_imports_after_multiprocessing_was_used():
    """Unpatched, Lava's `mp.set_start_method('fork')` raised once any multiprocessing context was in use."""
    code = (
        "import multiprocessing as mp; mp.get_start_method(); "
        "import lava.magma.runtime.message_infrastructure.multiprocessing; print(mp.get_start_method())"
    )
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "fork"


def test_e1_bias_driven_lif_fixed_pt():
    """E1: LIF(du=0, dv=0, vth=10, bias_mant=[100, 640, 700]); threshold 640, strict '>', hard reset."""
    v, s = install.run_e1(steps=8)
    assert v.tolist() == [
        [100, 640, 0],
        [200, 0, 0],
        [300, 640, 0],
        [400, 0, 0],
        [500, 640, 0],
        [600, 0, 0],
        [0, 640, 0],  # neuron 0 reached 700 > 640 at step 7: spike, v = 0 (excess lost)
        [100, 0, 0],
    ]
    assert s.tolist() == [
        [0, 0, 1],
        [0, 1, 1],
        [0, 0, 1],
        [0, 1, 1],
        [0, 0, 1],
        [0, 1, 1],
        [1, 0, 1],
        [0, 1, 1],
    ]


def test_ringbuffer_dense_lif_latency_and_threshold():
    """A spike in data column k reaches u at step k+2; du=4095 -> u = a<<6; v = 1280 does not spike."""
    u, v, s = install.run_chain(steps=8)
    assert np.array_equal(u, install.CHAIN_U)
    assert np.array_equal(v, install.CHAIN_V)
    assert np.array_equal(s, install.CHAIN_S)
    assert s.sum(axis=0).tolist() == [1, 1]
