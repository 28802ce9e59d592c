"""Reads a Keras model's graph and finds the ResNet in it: stem, residual blocks, head.

Any Keras model works: functional models (read directly), functional models whose
layers are themselves models or subclassed block layers, and subclassed models. The
nested ones are flattened into a *view*: a functional model over the same primitive
layers (same weights), made by calling each container's `call` on symbolic tensors.
Calling layers symbolically records nodes on them; `graph_view` removes those again on
exit, so the user's model is left as it was.

Blocks come from the residual additions: every `Add` of two tensors ends a block. The
block input is the previous block's output (the addition plus any ReLU right after it);
the branch of the addition with fewer convolutions is the shortcut.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from typing import Any, Iterator

import keras

from resnet.layers import ZeroPadShortcut

MAX_NESTING = 8
WEIGHTED_KINDS = ("conv", "bn", "dense")


class TraceError(ValueError):
    """A model's graph cannot be read."""


@dataclasses.dataclass
class Node:
    """One operation call in the flattened graph.

    Attributes:
      index: Position in topological order.
      op: The Keras layer or operation.
      kind: "conv", "bn", "relu", "add", "pad", "maxpool", "avgpool", "gap",
        "dense", "zeropad_shortcut", "input", "flatten", "act" or "other".
      inputs: Indices of the nodes whose outputs this one consumes.
      shape: Output shape, batch dimension dropped.
      tensor: The symbolic output tensor (for probing intermediate outputs).
      consumers: Indices of the nodes that consume this one's output.
    """

    index: int
    op: Any
    kind: str
    inputs: tuple[int, ...]
    shape: tuple
    tensor: Any
    consumers: list[int] = dataclasses.field(default_factory=list)

    @property
    def name(self) -> str:
        return self.op.name

    @property
    def fused_relu(self) -> bool:
        """Whether a conv/dense applies a ReLU itself (activation="relu")."""
        activation = getattr(self.op, "activation", None)
        return activation is not None and getattr(activation, "__name__", "") == "relu"

    def describe(self) -> str:
        """A short word for the op: "conv3x3/2", "bn", "relu", ..."""
        if self.kind == "conv":
            kh, kw = self.op.kernel_size
            stride = self.op.strides[0]
            return f"conv{kh}x{kw}" + (f"/{stride}" if stride > 1 else "")
        return self.kind


@dataclasses.dataclass
class Block:
    """A residual block found in the graph.

    Attributes:
      name: Position-based paper name, e.g. "conv3_block2".
      stage: 0-based stage.
      index: 0-based index inside the stage.
      input: Node index of the block input.
      add: Node index of the residual addition.
      output: Node index of the block output (the addition, or a ReLU after it).
      pre: Nodes shared by both branches, between the input and the fork
        (pre-activation BN/ReLU in v2 projection blocks).
      residual: Nodes of the residual branch only, in order.
      shortcut: Nodes of the shortcut branch only (empty for identity).
      post: Nodes after the addition (the v1 ReLU).
      in_shape: Block input shape.
      out_shape: Block output shape.
    """

    name: str
    stage: int
    index: int
    input: int
    add: int
    output: int
    pre: list[int]
    residual: list[int]
    shortcut: list[int]
    post: list[int]
    in_shape: tuple
    out_shape: tuple

    @property
    def nodes(self) -> list[int]:
        return sorted(self.pre + self.residual + self.shortcut + [self.add] + self.post)

    @property
    def branch(self) -> list[int]:
        """Pre-activation plus residual nodes: everything off the shortcut."""
        return sorted(self.pre + self.residual)

    @property
    def stride(self) -> int:
        return spatial_stride(self.in_shape, self.out_shape)


