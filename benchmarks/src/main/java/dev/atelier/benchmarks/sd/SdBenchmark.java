package dev.atelier.benchmarks.sd;

import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.NativeLibrary;
import dev.atelier.engine.core.Settings;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.sd.StableDiffusionWeights;
import dev.atelier.engine.sd.TextEncoder;
import dev.atelier.engine.sd.TextEncoderParams;
import dev.atelier.engine.sd.UNet;
import dev.atelier.engine.sd.UNetParams;
import dev.atelier.engine.sd.Vae;
import dev.atelier.engine.sd.VaeParams;
import dev.atelier.engine.names.ModelLayout;
import dev.atelier.engine.train.LoraModule;
import dev.atelier.engine.train.LoraTargets;
import dev.atelier.engine.train.LoraTrainer;
import dev.atelier.engine.train.LoraTraining;
import dev.atelier.engine.sd.LdmConfig;
import java.util.List;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Atelier's side of benchmarks/sd/compare.sh: SD1.5 UNet seconds per step (batch 2, as with
 * classifier-free guidance), or an end-to-end proxy (text encode, N UNet steps, VAE decode), with
 * load time and memory. Prints {@code atelier ...} lines of key=value, the same keys as baseline.py.
 *
 * <pre>
 *   java -Datelier.threads=N ... SdBenchmark MODEL unet [--size 512] [--dtype fp32|bf16] [--steps 3]
 *   java -Datelier.threads=N ... SdBenchmark MODEL e2e  [--size 512] [--dtype fp32|bf16] [--steps 20]
 *   java -Datelier.threads=N ... SdBenchmark MODEL train [--size 512] [--dtype fp32|bf16] [--steps 3] [--rank 4]
 *       [--unfused]  (the adapted Linears on libtorch ops instead of Atelier's fused kernels)
 * </pre>
 *
 * {@code train}: batch-1 LoRA steps (issue 4) on kohya's default UNet targets (every Linear and
 * 1x1 conv in the transformer blocks, alpha = rank), one {@code LoraTrainer.accumulate} (noise,
 * forward, eps MSE, backward) and one AdamW {@code update} per step, as baseline.py's train mode.
 *
 * Memory comes from /proc/self/status: VmRSS split into RssFile (pages of the mapped checkpoint,
 * shared with the page cache) and RssAnon (private memory: converted weights, activations,
 * the JVM), and VmHWM, the peak RSS.
 */
public final class SdBenchmark {
    private SdBenchmark() {}

