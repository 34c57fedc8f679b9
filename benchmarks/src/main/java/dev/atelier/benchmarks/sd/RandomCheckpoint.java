package dev.atelier.benchmarks.sd;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.atelier.benchmarks.sd.Sd15Layout.Init;
import dev.atelier.benchmarks.sd.Sd15Layout.Spec;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.sd.StableDiffusionWeights;
import dev.atelier.engine.sd.TextEncoder;
import dev.atelier.engine.sd.TextEncoderParams;
import dev.atelier.engine.sd.UNet;
import dev.atelier.engine.sd.UNetParams;
import dev.atelier.engine.sd.Vae;
import dev.atelier.engine.sd.VaeParams;
import dev.atelier.engine.util.AtomicFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes a full-size SD1.5 single-file checkpoint (LDM layout, .safetensors) with random weights
 * from a fixed seed, for benchmarks: the same tensors and cost as a trained model, none of its data.
 *
 * <pre>
 *   RandomCheckpoint OUT.safetensors [--fp16] [--seed N] [--verify]
 *   RandomCheckpoint --verify FILE   (load an existing file and build the three networks)
 *   RandomCheckpoint --check-layout FIXTURE_MODEL.safetensors   (tiny layout vs the sd15-tiny fixture)
 *   RandomCheckpoint --layout-table OUT.tsv   (the SD1.5 layout as text, for drivers without a JVM)
 * </pre>
 *
 * The file is streamed: the header is computed from the layout first, then each tensor is drawn
 * and written in 8 MiB pieces, so the heap never holds more than one piece. Each tensor's values
 * come from its own generator seeded by (seed, name): the same seed gives the same bytes.
 * Weights: normal / sqrt(fan_in) (variance-preserving, so activations stay O(1) without
 * denormals or overflow); biases 0; norms weight 1, bias 0; embeddings normal * 0.02.
 */
public final class RandomCheckpoint {
    private static final int PIECE = 8 << 20;

    private RandomCheckpoint() {}

