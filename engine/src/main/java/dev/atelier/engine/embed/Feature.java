package dev.atelier.engine.embed;

/** Which MobileNetV3 activations an embedding is made of. */
public enum Feature {
    /** The 960 channels after the global average pool (the paper's features; the default). */
    POOLED,
    /** The 1280 activations after classifier.0 and Hardswish, before the last Linear. */
    PRELOGITS,
    /** The last Linear's outputs: class scores, read through the weights' {@link ClassHeads}. */
    LOGITS
}