    public static void main(String[] args) throws IOException {
        if (args.length < 2) {
            System.err.println("usage: SdBenchmark MODEL unet|e2e|train [--size 512] [--dtype fp32|bf16] [--steps N] [--rank R]");
            System.exit(2);
        }
        Path model = Path.of(args[0]);
        String mode = args[1];
        int size = 512;
        String dtype = "fp32";
        int steps = -1;
        int rank = 4;
        boolean fused = true;
        for (int i = 2; i < args.length; i++) {
            switch (args[i]) {
                case "--size" -> size = Integer.parseInt(args[++i]);
                case "--dtype" -> dtype = args[++i];
                case "--steps" -> steps = Integer.parseInt(args[++i]);
                case "--rank" -> rank = Integer.parseInt(args[++i]);
                case "--unfused" -> fused = false;
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        DType compute = dtype.equals("bf16") ? DType.BF16 : DType.F32;
        NativeLibrary.load();
        int threads = Settings.fromSystemProperties().threads();
        boolean e2e = mode.equals("e2e");

        long t0 = System.nanoTime();
        try (StableDiffusionWeights w = StableDiffusionWeights.open(model);
                UNet unet = UNet.create(w.unet(), UNetParams.defaults().withComputeDtype(compute));
                TextEncoder text = e2e ? TextEncoder.create(w.textEncoder(),
                        TextEncoderParams.defaults().withComputeDtype(compute)) : null;
                Vae vae = e2e ? Vae.create(w.vae(), VaeParams.defaults().withComputeDtype(compute)) : null;
                Arena arena = Arena.ofConfined()) {
            if (compute != DType.F32) {
                w.dropResidentPages(); // as Pipeline.load does: the networks hold converted copies
            }
            double loadS = seconds(t0);
            Map<String, Double> m = memory();
            report("load", "mode", mode, "dtype", dtype, "threads", threads, "load_s", loadS, "file_mib",
                    Files.size(model) / 1048576.0, "rss_mib", m.get("VmRSS"), "rss_file_mib", m.get("RssFile"),
                    "rss_anon_mib", m.get("RssAnon"));
            int lat = size / 8;
            int ctxDim = unet.config().contextDim();
            SplittableRandom random = new SplittableRandom(0);
            if (mode.equals("train")) {
                trainSteps(w, unet, arena, random, size, dtype, threads, steps > 0 ? steps : 3, rank, fused);
                return;
            }
            if (!e2e) {
                int n = steps > 0 ? steps : 3;
                TensorView x = gaussian(arena, random, 2, 4, lat, lat);
                TensorView t = TensorView.ofFloats(arena, new float[] {500f, 500f}, 2);
                TensorView ctx = gaussian(arena, random, 2, 77, ctxDim);
                double[] times = new double[n + 1];
                TensorView eps = null;
                for (int i = 0; i <= n; i++) { // the first call also builds oneDNN primitives: not counted
                    long s = System.nanoTime();
                    try (Arena step = Arena.ofConfined()) {
                        eps = unet.forward(x, t, ctx, step);
                        checkFinite(eps.toFloatArray());
                    }
                    times[i] = seconds(s);
                    if (i == 0) {
                        Map<String, Double> after = memory();
                        report("mem_after_first_step", "size", size, "dtype", dtype, "rss_mib", after.get("VmRSS"),
                                "rss_file_mib", after.get("RssFile"), "rss_anon_mib", after.get("RssAnon"));
                    }
                }
                double[] timed = Arrays.copyOfRange(times, 1, times.length);
                Arrays.sort(timed);
                report("unet", "size", size, "dtype", dtype, "batch", 2, "threads", threads, "first_s", times[0],
                        "step_s", median(timed), "min_s", timed[0], "steps", n, "peak_rss_mib",
                        memory().get("VmHWM"));
                return;
            }
            // e2e proxy, as baseline.py: text encode (cond + uncond), N UNet steps of batch 2 with CFG
            // and an Euler update on a fixed descending sigma ramp (the cost is the networks'), VAE decode
            int n = steps > 0 ? steps : 20;
            long[] ids = new long[2 * 77];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = random.nextInt(49406);
            }
            TensorView idView = TensorView.allocate(arena, DType.I64, 2, 77);
            idView.data().copyFrom(java.lang.foreign.MemorySegment.ofArray(ids));
            long s = System.nanoTime();
            TensorView ctx = text.forward(idView, 1, arena);
            double textS = seconds(s);
            int per = 4 * lat * lat;
            float[] latents = gaussian(arena, random, 1, 4, lat, lat).toFloatArray();
            s = System.nanoTime();
            for (int i = 0; i < n; i++) {
                double sigma = 14.6 + (0.03 - 14.6) * i / n;
                double next = i + 1 < n ? 14.6 + (0.03 - 14.6) * (i + 1) / n : 0;
                float[] in = new float[2 * per];
                float scale = (float) (1 / Math.sqrt(sigma * sigma + 1));
                for (int j = 0; j < per; j++) {
                    in[j] = latents[j] * scale;
                    in[per + j] = latents[j] * scale;
                }
                float tt = (float) (999.0 * (1 - (double) i / n));
                try (Arena step = Arena.ofConfined()) {
                    float[] eps = unet.forward(TensorView.ofFloats(step, in, 2, 4, lat, lat),
                            TensorView.ofFloats(step, new float[] {tt, tt}, 2), ctx, step).toFloatArray();
                    for (int j = 0; j < per; j++) {
                        float uncond = eps[j];
                        float cond = eps[per + j];
                        latents[j] += (float) ((uncond + 7.5f * (cond - uncond)) * (next - sigma));
                    }
                }
            }
            double unetS = seconds(s);
            s = System.nanoTime();
            float[] image = vae.decode(TensorView.ofFloats(arena, latents, 1, 4, lat, lat), Vae.SD1_SCALE_FACTOR, arena)
                    .toFloatArray();
            double vaeS = seconds(s);
            checkFinite(image);
            report("e2e", "size", size, "dtype", dtype, "threads", threads, "steps", n, "text_s", textS, "unet_s",
                    unetS, "vae_s", vaeS, "total_s", textS + unetS + vaeS, "peak_rss_mib", memory().get("VmHWM"));
        }
    }

    private static void trainSteps(StableDiffusionWeights w, UNet unet, Arena arena, SplittableRandom random, int size,
            String dtype, int threads, int n, int rank, boolean fused) throws IOException {
        ModelLayout layout = ModelLayout.fromLdmNames(w.checkpoint().tensors().keySet());
        List<LoraModule> modules = LoraTargets.select(w.checkpoint().tensors(), layout, unet.config().transformerDepth(),
                0, rank, rank, 0, 0);
        int lat = size / 8;
        TensorView latents = gaussian(arena, random, 1, 4, lat, lat);
        TensorView ctx = gaussian(arena, random, 1, 77, unet.config().contextDim());
        try (LoraTrainer trainer = LoraTrainer.create(unet, null, modules, LoraTraining.alphasCumprod(LdmConfig.sd15()),
                LoraTrainer.StepOptions.defaults(0).withFusedKernels(fused))) {
            double[] times = new double[n + 1];
            for (int i = 0; i <= n; i++) { // the first step also builds oneDNN primitives: not counted
                long s = System.nanoTime();
                float loss = trainer.accumulate(latents, ctx, null, i, 1f);
                trainer.update(i + 1, 1e-4f, 0f);
                times[i] = seconds(s);
                if (!Float.isFinite(loss)) {
                    throw new IllegalStateException("non-finite loss");
                }
            }
            double[] timed = Arrays.copyOfRange(times, 1, times.length);
            Arrays.sort(timed);
            report("train", "size", size, "dtype", dtype, "batch", 1, "rank", rank, "modules", modules.size(), "threads",
                    threads, "first_s", times[0], "step_s", median(timed), "min_s", timed[0], "steps", n,
                    "peak_rss_mib", memory().get("VmHWM"));
        }
    }

    private static TensorView gaussian(Arena arena, SplittableRandom random, long... shape) {
        float[] v = new float[(int) TensorView.numel(shape)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) random.nextGaussian();
        }
        return TensorView.ofFloats(arena, v, shape);
    }

