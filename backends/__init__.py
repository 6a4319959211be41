"""Backends, shipped as ``neurocompile.backends``: intsim (the reference integer simulator), lava (Lava's
Loihi 2 fixed-point simulator), verilog (FPGA memory images, RTL, simulation and synthesis). Each imports the
core and never another backend; targets reach them through the target registry."""