@dataclasses.dataclass
class Analysis:
    """A model's graph split into the parts of a ResNet.

    Attributes:
      nodes: Every node, topologically ordered.
      stem: Nodes before the first block (inputs excluded).
      blocks: The residual blocks, in order.
      head: Nodes after the last block.
      input_shape: The model's input shape (batch dropped) as analysed.
    """

    nodes: list[Node]
    stem: list[int]
    blocks: list[Block]
    head: list[int]
    input_shape: tuple

    def kinds(self, indices) -> list[str]:
        """The `Node.kind` of each node in `indices`."""
        return [self.nodes[i].kind for i in indices]

    def tokens(self, indices) -> list[str]:
        """The op sequence of `indices` as words, a fused ReLU as its own word."""
        out = []
        for i in indices:
            node = self.nodes[i]
            if node.kind in ("pad",):
                continue
            out.append("conv" if node.kind == "conv" else node.kind)
            if node.kind in ("conv", "dense") and node.fused_relu:
                out.append("relu")
        return out

    @property
    def stage_counts(self) -> tuple[int, ...]:
        """Blocks found in each stage."""
        counts: dict[int, int] = {}
        for block in self.blocks:
            counts[block.stage] = counts.get(block.stage, 0) + 1
        return tuple(counts[s] for s in sorted(counts))

    def weighted(self, indices, kind: str | None = None) -> list[Node]:
        """The conv/BN/dense nodes among `indices` (only those of `kind` if given)."""
        return [
            self.nodes[i]
            for i in indices
            if self.nodes[i].kind in WEIGHTED_KINDS and kind in (None, self.nodes[i].kind)
        ]

    def region_of(self) -> dict[int, str]:
        """Node index -> "stem", "head" or the name of its block."""
        region = {i: "stem" for i in self.stem}
        region.update({i: "head" for i in self.head})
        for block in self.blocks:
            region.update({i: block.name for i in block.nodes})
        return region


def spatial_stride(in_shape: tuple, out_shape: tuple) -> int:
    """How much a map shrank between two NHWC shapes (ceil arithmetic: 7 -> 4 is 2)."""
    if in_shape[0] is None or out_shape[0] is None or not out_shape[0]:
        return 1
    return max(1, round(in_shape[0] / out_shape[0]))


# Layer classes and their `Node.kind` words, tried in order (ReLU and Activation need
# a look at their settings, so `kind_of` handles them first).
_LAYER_KINDS = (
    (keras.layers.InputLayer, "input"),
    (keras.layers.Conv2D, "conv"),
    (keras.layers.BatchNormalization, "bn"),
    (keras.layers.Add, "add"),
    (ZeroPadShortcut, "zeropad_shortcut"),
    (keras.layers.ZeroPadding2D, "pad"),
    (keras.layers.MaxPooling2D, "maxpool"),
    (keras.layers.AveragePooling2D, "avgpool"),
    (keras.layers.GlobalAveragePooling2D, "gap"),
    (keras.layers.GlobalMaxPooling2D, "gmp"),
    (keras.layers.Dense, "dense"),
    (keras.layers.Flatten, "flatten"),
)


def kind_of(op) -> str:
    """Classifies a Keras layer or operation into one of `Node.kind`'s words."""
    if isinstance(op, keras.layers.ReLU):
        plain = op.max_value is None and not op.negative_slope and not op.threshold
        return "relu" if plain else "act"
    if isinstance(op, keras.layers.Activation):
        return "relu" if getattr(op.activation, "__name__", "") == "relu" else "act"
    for layer_class, kind in _LAYER_KINDS:
        if isinstance(op, layer_class):
            return kind
    if isinstance(op, keras.layers.Layer):
        return "other"
    # keras.ops inside a subclassed layer's call: `x + y`, `ops.relu(x)`.
    return {"Add": "add", "Relu": "relu"}.get(type(op).__name__, "other")


def _is_container(op) -> bool:
    """Layers whose call runs other layers: nested models and subclassed blocks."""
    if not isinstance(op, keras.layers.Layer) or isinstance(op, keras.layers.InputLayer):
        return False
    if isinstance(op, keras.Model):
        return True
    return kind_of(op) == "other" and bool(op._flatten_layers(include_self=False, recursive=False))


def _inline(op):
    """The callable that replays `op` one level down: a nested functional model's
    graph, or a subclassed layer's `call` (its sublayers then record their own nodes)."""
    if isinstance(op, keras.Model) and getattr(op, "_nodes_by_depth", None):
        return lambda *args, **kwargs: op._run_through_graph(
            args[0] if len(args) == 1 else list(args), operation_fn=lambda o: o
        )
    return op.call


def _graph_of(model):
    """The functional graph behind a model: itself, a Sequential's inner functional
    model, or None for a subclassed model."""
    for candidate in (model, getattr(model, "_functional", None)):
        if candidate is not None and getattr(candidate, "_nodes_by_depth", None):
            return candidate
    return None


