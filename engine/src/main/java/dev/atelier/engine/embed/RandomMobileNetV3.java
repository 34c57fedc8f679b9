package dev.atelier.engine.embed;

import dev.atelier.engine.util.SplitMix64;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.onnx.MobileNetV3Config;
import dev.atelier.engine.safetensors.SafeTensorsWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * MobileNetV3 weights that need no download: a state dict with the tensor names, shapes and
 * dtypes of torchvision's {@code mobilenet_v3_large().state_dict()}, drawn from a seed with
 * torchvision's own initialisation (models/mobilenetv3.py, MobileNetV3.__init__): every Conv2d
 * weight kaiming_normal_(mode="fan_out"), i.e. N(0, 2 / fan_out) with fan_out = out channels *
 * kernel area, and zero bias; BatchNorm weight 1, bias 0, running_mean 0, running_var 1,
 * num_batches_tracked 0 (I64 scalar); Linear weight N(0, 0.01^2) and zero bias.
 *
 * <p>For demos and tests: the features mean nothing, but every backend computes them as it would
 * for trained weights. The same seed gives the same file, byte for byte, on any machine: the
 * Gaussians come from a fully specified generator, one stream per tensor (seeded by the seed and
 * the tensor's name), not from {@link java.util.Random}'s or torch's.
 */
public final class RandomMobileNetV3 {
    /** ImageNet-1k, the class count of torchvision's weights. */
    public static final int IMAGENET_CLASSES = 1000;

    private RandomMobileNetV3() {}

    /** Writes MobileNetV3-Large with 1000 classes to target (safetensors), atomically. */
    public static void write(Path target, long seed) {
        write(target, seed, MobileNetV3Config.LARGE, IMAGENET_CLASSES);
    }

    /** Writes the network of config with numClasses outputs to target (safetensors), atomically. */
    public static void write(Path target, long seed, MobileNetV3Config config, int numClasses) {
        if (numClasses < 1) {
            throw new InvalidInputException("numClasses must be >= 1, got " + numClasses);
        }
        try (Arena arena = Arena.ofConfined()) {
            Tensors t = new Tensors(arena, seed);
            // torchvision's state_dict order: features.0 (stem), features.1..n (bnecks), the last
            // conv, then the classifier (Linear, Hardswish, Dropout, Linear: indices 0 and 3).
            t.convBn("features.0", config.stemChannels(), 3, 3, 3); // 3x3 stride-2 conv on RGB
            int index = 1;
            for (MobileNetV3Config.Block b : config.blocks()) {
                String p = "features." + index++ + ".block.";
                int layer = 0;
                if (b.expanded() != b.in()) {
                    t.convBn(p + layer++, b.expanded(), b.in(), 1, 1);
                }
                t.convBn(p + layer++, b.expanded(), 1, b.kernel(), b.kernel()); // depthwise: groups = channels
                if (b.se()) {
                    // torchvision.ops.SqueezeExcitation: fc1, fc2 are 1x1 Conv2d with bias.
                    String se = p + layer++;
                    int squeeze = b.squeezeChannels();
                    t.conv(se + ".fc1", squeeze, b.expanded(), 1, 1, true);
                    t.conv(se + ".fc2", b.expanded(), squeeze, 1, 1, true);
                }
                t.convBn(p + layer, b.out(), b.expanded(), 1, 1);
            }
            int lastIn = config.blocks().getLast().out();
            t.convBn("features." + index, config.lastChannels(), lastIn, 1, 1);
            t.linear("classifier.0", config.hiddenChannels(), config.lastChannels());
            t.linear("classifier.3", numClasses, config.hiddenChannels());
            t.writer.metadata("format", "pt")
                    .metadata("atelier.init", "torchvision MobileNetV3 init (kaiming_normal_ fan_out, BN 1/0, Linear N(0, 0.01))")
                    .metadata("atelier.seed", Long.toString(seed))
                    .write(target);
        }
    }

    /** The tensors being made, in order, and the seed they are drawn from. */
    private static final class Tensors {
        final SafeTensorsWriter writer = new SafeTensorsWriter();
        final Arena arena;
        final long seed;

        Tensors(Arena arena, long seed) {
            this.arena = arena;
            this.seed = seed;
        }

        /** Conv2d (no bias) + BatchNorm2d, as torchvision's Conv2dNormActivation: {@code name.0}, {@code name.1}. */
        void convBn(String name, int out, int inPerGroup, int kh, int kw) {
            conv(name + ".0", out, inPerGroup, kh, kw, false);
            String bn = name + ".1";
            add(bn + ".weight", constant(out, 1f));
            add(bn + ".bias", constant(out, 0f));
            add(bn + ".running_mean", constant(out, 0f));
            add(bn + ".running_var", constant(out, 1f));
            add(bn + ".num_batches_tracked", TensorView.allocate(arena, DType.I64)); // scalar 0
        }

        void conv(String name, int out, int inPerGroup, int kh, int kw, boolean bias) {
            // torch.nn.init.kaiming_normal_(mode="fan_out", nonlinearity="leaky_relu", a=0):
            // std = sqrt(2) / sqrt(fan_out), fan_out = weight.size(0) * kh * kw.
            double std = Math.sqrt(2.0 / ((long) out * kh * kw));
            add(name + ".weight", normal(name + ".weight", std, out, inPerGroup, kh, kw));
            if (bias) {
                add(name + ".bias", constant(out, 0f));
            }
        }

        void linear(String name, int out, int in) {
            add(name + ".weight", normal(name + ".weight", 0.01, out, in)); // nn.init.normal_(w, 0, 0.01)
            add(name + ".bias", constant(out, 0f));
        }

        void add(String name, TensorView v) {
            writer.add(name, v);
        }

        TensorView constant(int n, float value) {
            TensorView v = TensorView.allocate(arena, DType.F32, n);
            if (value != 0f) { // allocate gives zeroes
                for (long i = 0; i < n; i++) {
                    v.data().setAtIndex(ValueLayout.JAVA_FLOAT, i, value);
                }
            }
            return v;
        }

        TensorView normal(String name, double std, long... shape) {
            TensorView v = TensorView.allocate(arena, DType.F32, shape);
            MemorySegment data = v.data();
            Gaussian g = new Gaussian(SplitMix64.mix(seed ^ SplitMix64.mix(fnv1a(name))));
            long n = v.numel();
            for (long i = 0; i < n; i++) {
                data.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (std * g.next()));
            }
            return v;
        }
    }

    /** 64-bit FNV-1a of the UTF-8 bytes (Fowler, Noll, Vo): a stable per-name stream id. */
    private static long fnv1a(String s) {
        long h = 0xcbf29ce484222325L;
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            h = (h ^ (b & 0xff)) * 0x100000001b3L;
        }
        return h;
    }

    /** Standard normal deviates by the Box-Muller transform (Box, Muller 1958), both outputs used. */
    private static final class Gaussian {
        private final SplitMix64 bits;
        private double spare;
        private boolean hasSpare;

        Gaussian(long seed) {
            bits = new SplitMix64(seed);
        }

        double next() {
            if (hasSpare) {
                hasSpare = false;
                return spare;
            }
            double u1 = ((bits.next() >>> 11) + 1) * 0x1.0p-53; // (0, 1]: log(u1) is finite
            double u2 = (bits.next() >>> 11) * 0x1.0p-53;       // [0, 1)
            // StrictMath: the same bits on every JVM and CPU (Math may use intrinsics).
            double r = StrictMath.sqrt(-2.0 * StrictMath.log(u1));
            double theta = 2.0 * Math.PI * u2;
            spare = r * StrictMath.sin(theta);
            hasSpare = true;
            return r * StrictMath.cos(theta);
        }
    }
}
