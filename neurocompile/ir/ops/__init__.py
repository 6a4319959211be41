"""The IR's ops, one module each (node type and every facet; see :mod:`.base`), and the registry they
register in. Importing this package registers the built-in ops; an op defined elsewhere registers with
:func:`register_op` and is then known to every stage (serialisation, shapes, evaluators, intsim, the
partitioner) without an edit anywhere else."""

from .base import OPS, PASS, FloatContext, Node, OpTable, Window, conv_out, register_op
from .input import Input
from .conv2d import Conv2d
from .linear import Linear
from .avgpool2d import AvgPool2d
from .maxpool2d import MaxPool2d
from .flatten import Flatten
from .add import Add
from .concat import Concat
from .composed import Composed
from .neurons import RESET_MODES, IntState, Neurons
from .encoder import Encoder, encode_decode
from .output import Output

__all__ = ["OPS", "PASS", "FloatContext", "Node", "OpTable", "Window", "conv_out", "register_op", "Input", "Conv2d",
           "Linear", "AvgPool2d", "MaxPool2d", "Flatten", "Add", "Concat", "Composed", "RESET_MODES", "IntState", "Neurons",
           "Encoder", "encode_decode", "Output"]
