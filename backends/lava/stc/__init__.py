"""Lava Processes of the STCSNN block: the spike-train encoder (STEB) and the current accumulator (CAB).

Kept in its own package: Lava finds ProcessModels by executing every ``.py`` file in the directory of a
custom Process, so this directory holds only the Processes and their fixed-point models.
"""