    private static void checkFinite(float[] v) {
        for (float f : v) {
            if (!Float.isFinite(f)) {
                throw new IllegalStateException("non-finite output");
            }
        }
    }

    private static double median(double[] sorted) {
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    private static double seconds(long start) {
        return (System.nanoTime() - start) / 1e9;
    }

    /** MiB from /proc/self/status: VmRSS, RssFile, RssAnon, VmHWM. */
    static Map<String, Double> memory() throws IOException {
        Map<String, Double> out = new LinkedHashMap<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            int colon = line.indexOf(':');
            if (colon > 0) {
                String key = line.substring(0, colon);
                if (key.equals("VmRSS") || key.equals("RssFile") || key.equals("RssAnon") || key.equals("VmHWM")) {
                    out.put(key, Long.parseLong(line.substring(colon + 1).trim().split("\\s+")[0]) / 1024.0);
                }
            }
        }
        return out;
    }

    private static void report(String kind, Object... kv) {
        StringBuilder b = new StringBuilder("atelier ").append(kind);
        for (int i = 0; i < kv.length; i += 2) {
            Object v = kv[i + 1];
            b.append(' ').append(kv[i]).append('=')
                    .append(v instanceof Double d ? String.format(java.util.Locale.ROOT, "%.3f", d) : v);
        }
        System.out.println(b);
    }
}
