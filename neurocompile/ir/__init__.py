"""Graph IR: typed nodes, the graph wrapper, serialisation and a float reference executor."""

from .graph import Graph, conv_out
from .nodes import (NODE_TYPES, RESET_MODES, SOURCE_OPS, SOURCE_TYPES, TARGET_TYPES, Add, AvgPool2d, Conv2d, Encoder,
                    Flatten, Input, Linear, MaxPool2d, Neurons, Node, Output)
from .serialize import SCHEMA_VERSION, load, save

__all__ = [
    "Graph", "conv_out", "NODE_TYPES", "RESET_MODES", "SOURCE_OPS", "SOURCE_TYPES", "TARGET_TYPES", "Node", "Input",
    "Conv2d", "Linear", "AvgPool2d", "MaxPool2d", "Flatten", "Add", "Neurons", "Encoder", "Output", "SCHEMA_VERSION",
    "load", "save",
]
