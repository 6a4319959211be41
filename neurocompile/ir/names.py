"""How messages and reports name a layer: by the module path and type the user wrote, with the IR name.

Every IR node keeps where it came from in the source model: ``source`` (the module path, e.g.
``features.2.conv.6``; "" for code in the root's ``forward``) and ``module``
(the module's type, ``Conv2d``; for a functional call, the function, ``relu()``, after the enclosing
module's type if there is one: ``BasicBlock, relu()``). One form everywhere::

    layer features.2.conv.6 (Conv2d) [features_2_conv_6]: <what is wrong>

A node built without a source (a graph written by hand) is named by its IR name: ``layer conv1``; one from a
bundle written before ``module`` existed by its module path and IR name: ``layer features.4 [features_4]``.
"""

from __future__ import annotations

from ..errors import GraphError


def user_name(node) -> str:
    """``features.2.conv.6 (Conv2d)``: the user's module path and type; the IR name if neither is known."""
    src, mod = node.source, node.module
    if mod:
        return f"{src} ({mod})" if src else mod
    return src or node.name


def describe(node) -> str:
    """``features.2.conv.6 (Conv2d) [features_2_conv_6]``: :func:`user_name` and the IR name in brackets
    (left out when the user's name is the IR name)."""
    u = user_name(node)
    return u if u == node.name or u.startswith(f"{node.name} (") else f"{u} [{node.name}]"


def layer(node) -> str:
    """``layer features.2.conv.6 (Conv2d) [features_2_conv_6]``: how an error names a layer."""
    return f"layer {describe(node)}"


def layer_of(graph, name: str) -> str:
    """:func:`layer` for the node called ``name`` in ``graph`` (``layer NAME`` if the graph has none)."""
    try:
        return layer(graph.node(name))
    except GraphError:  # a name outside the graph stays as it is
        return f"layer {name}"


def describe_of(graph, name: str) -> str:
    """:func:`describe` for the node called ``name`` in ``graph`` (``name`` itself if the graph has none)."""
    try:
        return describe(graph.node(name))
    except GraphError:
        return name
