"""``--rtl-simulator auto``: Verilator above a bound on the design's work, Icarus below or without Verilator."""

from __future__ import annotations

import pytest

from neurocompile.backends.verilog import rtl

DOC = {"run_steps": 12, "lanes": 2, "cores": [{"neurons": 1000, "synapse_entries": 100_000},
                                              {"neurons": 610, "synapse_entries": 142_221}]}


def test_design_work_is_samples_steps_neurons_and_words():
    per_step = 1000 + 50_000 + 610 + 71_111  # words: entries / lanes, rounded up
    assert rtl.design_work(DOC, 3) == 3 * 12 * per_step


@pytest.mark.parametrize("samples, expect", [(1, "iverilog"), (3, "verilator"), (100, "verilator")])
def test_auto_crossover(monkeypatch, samples, expect):
    monkeypatch.setattr(rtl.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert (rtl.design_work(DOC, samples) > rtl.AUTO_VERILATOR_WORK) == (expect == "verilator")
    assert rtl.choose_simulator("auto", DOC, samples) == expect


def test_auto_without_verilator_and_explicit_choice(monkeypatch):
    monkeypatch.setattr(rtl.shutil, "which", lambda name: None)
    assert rtl.choose_simulator("auto", DOC, 1000) == "iverilog"
    assert rtl.choose_simulator("verilator", DOC, 1) == "verilator"  # an explicit choice is kept
    assert rtl.choose_simulator("iverilog", DOC, 1000) == "iverilog"
