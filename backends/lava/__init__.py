"""Lava (Loihi 2 simulator) backend.

Importing this package must not import ``lava``: lava-nc 0.10.0 only works on Python 3.11 after
``python -m neurocompile.backends.lava.install`` has patched it (``make lava`` does this).
"""
