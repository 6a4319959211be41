"""A faster fixed-point ProcessModel for Lava's own ``Sparse`` process (``models.py``; imports Lava)."""