def _flat_view(model, input_shape: tuple):
    """A functional model over `model`'s primitive layers, on inputs of `input_shape`."""
    inputs = keras.Input(shape=input_shape)
    graph = _graph_of(model)
    if graph is not None:
        outputs = graph._run_through_graph([inputs], operation_fn=lambda op: _inline(op) if _is_container(op) else op)
    else:
        outputs = model.call(inputs)
    view = keras.Model(inputs, outputs)
    for _ in range(MAX_NESTING):
        if not any(_is_container(node.operation) for nodes in view._nodes_by_depth.values() for node in nodes):
            return view
        inputs = keras.Input(shape=input_shape)
        view = keras.Model(
            inputs, view._run_through_graph([inputs], operation_fn=lambda op: _inline(op) if _is_container(op) else op)
        )
    raise TraceError(f"Model {model.name!r} nests layers more than {MAX_NESTING} levels deep; cannot read its graph.")


def model_input_shape(model) -> tuple | None:
    """The model's input shape without the batch dimension, or None if unknown."""
    try:
        shape = model.input_shape
    except (AttributeError, ValueError):
        return None
    if isinstance(shape, list):
        if len(shape) != 1:
            raise ValueError(f"Model {model.name!r} has {len(shape)} inputs; a ResNet has one image input.")
        shape = shape[0]
    return tuple(shape[1:])


@contextlib.contextmanager
def graph_view(model, input_shape: tuple | None = None) -> Iterator[keras.Model]:
    """Yields a flat functional model sharing `model`'s layers and weights.

    Args:
      model: Any Keras model.
      input_shape: (H, W, C) to trace at; default: the model's own input shape.

    Yields:
      `model` itself when it is already flat and functional at that shape, else a
      flattened view. Nodes recorded on the user's layers are removed on exit.

    Raises:
      ValueError: If the input shape is unknown or the graph cannot be traced.
    """
    own_shape = model_input_shape(model)
    shape = tuple(input_shape) if input_shape is not None else own_shape
    if shape is None or len(shape) != 3:
        raise ValueError(
            f"Cannot tell the input shape of model {model.name!r}; pass input_shape=(height, width, channels)."
        )
    flat = _graph_of(model) is model and not any(
        _is_container(node.operation) for nodes in model._nodes_by_depth.values() for node in nodes
    )
    if flat and shape == own_shape:
        yield model
        return
    operations = model._flatten_layers(include_self=True, recursive=True)
    saved = [(op, len(op._inbound_nodes), len(op._outbound_nodes)) for op in operations]
    try:
        try:
            view = _flat_view(model, shape)
        except TraceError:
            raise
        except Exception as error:  # noqa: BLE001 - user code can raise anything
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise ValueError(
                f"Cannot trace model {model.name!r} symbolically ({type(error).__name__}: {first_line}); "
                "its layers must use keras.ops / Keras layers in call()."
            ) from None
        yield view
    finally:
        for op, inbound, outbound in saved:
            del op._inbound_nodes[inbound:]
            del op._outbound_nodes[outbound:]


def read_nodes(view: keras.Model) -> list[Node]:
    """The view's operation calls in topological order (inputs first)."""
    nodes: list[Node] = []
    index_of: dict[int, int] = {}
    for depth in sorted(view._nodes_by_depth, reverse=True):
        for node in view._nodes_by_depth[depth]:
            op = node.operation
            inputs = tuple(index_of[id(t)] for t in node.input_tensors if id(t) in index_of)
            output = node.outputs[0] if node.outputs else None
            record = Node(
                len(nodes), op, kind_of(op), inputs, tuple(output.shape[1:]) if output is not None else (), output
            )
            if record.kind == "input" or node.is_input:
                record.kind = "input"
            for tensor in node.outputs:
                index_of[id(tensor)] = record.index
            nodes.append(record)
    for record in nodes:
        for i in record.inputs:
            nodes[i].consumers.append(record.index)
    return nodes


def _bits(mask: int) -> list[int]:
    out, i = [], 0
    while mask:
        if mask & 1:
            out.append(i)
        mask >>= 1
        i += 1
    return out