    public static void main(String[] args) throws IOException {
        if (args.length == 2 && args[0].equals("--check-layout")) {
            System.exit(checkLayout(Path.of(args[1])) ? 0 : 1);
        }
        if (args.length == 2 && args[0].equals("--layout-table")) {
            AtomicFiles.write(Path.of(args[1]), layoutTable(Sd15Layout.sd15()).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            return;
        }
        if (args.length == 2 && args[0].equals("--verify")) {
            verify(Path.of(args[1]));
            return;
        }
        if (args.length < 1 || args[0].startsWith("--")) {
            System.err.println("usage: RandomCheckpoint OUT.safetensors [--fp16] [--seed N] [--verify]\n"
                    + "       RandomCheckpoint --check-layout FIXTURE_MODEL.safetensors");
            System.exit(2);
        }
        Path out = Path.of(args[0]);
        boolean fp16 = false;
        boolean verify = false;
        long seed = 1234;
        for (int i = 1; i < args.length; i++) {
            switch (args[i]) {
                case "--fp16" -> fp16 = true;
                case "--verify" -> verify = true;
                case "--seed" -> seed = Long.parseLong(args[++i]);
                default -> {
                    System.err.println("unknown option " + args[i]);
                    System.exit(2);
                }
            }
        }
        Sd15Layout layout = Sd15Layout.sd15();
        System.out.printf("SD1.5 layout: %d tensors, %,d parameters%n", layout.tensors().size(),
                layout.parameterCount());
        long t0 = System.nanoTime();
        write(layout, out, fp16, seed);
        System.out.printf("wrote %s (%,d bytes, %s) in %.1f s%n", out, Files.size(out), fp16 ? "F16" : "F32",
                (System.nanoTime() - t0) / 1e9);
        if (verify) {
            verify(out);
        }
    }

    /**
     * The layout as text: one line per tensor, {@code NAME<TAB>INIT<TAB>D0,D1,...} (INIT as
     * {@link Init} names it), in file order. The native GPU benchmark driver draws its random
     * weights from this table (benchmarks/gpu/sd15_layout.tsv) where there is no JVM.
     */
    public static String layoutTable(Sd15Layout layout) {
        StringBuilder b = new StringBuilder();
        for (Spec s : layout.tensors()) {
            b.append(s.name()).append('\t').append(s.init().name()).append('\t');
            for (int i = 0; i < s.shape().length; i++) {
                b.append(i == 0 ? "" : ",").append(s.shape()[i]);
            }
            b.append('\n');
        }
        return b.toString();
    }

    /** Streams the checkpoint to out (atomically: a temporary file renamed at the end). */
    public static void write(Sd15Layout layout, Path out, boolean fp16, long seed) {
        List<Spec> specs = layout.tensors();
        byte[] header = header(specs, fp16, seed);
        AtomicFiles.write(out, channel -> {
            ByteBuffer buf = ByteBuffer.allocateDirect(PIECE).order(ByteOrder.LITTLE_ENDIAN);
            buf.putLong(header.length).put(header);
            for (Spec s : specs) {
                fill(channel, buf, s, dtype(s, fp16), seed);
            }
            flush(channel, buf);
        });
    }

    private static String dtype(Spec s, boolean fp16) {
        return switch (s.init()) {
            case ARANGE -> "I64";
            case ALPHAS_CUMPROD -> "F32"; // the schedule keeps full precision, as LDM computes it in float64 then stores
            default -> fp16 ? "F16" : "F32";
        };
    }

    private static int byteSize(String dtype) {
        return switch (dtype) {
            case "I64" -> 8;
            case "F16" -> 2;
            default -> 4;
        };
    }

    /** The safetensors header: JSON with data_offsets, padded with spaces to a multiple of 8. */
    private static byte[] header(List<Spec> specs, boolean fp16, long seed) {
        ObjectMapper json = new ObjectMapper();
        ObjectNode root = json.createObjectNode();
        ObjectNode meta = root.putObject("__metadata__");
        meta.put("format", "pt");
        meta.put("atelier.random_checkpoint", "SD1.5 layout, random weights, seed " + seed);
        long offset = 0;
        for (Spec s : specs) {
            String dtype = dtype(s, fp16);
            long bytes = s.numel() * byteSize(dtype);
            ObjectNode e = root.putObject(s.name());
            e.put("dtype", dtype);
            var shape = e.putArray("shape");
            for (long d : s.shape()) {
                shape.add(d);
            }
            var offsets = e.putArray("data_offsets");
            offsets.add(offset);
            offsets.add(offset + bytes);
            offset += bytes;
        }
        byte[] text;
        try {
            text = json.writeValueAsBytes(root);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        int padded = (text.length + 7) / 8 * 8;
        byte[] out = Arrays.copyOf(text, padded);
        Arrays.fill(out, text.length, padded, (byte) ' ');
        return out;
    }

    private static void fill(FileChannel channel, ByteBuffer buf, Spec s, String dtype, long seed) throws IOException {
        SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ s.name().hashCode());
        long n = s.numel();
        if (s.init() == Init.ALPHAS_CUMPROD) {
            // LDM make_beta_schedule("linear"): betas = linspace(sqrt(start), sqrt(end), T)^2, in float64
            double prod = 1;
            double a = Math.sqrt(Sd15Layout.LINEAR_START);
            double b = Math.sqrt(Sd15Layout.LINEAR_END);
            for (int i = 0; i < n; i++) {
                double root = a + (b - a) * i / (n - 1);
                prod *= 1 - root * root;
                ensure(channel, buf, 4);
                buf.putFloat((float) prod);
            }
            return;
        }
        double std = switch (s.init()) {
            case WEIGHT -> 1 / Math.sqrt(s.fanIn());
            case EMBEDDING -> 0.02;
            default -> 0;
        };
        for (long i = 0; i < n; i++) {
            double v = switch (s.init()) {
                case WEIGHT, EMBEDDING -> random.nextGaussian() * std;
                case ONE -> 1;
                case ARANGE -> i % s.shape()[s.shape().length - 1];
                default -> 0;
            };
            switch (dtype) {
                case "I64" -> {
                    ensure(channel, buf, 8);
                    buf.putLong((long) v);
                }
                case "F16" -> {
                    ensure(channel, buf, 2);
                    buf.putShort(Float.floatToFloat16((float) v));
                }
                default -> {
                    ensure(channel, buf, 4);
                    buf.putFloat((float) v);
                }
            }
        }
    }

    private static void ensure(FileChannel channel, ByteBuffer buf, int bytes) throws IOException {
        if (buf.remaining() < bytes) {
            flush(channel, buf);
        }
    }

    private static void flush(FileChannel channel, ByteBuffer buf) throws IOException {
        buf.flip();
        while (buf.hasRemaining()) {
            channel.write(buf);
        }
        buf.clear();
    }

    /** Opens the file as a checkpoint and builds the three networks (SD1.5 defaults, shapes inferred). */
    static void verify(Path file) {
        long t0 = System.nanoTime();
        try (StableDiffusionWeights w = StableDiffusionWeights.open(file);
                UNet unet = UNet.create(w.unet(), UNetParams.defaults());
                TextEncoder text = TextEncoder.create(w.textEncoder(), TextEncoderParams.defaults());
                Vae vae = Vae.create(w.vae(), VaeParams.defaults())) {
            System.out.printf("verify: loaded in %.2f s%n  %s%n  %s%n  %s%n  alphas_cumprod %s%n",
                    (System.nanoTime() - t0) / 1e9, unet.config(), text.config(), vae.config(),
                    w.alphasCumprod().map(TensorView::toString).orElse("missing"));
        }
    }

    /** Compares the tiny layout's names and shapes with the sd15-tiny fixture's model file. */
    static boolean checkLayout(Path fixture) {
        Map<String, long[]> expected = new LinkedHashMap<>();
        for (Spec s : Sd15Layout.fixtureTiny().tensors()) {
            expected.put(s.name(), s.shape());
        }
        List<String> problems = new ArrayList<>();
        try (SafeTensorsFile f = SafeTensorsFile.open(fixture)) {
            for (String name : f.tensors().keySet()) {
                long[] want = expected.remove(name);
                long[] got = f.view(name).shape();
                if (want == null) {
                    problems.add("not in layout: " + name + " " + Arrays.toString(got));
                } else if (!Arrays.equals(want, got)) {
                    problems.add("shape of " + name + ": layout " + Arrays.toString(want) + ", file "
                            + Arrays.toString(got));
                }
            }
        }
        expected.forEach((name, shape) -> problems.add("not in file: " + name + " " + Arrays.toString(shape)));
        problems.forEach(System.out::println);
        System.out.println(problems.isEmpty() ? "layout matches " + fixture : problems.size() + " differences");
        return problems.isEmpty();
    }
}
