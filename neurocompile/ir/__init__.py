"""Graph IR: typed nodes, the graph wrapper, serialisation and a float reference executor."""

from .graph import Graph, conv_out
from .nodes import (NODE_TYPES, RESET_MODES, SOURCE_TYPES, TARGET_TYPES, Add, AvgPool2d, Conv2d, Encoder, Flatten, Input,
                    Linear, Neurons, Node, Output)
from .serialize import SCHEMA_VERSION, load, save

__all__ = [
    "Graph", "conv_out", "NODE_TYPES", "RESET_MODES", "Node", "Input", "Conv2d", "Linear", "AvgPool2d",
    "Flatten", "Add", "Neurons", "Encoder", "Output", "SOURCE_TYPES", "TARGET_TYPES", "SCHEMA_VERSION", "load",
    "save",
]
