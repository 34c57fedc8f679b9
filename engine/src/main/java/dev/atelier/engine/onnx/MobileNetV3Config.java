package dev.atelier.engine.onnx;

import java.util.List;

/**
 * The layer table of a MobileNetV3 as torchvision builds it: the stem, the inverted residual
 * blocks ({@code features.1..n}), the last 1x1 conv and the classifier. Strides and activations
 * cannot be read from weights, so they come from this table; every channel count and kernel size
 * is checked against the weight shapes at export.
 *
 * @param name            "large" (the only table torchvision's V1/V2 ImageNet weights use here)
 * @param stemChannels    output channels of {@code features.0}
 * @param blocks          the inverted residual blocks in order
 * @param lastChannels    output channels of the last 1x1 conv (the pooled feature size)
 * @param hiddenChannels  output size of {@code classifier.0} (the pre-logits size)
 * @param batchNormEps    BatchNorm2d eps (torchvision: 0.001 for MobileNetV3)
 */
public record MobileNetV3Config(String name, int stemChannels, List<Block> blocks, int lastChannels,
                                int hiddenChannels, double batchNormEps) {

    /** The two activations of MobileNetV3: "RE" and "HS" in the paper's table. */
    public enum Activation { RELU, HARDSWISH }

    /**
     * One bneck row (torchvision {@code InvertedResidualConfig}, width multiplier 1, dilation 1).
     *
     * @param in       input channels
     * @param kernel   depthwise kernel size
     * @param expanded channels after the 1x1 expansion (no expansion conv when equal to in)
     * @param out      output channels
     * @param se       whether the block has a squeeze-and-excitation module
     * @param act      activation after the expansion and depthwise convs
     * @param stride   depthwise stride
     */
    public record Block(int in, int kernel, int expanded, int out, boolean se, Activation act, int stride) {
        /** torchvision adds the input back when the block keeps both the size and the channels. */
        public boolean residual() {
            return stride == 1 && in == out;
        }

        /** Squeeze channels: torchvision's _make_divisible(expanded // 4, 8). */
        public int squeezeChannels() {
            return makeDivisible(expanded / 4, 8);
        }
    }

    public MobileNetV3Config {
        blocks = List.copyOf(blocks);
    }

    // The "large" table of torchvision models/mobilenetv3.py (_mobilenet_v3_conf), from the paper's Table 1.
    public static final MobileNetV3Config LARGE = new MobileNetV3Config("large", 16, List.of(
            new Block(16, 3, 16, 16, false, Activation.RELU, 1),
            new Block(16, 3, 64, 24, false, Activation.RELU, 2),
            new Block(24, 3, 72, 24, false, Activation.RELU, 1),
            new Block(24, 5, 72, 40, true, Activation.RELU, 2),
            new Block(40, 5, 120, 40, true, Activation.RELU, 1),
            new Block(40, 5, 120, 40, true, Activation.RELU, 1),
            new Block(40, 3, 240, 80, false, Activation.HARDSWISH, 2),
            new Block(80, 3, 200, 80, false, Activation.HARDSWISH, 1),
            new Block(80, 3, 184, 80, false, Activation.HARDSWISH, 1),
            new Block(80, 3, 184, 80, false, Activation.HARDSWISH, 1),
            new Block(80, 3, 480, 112, true, Activation.HARDSWISH, 1),
            new Block(112, 3, 672, 112, true, Activation.HARDSWISH, 1),
            new Block(112, 5, 672, 160, true, Activation.HARDSWISH, 2),
            new Block(160, 5, 960, 160, true, Activation.HARDSWISH, 1),
            new Block(160, 5, 960, 160, true, Activation.HARDSWISH, 1)),
            960, 1280, 1e-3);

    /** torchvision's _make_divisible: round to a multiple of divisor, never more than 10% down. */
    static int makeDivisible(int v, int divisor) {
        int rounded = Math.max(divisor, (v + divisor / 2) / divisor * divisor);
        return rounded < 0.9 * v ? rounded + divisor : rounded;
    }
}