def analyse(view: keras.Model) -> Analysis:
    """Finds the stem, residual blocks and head of a flat functional model.

    Args:
      view: A flat functional model (see `graph_view`).

    Returns:
      The analysis; `blocks` is empty for a model without residual additions.
    """
    nodes = read_nodes(view)
    ancestors = [0] * len(nodes)
    for node in nodes:
        for i in node.inputs:
            ancestors[node.index] |= ancestors[i] | (1 << i)
    upto = lambda i: ancestors[i] | (1 << i)  # noqa: E731 - node and everything before it
    adds = [n.index for n in nodes if n.kind == "add" and len(n.inputs) >= 2]
    raw = []
    previous_end = None
    for add in adds:
        end = add
        while len(nodes[end].consumers) == 1 and nodes[nodes[end].consumers[0]].kind in ("relu", "act"):
            end = nodes[end].consumers[0]
        branches = [upto(i) for i in nodes[add].inputs]
        shared = branches[0]
        for mask in branches[1:]:
            shared &= mask
        fork = shared.bit_length() - 1
        start = previous_end if previous_end is not None and (upto(add) >> previous_end) & 1 else fork
        raw.append([start, add, end])
        previous_end = end
    if raw:
        raw[0][0] = _first_block_input(nodes, raw, upto)
    blocks = []
    for start, add, end in raw:
        before = upto(start)
        inside = upto(add) & ~before
        branches = [upto(i) & ~before for i in nodes[add].inputs]
        shared = branches[0]
        for mask in branches[1:]:
            shared &= mask
        only = [m & ~shared for m in branches]
        convs = [sum(nodes[i].kind == "conv" for i in _bits(m)) for m in only]
        order = sorted(range(len(only)), key=lambda k: (convs[k], bin(only[k]).count("1")))
        shortcut_mask = 0
        for k in order[:-1]:
            shortcut_mask |= only[k]
        residual_mask = inside & ~shared & ~shortcut_mask & ~(1 << add)
        blocks.append(
            Block(
                name="",
                stage=0,
                index=0,
                input=start,
                add=add,
                output=end,
                pre=_bits(shared),
                residual=_bits(residual_mask),
                shortcut=_bits(shortcut_mask),
                post=_bits(upto(end) & ~upto(add)),
                in_shape=nodes[start].shape,
                out_shape=nodes[end].shape,
            )
        )
    _name_blocks(blocks)
    stem = [i for i in _bits(upto(blocks[0].input)) if nodes[i].kind != "input"] if blocks else []
    last = upto(blocks[-1].output) if blocks else 0
    head = [n.index for n in nodes if not (last >> n.index) & 1 and n.kind != "input"] if blocks else []
    return Analysis(nodes, stem, blocks, head, tuple(nodes[0].shape) if nodes else ())


def _first_block_input(nodes: list[Node], raw: list, upto) -> int:
    """The first block's input: its fork point, moved before a pre-activation.

    A pre-activation (v2) block that projects its shortcut forks after its own BN-ReLU;
    later blocks show whether the network is pre-activated (their residual branch
    starts with BN), and then the first block's BN-ReLU belongs to the block.
    """
    start = raw[0][0]
    later = [(s, a) for s, a, _ in raw[1:]]
    preactivated = any(
        nodes[c].kind == "bn" for s, a in later for c in nodes[s].consumers if (upto(a) >> c) & 1 and c != a
    )
    if preactivated and nodes[start].kind == "relu" and len(nodes[start].inputs) == 1:
        bn = nodes[start].inputs[0]
        if nodes[bn].kind == "bn" and len(nodes[bn].consumers) == 1 and len(nodes[bn].inputs) == 1:
            return nodes[bn].inputs[0]
    return start


def _name_blocks(blocks: list[Block]) -> None:
    """Groups blocks into stages (a new stage wherever the output channels change) and
    names them the paper's way: conv2_block1, conv2_block2, ..., conv3_block1, ..."""
    stage, index = 0, 0
    for k, block in enumerate(blocks):
        if k and block.out_shape[-1] != blocks[k - 1].out_shape[-1]:
            stage, index = stage + 1, 0
        block.stage, block.index = stage, index
        block.name = f"conv{stage + 2}_block{index + 1}"
        index += 1


def weight_size(variable) -> int:
    """Number of values in a weight variable (0 for None)."""
    return int(math.prod(variable.shape)) if variable is not None else 0
