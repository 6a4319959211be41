"""Graph IR: the op registry (``ir.ops``, one module per op), the graph wrapper, serialisation, the
analyses every later stage shares (synaptic chains, integer matrices, network timing) and the float
reference executors."""

from .graph import Graph
from .ops import (OPS, RESET_MODES, Add, AvgPool2d, Composed, Concat, Conv2d, Encoder, Flatten, FloatContext, Input,
                  Linear, MaxPool2d, Neurons, Node, OpTable, Output, conv_out, register_op)
from .serialize import SCHEMA_VERSION, load, save

__all__ = [
    "Graph", "conv_out", "OPS", "RESET_MODES", "register_op", "OpTable", "FloatContext", "Node",
    "Input", "Conv2d", "Linear", "AvgPool2d", "MaxPool2d", "Flatten", "Add", "Concat", "Composed", "Neurons", "Encoder", "Output",
    "SCHEMA_VERSION", "load", "save",
]
