"""Verilog templates of the FPGA target (``*.v.tmpl``, ``string.Template``), shipped as package data."""
