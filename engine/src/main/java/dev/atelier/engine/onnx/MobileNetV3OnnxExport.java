package dev.atelier.engine.onnx;

import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.onnx.MobileNetV3Config.Activation;
import dev.atelier.engine.onnx.MobileNetV3Config.Block;
import dev.atelier.engine.onnx.OnnxGraph.Attr;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.torchfile.TorchFile;
import dev.atelier.engine.util.AtomicFiles;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes torchvision's MobileNetV3 as an ONNX model from its state dict (torchvision names:
 * {@code features.*}, {@code classifier.*}). BatchNorm is folded into the preceding conv, so the
 * graph holds only Conv, Relu, HardSigmoid, Mul, Add, GlobalAveragePool, Flatten and Gemm
 * (opset {@value #OPSET}). The batch dimension is free ({@code batch}).
 *
 * <p>Outputs: {@code pooled} [batch, 960] (after the global average pool), {@code prelogits}
 * [batch, 1280] (classifier.0 + Hardswish) and {@code logits} [batch, classes]. Input
 * {@code input} [batch, 3, H, W] in NCHW float, normalised as the weights expect.
 */
public final class MobileNetV3OnnxExport {
    public static final int OPSET = 13;
    public static final String INPUT = "input", POOLED = "pooled", PRELOGITS = "prelogits", LOGITS = "logits";

    /** torchvision Hardsigmoid = relu6(x + 3) / 6 = ONNX HardSigmoid(alpha 1/6, beta 1/2). */
    private static final float HARD_SIGMOID_ALPHA = 1f / 6f, HARD_SIGMOID_BETA = 0.5f;

    /**
     * Export settings.
     *
     * @param height input height written into the graph; 0 leaves it free
     * @param width  input width written into the graph; 0 leaves it free
     */
    public record Options(int height, int width) {
        public static final Options DEFAULT = new Options(224, 224);
    }

    private final Map<String, TensorView> weights;
    private final MobileNetV3Config config;
    private final OnnxGraph graph;
    private int valueCount;

    private MobileNetV3OnnxExport(Map<String, TensorView> weights, MobileNetV3Config config) {
        this.weights = weights;
        this.config = config;
        this.graph = new OnnxGraph("mobilenet_v3_" + config.name());
    }

    /** Exports to target atomically (a temporary file renamed over it). */
    public static void write(Path target, Map<String, TensorView> weights, MobileNetV3Config config, Options options) {
        byte[] model = export(weights, config, options);
        AtomicFiles.write(target, model);
    }

    /** Exports with the large table and a 224x224 input. */
    public static void write(Path target, Map<String, TensorView> weights) {
        write(target, weights, MobileNetV3Config.LARGE, Options.DEFAULT);
    }

    /**
     * Exports from a weights file: a {@code .safetensors} file, or a {@code .pth}/{@code .pt} as
     * {@code torch.save} writes it (read without Python). Errors name the weights file.
     */
    public static void writeFromFile(Path target, Path weightsFile, MobileNetV3Config config, Options options) {
        String name = weightsFile.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        try {
            if (name.endsWith(".safetensors")) {
                try (SafeTensorsFile file = SafeTensorsFile.open(weightsFile)) {
                    Map<String, TensorView> views = new LinkedHashMap<>();
                    file.tensors().keySet().forEach(n -> views.put(n, file.view(n)));
                    write(target, views, config, options);
                }
            } else {
                try (TorchFile file = TorchFile.open(weightsFile)) {
                    write(target, file.stateDict(), config, options);
                }
            }
        } catch (FormatException e) {
            if (e.getMessage().startsWith(weightsFile.toString())) {
                throw e;
            }
            throw new FormatException(weightsFile + ": " + e.getMessage(), e);
        }
    }

    /**
     * The ONNX model bytes. Throws {@link FormatException} naming the tensor when a weight is
     * missing or its shape does not match the table.
     */
    public static byte[] export(Map<String, TensorView> weights, MobileNetV3Config config, Options options) {
        return new MobileNetV3OnnxExport(weights, config).build(options);
    }

    private byte[] build(Options options) {
        Object h = options.height() > 0 ? (Object) (long) options.height() : "height";
        Object w = options.width() > 0 ? (Object) (long) options.width() : "width";
        graph.input(INPUT, OnnxGraph.FLOAT, "batch", 3L, h, w);

        String x = convBn(INPUT, "features.0", 3, config.stemChannels(), 3, 2, 1);
        x = activation(x, Activation.HARDSWISH);
        int channels = config.stemChannels();
        for (int i = 0; i < config.blocks().size(); i++) {
            Block b = config.blocks().get(i);
            if (b.in() != channels) {
                throw new IllegalArgumentException("block " + (i + 1) + " takes " + b.in() + " channels after " + channels);
            }
            x = block(x, "features." + (i + 1) + ".block", b);
            channels = b.out();
        }
        int last = config.blocks().size() + 1;
        x = convBn(x, "features." + last, channels, config.lastChannels(), 1, 1, 1);
        x = activation(x, Activation.HARDSWISH);
        String pooled = next("gap");
        graph.node("GlobalAveragePool", List.of(x), List.of(pooled));
        graph.node("Flatten", List.of(pooled), List.of(POOLED), Attr.i("axis", 1));

        String hidden = linear(POOLED, "classifier.0", config.lastChannels(), config.hiddenChannels());
        String prelogits = hardswish(hidden, PRELOGITS);
        long classes = shapeOf("classifier.3.weight")[0];
        linearInto(prelogits, "classifier.3", config.hiddenChannels(), classes, LOGITS);

        graph.output(POOLED, OnnxGraph.FLOAT, "batch", (long) config.lastChannels());
        graph.output(PRELOGITS, OnnxGraph.FLOAT, "batch", (long) config.hiddenChannels());
        graph.output(LOGITS, OnnxGraph.FLOAT, "batch", classes);

        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("atelier.architecture", "mobilenet_v3_" + config.name());
        metadata.put("atelier.batchnorm", "folded");
        return graph.toModel(OPSET, "atelier", "0.1", "torchvision MobileNetV3-" + config.name()
                + " exported by Atelier (BatchNorm folded into the convolutions)", metadata);
    }

    // torchvision InvertedResidual: [expand 1x1 + BN + act], depthwise kxk + BN + act, [SE], project 1x1 + BN.
    private String block(String input, String prefix, Block b) {
        int j = 0;
        String x = input;
        if (b.expanded() != b.in()) {
            x = activation(convBn(x, prefix + "." + j++, b.in(), b.expanded(), 1, 1, 1), b.act());
        }
        x = convBn(x, prefix + "." + j++, b.expanded(), b.expanded(), b.kernel(), b.stride(), b.expanded());
        x = activation(x, b.act());
        if (b.se()) {
            x = squeezeExcitation(x, prefix + "." + j++, b.expanded(), b.squeezeChannels());
        }
        x = convBn(x, prefix + "." + j, b.expanded(), b.out(), 1, 1, 1);
        if (b.residual()) {
            String sum = next("add");
            graph.node("Add", List.of(x, input), List.of(sum));
            x = sum;
        }
        return x;
    }

    // torchvision SqueezeExcitation: scale = hardsigmoid(fc2(relu(fc1(avgpool(x))))); out = scale * x.
    private String squeezeExcitation(String x, String prefix, int channels, int squeeze) {
        String pooled = next("se_pool");
        graph.node("GlobalAveragePool", List.of(x), List.of(pooled));
        String s = conv(pooled, prefix + ".fc1", weight(prefix + ".fc1.weight", squeeze, channels, 1, 1),
                weight(prefix + ".fc1.bias", squeeze), new long[] {squeeze, channels, 1, 1}, 1, 1, 1);
        String r = next("se_relu");
        graph.node("Relu", List.of(s), List.of(r));
        s = conv(r, prefix + ".fc2", weight(prefix + ".fc2.weight", channels, squeeze, 1, 1),
                weight(prefix + ".fc2.bias", channels), new long[] {channels, squeeze, 1, 1}, 1, 1, 1);
        String scale = next("se_scale");
        graph.node("HardSigmoid", List.of(s), List.of(scale),
                Attr.f("alpha", HARD_SIGMOID_ALPHA), Attr.f("beta", HARD_SIGMOID_BETA));
        String out = next("se_out");
        graph.node("Mul", List.of(x, scale), List.of(out));
        return out;
    }

    /** Conv2d (bias-free) at prefix.0 followed by BatchNorm2d at prefix.1, folded into one Conv. */
    private String convBn(String x, String prefix, int in, int out, int kernel, int stride, int groups) {
        float[] w = weight(prefix + ".0.weight", out, in / groups, kernel, kernel);
        float[] gamma = weight(prefix + ".1.weight", out);
        float[] beta = weight(prefix + ".1.bias", out);
        float[] mean = weight(prefix + ".1.running_mean", out);
        float[] var = weight(prefix + ".1.running_var", out);
        int perOut = w.length / out;
        float[] bias = new float[out];
        // BatchNorm (eval): y = (x - mean) / sqrt(var + eps) * gamma + beta, folded into W and b.
        for (int o = 0; o < out; o++) {
            double scale = gamma[o] / Math.sqrt((double) var[o] + config.batchNormEps());
            for (int k = 0; k < perOut; k++) {
                w[o * perOut + k] = (float) (w[o * perOut + k] * scale);
            }
            bias[o] = (float) (beta[o] - mean[o] * scale);
        }
        return conv(x, prefix, w, bias, new long[] {out, in / groups, kernel, kernel}, kernel, stride, groups);
    }

    private String conv(String x, String prefix, float[] w, float[] b, long[] shape, int kernel, int stride, int groups) {
        String wName = prefix + ".weight", bName = prefix + ".bias";
        graph.initializer(wName, shape, w);
        graph.initializer(bName, new long[] {shape[0]}, b);
        int pad = (kernel - 1) / 2;
        String y = next("conv");
        graph.node("Conv", List.of(x, wName, bName), List.of(y),
                Attr.ints("kernel_shape", kernel, kernel), Attr.ints("strides", stride, stride),
                Attr.ints("pads", pad, pad, pad, pad), Attr.ints("dilations", 1, 1), Attr.i("group", groups));
        return y;
    }

    private String linear(String x, String prefix, long in, long out) {
        return linearInto(x, prefix, in, out, next("gemm"));
    }

    // torch.nn.Linear: y = x W^T + b, which is Gemm with transB = 1.
    private String linearInto(String x, String prefix, long in, long out, String y) {
        String wName = prefix + ".weight", bName = prefix + ".bias";
        graph.initializer(wName, new long[] {out, in}, weight(wName, out, in));
        graph.initializer(bName, new long[] {out}, weight(bName, out));
        graph.node("Gemm", List.of(x, wName, bName), List.of(y), Attr.i("transB", 1));
        return y;
    }

    private String activation(String x, Activation act) {
        if (act == Activation.RELU) {
            String y = next("relu");
            graph.node("Relu", List.of(x), List.of(y));
            return y;
        }
        return hardswish(x, next("hswish"));
    }

    // torchvision Hardswish: x * relu6(x + 3) / 6 = x * HardSigmoid(x).
    private String hardswish(String x, String y) {
        String gate = next("hsig");
        graph.node("HardSigmoid", List.of(x), List.of(gate),
                Attr.f("alpha", HARD_SIGMOID_ALPHA), Attr.f("beta", HARD_SIGMOID_BETA));
        graph.node("Mul", List.of(x, gate), List.of(y));
        return y;
    }

    private String next(String kind) {
        return kind + "_" + valueCount++;
    }

    private long[] shapeOf(String name) {
        TensorView t = weights.get(name);
        if (t == null) {
            throw new FormatException("MobileNetV3 export: weight " + name + " is missing");
        }
        return t.shape();
    }

    /** The weight as floats after checking its shape; F32, F16 and BF16 are read. */
    private float[] weight(String name, long... expected) {
        long[] shape = shapeOf(name);
        if (!Arrays.equals(shape, expected)) {
            throw new FormatException("MobileNetV3 export: weight " + name + " has shape " + Arrays.toString(shape)
                    + ", the " + config.name() + " table needs " + Arrays.toString(expected));
        }
        return floats(name, weights.get(name));
    }

    static float[] floats(String name, TensorView t) {
        if (t.dtype() == DType.F32) {
            return t.toFloatArray();
        }
        if (!t.isContiguous()) {
            throw new FormatException("MobileNetV3 export: weight " + name + " is not contiguous");
        }
        float[] out = new float[Math.toIntExact(t.numel())];
        for (int i = 0; i < out.length; i++) {
            short bits = t.data().getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i);
            out[i] = switch (t.dtype()) {
                case F16 -> Float.float16ToFloat(bits);
                case BF16 -> Float.intBitsToFloat((bits & 0xFFFF) << 16);
                default -> throw new FormatException("MobileNetV3 export: weight " + name + " is " + t.dtype()
                        + "; F32, F16 or BF16 expected");
            };
        }
        return out;
    }
}
