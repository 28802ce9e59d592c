"""Weight conversion from other implementations into the reference models."""

from __future__ import annotations

import keras

from resnet import model as model_lib
from resnet import specs

# Keras applications' BatchNorm epsilon (their code writes 1.001e-5).
KERAS_APPLICATIONS_BN_EPSILON = 1.001e-5


def from_keras_applications(source: keras.Model) -> keras.Model:
    """A reference ResNet holding the weights of a `keras.applications` ResNet.

    `keras.applications.ResNet50/101/152` are ResNet v1 with biased convolutions and
    BatchNorm epsilon 1.001e-5; the result is `resnet50/101/152(variant="v1",
    conv_bias=True)` with that epsilon, the same input shape, top, pooling, classes
    and classifier activation, and every weight copied, so both compute the same
    function (ImageNet weights included, once the user has them).

    Args:
      source: A model made by `keras.applications.ResNet50`, `ResNet101` or
        `ResNet152`, with any weights.

    Returns:
      The reference model, in the same dtype policy as the global one.

    Raises:
      ValueError: If `source` is not one of those models.
    """
    if not isinstance(source, keras.Model):
        raise ValueError(f"from_keras_applications needs a keras.Model; got {type(source).__name__}.")
    spec = _spec_of(source)
    names = {layer.name for layer in source.layers}
    include_top = "predictions" in names
    pooling = None if include_top else ("avg" if "avg_pool" in names else "max" if "max_pool" in names else None)
    kwargs = {}
    if include_top:
        head = source.get_layer("predictions")
        kwargs.update(num_classes=head.units, classifier_activation=keras.activations.serialize(head.activation))
    target = model_lib.build_resnet(
        spec,
        input_shape=tuple(source.input_shape[1:]),
        include_top=include_top,
        pooling=pooling,
        variant="v1",
        shortcut="B",
        conv_bias=True,
        bn_epsilon=KERAS_APPLICATIONS_BN_EPSILON,
        **kwargs,
    )
    copy_weights_by_name(source, target)
    return target


def copy_weights_by_name(source: keras.Model, target: keras.Model) -> None:
    """Copies every weighted layer of `source` into the layer of `target` with its name.

    Args:
      source: Model to read weights from.
      target: Model to write them into; must have exactly the same weighted layers.

    Raises:
      ValueError: If a layer is missing on either side or its weight shapes differ.
    """
    source_layers = {layer.name: layer for layer in source.layers if layer.weights}
    target_layers = {layer.name: layer for layer in target.layers if layer.weights}
    missing = sorted(source_layers.keys() ^ target_layers.keys())
    if missing:
        raise ValueError(f"Weighted layers present in only one model: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}.")
    for name, layer in target_layers.items():
        weights = source_layers[name].get_weights()
        expected = [tuple(w.shape) for w in layer.weights]
        if [w.shape for w in weights] != expected:
            raise ValueError(f"Layer {name!r}: weight shapes {[w.shape for w in weights]} do not fit {expected}.")
        layer.set_weights(weights)


def _spec_of(source: keras.Model) -> specs.ResNetSpec:
    """Reads the depth of a Keras-applications ResNet v1 from its layer names."""
    blocks = {}
    for layer in source.layers:
        stage, sep, rest = layer.name.partition("_block")
        if sep and rest.endswith("_out") and stage.startswith("conv"):
            blocks[stage] = max(blocks.get(stage, 0), int(rest[: -len("_out")]))
    counts = tuple(blocks[k] for k in sorted(blocks))
    has_v1_blocks = any(layer.name == "conv2_block1_3_bn" for layer in source.layers)
    for spec in specs.IMAGENET_SPECS.values():
        if spec.block == "bottleneck" and spec.blocks_per_stage == counts and has_v1_blocks:
            return spec
    raise ValueError(
        f"Model {source.name!r} is not a keras.applications ResNet50/101/152 "
        f"(found blocks per stage {counts or 'none'}); valid: ResNet50, ResNet101, ResNet152 (v1)."
    )
