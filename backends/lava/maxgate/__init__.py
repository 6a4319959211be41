"""A Lava Process for the max-count gate (the IR's MaxPool2d on spikes; not in Lava 0.10).

Kept in its own package: Lava finds ProcessModels by executing every ``.py`` file in the directory of a
custom Process, so this directory holds only the Process and its fixed-point model.
"""
