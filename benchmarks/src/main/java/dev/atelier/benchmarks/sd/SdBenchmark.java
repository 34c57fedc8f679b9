package dev.atelier.benchmarks.sd;

import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.NativeLibrary;
import dev.atelier.engine.core.Settings;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.sd.StableDiffusionWeights;
import dev.atelier.engine.sd.TextEncoder;
import dev.atelier.engine.sd.OpKernel;
import dev.atelier.engine.sd.PeakFlops;
import dev.atelier.engine.sd.Profile;
import dev.atelier.engine.sd.Sampling;
import dev.atelier.engine.sd.TextEncoderParams;
import dev.atelier.engine.sd.UNet;
import dev.atelier.engine.sd.UNetParams;
import dev.atelier.engine.sd.Vae;
import dev.atelier.engine.sd.VaeParams;
import dev.atelier.engine.names.ModelLayout;
import dev.atelier.engine.train.LoraModule;
import dev.atelier.engine.train.LoraTargets;
import dev.atelier.engine.train.LoraTrainer;
import dev.atelier.engine.sd.LdmConfig;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static dev.atelier.benchmarks.sd.SdMeasure.checkFinite;
import static dev.atelier.benchmarks.sd.SdMeasure.median;
import static dev.atelier.benchmarks.sd.SdMeasure.memory;
import static dev.atelier.benchmarks.sd.SdMeasure.report;
import static dev.atelier.benchmarks.sd.SdMeasure.seconds;

/**
 * Atelier's side of benchmarks/sd/compare.sh: SD1.5 UNet seconds per step (batch 2, as with
 * classifier-free guidance), VAE decode seconds, or an end-to-end proxy (text encode, N UNet steps,
 * VAE decode), with load time and memory. Prints {@code atelier ...} lines of key=value, the same
 * keys as baseline.py.
 *
 * <pre>
 *   java -Datelier.threads=N ... SdBenchmark MODEL unet [--size 512] [--dtype fp32|bf16] [--steps 3]
 *   java -Datelier.threads=N ... SdBenchmark MODEL e2e  [--size 512] [--dtype fp32|bf16] [--steps 20]
 *   java -Datelier.threads=N ... SdBenchmark MODEL vae  [--size 512] [--dtype fp32|bf16] [--steps 3]
 *   java -Datelier.threads=N ... SdBenchmark MODEL text [--dtype fp32|bf16] [--steps 3]
 *   java -Datelier.threads=N ... SdBenchmark MODEL train [--size 512] [--dtype fp32|bf16] [--steps 3] [--rank 4]
 *       [--unfused]  (the adapted Linears on libtorch ops instead of Atelier's fused kernels)
 *   any mode: [--heads 8] [--text-heads 12]  (attention heads of the UNet and the text model, as
 *       baseline.py takes them; SD1.x's by default, the sd15-tiny fixture has 4 and 2)
 * </pre>
 *
 * {@code vae}: VAE decodes of one [1, 4, size/8, size/8] latent, one warm-up then N timed ({@code
 * decode_s}, the median), as baseline.py's vae mode.
 *
 * {@code text}: text encodings of a batch of two 77-token prompts (a prompt and its negative, as
 * one generation encodes them), one warm-up then N timed ({@code encode_s}, the median).
 *
 * {@code train}: batch-1 LoRA steps on kohya's default UNet targets (every Linear and
 * 1x1 conv in the transformer blocks, alpha = rank), one {@code LoraTrainer.accumulate} (noise,
 * forward, eps MSE, backward) and one AdamW {@code update} per step, as baseline.py's train mode.
 *
 * Memory comes from /proc/self/status: VmRSS split into RssFile (pages of the mapped checkpoint,
 * shared with the page cache) and RssAnon (private memory: converted weights, activations,
 * the JVM), and VmHWM, the peak RSS.
 */
public final class SdBenchmark {
    private static final String ENGINE = "atelier";
    // --profile: the last timed run (UNet step, VAE decode, or the whole end-to-end run) is
    // recorded and its table printed, with the share of the GEMM's peak measured first.
    private static boolean profile;
    private static double peakGflops;

    private SdBenchmark() {}

    public static void main(String[] args) throws IOException {
        if (args.length < 2) {
            System.err.println("usage: SdBenchmark MODEL unet|vae|text|e2e|train [--size 512] [--dtype fp32|bf16] [--steps N]"
                    + " [--rank R] [--heads 8] [--text-heads 12] [--kernels auto|avx512|torch|reference] [--profile]");
            System.exit(2);
        }
        Path model = Path.of(args[0]);
        String mode = args[1];
        int size = 512;
        String dtype = "fp32";
        int steps = -1;
        int rank = 4;
        boolean fused = true;
        int heads = 8;
        int textHeads = 12;
        OpKernel kernels = OpKernel.AUTO;
        for (int i = 2; i < args.length; i++) {
            switch (args[i]) {
                case "--size" -> size = Integer.parseInt(args[++i]);
                case "--heads" -> heads = Integer.parseInt(args[++i]);
                case "--text-heads" -> textHeads = Integer.parseInt(args[++i]);
                case "--dtype" -> dtype = args[++i];
                case "--steps" -> steps = Integer.parseInt(args[++i]);
                case "--rank" -> rank = Integer.parseInt(args[++i]);
                case "--unfused" -> fused = false;
                case "--kernels" -> kernels = OpKernel.fromName(args[++i]);
                case "--profile" -> profile = true;
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (!List.of("unet", "vae", "text", "e2e", "train").contains(mode)) {
            throw new IllegalArgumentException("unknown mode " + mode + " (unet, vae, text, e2e, train)");
        }
        DType compute = dtype.equals("bf16") ? DType.BF16 : DType.F32;
        NativeLibrary.load();
        int threads = Settings.fromSystemProperties().threads();
        boolean e2e = mode.equals("e2e");
        boolean withUnet = !mode.equals("vae") && !mode.equals("text");
        boolean withText = e2e || mode.equals("text");
        boolean withVae = e2e || mode.equals("vae");

        if (profile) {
            peakGflops = PeakFlops.measure(compute, 1.0).gflops();
        }
        long t0 = System.nanoTime();
        try (StableDiffusionWeights w = StableDiffusionWeights.open(model);
                UNet unet = withUnet ? UNet.create(w.unet(),
                        UNetParams.defaults().withComputeDtype(compute).withHeads(heads, -1).withKernels(kernels)) : null;
                TextEncoder text = withText ? TextEncoder.create(w.textEncoder(),
                        TextEncoderParams.defaults().withComputeDtype(compute).withNumHeads(textHeads)
                                .withKernels(kernels)) : null;
                Vae vae = withVae ? Vae.create(w.vae(), VaeParams.defaults().withComputeDtype(compute)
                        .withKernels(kernels)) : null;
                Arena arena = Arena.ofConfined()) {
            if (compute != DType.F32) {
                w.dropResidentPages(); // as Pipeline.load does: the networks hold converted copies
            }
            double loadS = seconds(t0);
            Map<String, Double> m = memory();
            report(ENGINE, "load", "mode", mode, "dtype", dtype, "kernels", kernels.nativeName(), "threads", threads,
                    "load_s", loadS, "file_mib",
                    Files.size(model) / 1048576.0, "rss_mib", m.get("VmRSS"), "rss_file_mib", m.get("RssFile"),
                    "rss_anon_mib", m.get("RssAnon"));
            SplittableRandom random = new SplittableRandom(0);
            switch (mode) {
                case "train" -> trainSteps(w, unet, arena, random, size, dtype, threads, steps > 0 ? steps : 3, rank,
                        fused);
                case "unet" -> unetSteps(unet, arena, random, size, dtype, threads, steps > 0 ? steps : 3);
                case "vae" -> vaeDecodes(vae, arena, random, size, dtype, threads, steps > 0 ? steps : 3);
                case "text" -> textEncodings(text, arena, random, dtype, threads, steps > 0 ? steps : 3);
                default -> endToEnd(unet, text, vae, arena, random, size, dtype, threads, steps > 0 ? steps : 20);
            }
        }
    }

    /** Stops the recording (if any) and prints its table; the peak was measured before the networks ran. */
    private static void printProfile(Profile recording, String what) {
        if (recording == null) {
            return;
        }
        try (recording) {
            recording.stop();
            System.out.println("profile of " + what + " (peak " + String.format("%.1f", peakGflops) + " GFLOP/s):");
            System.out.print(Profile.table(recording.entries(), peakGflops));
        }
    }

    private static void unetSteps(UNet unet, Arena arena, SplittableRandom random, int size, String dtype, int threads,
            int n) throws IOException {
        int lat = size / 8;
        TensorView x = gaussian(arena, random, 2, 4, lat, lat);
        TensorView t = TensorView.ofFloats(arena, new float[] {500f, 500f}, 2);
        TensorView ctx = gaussian(arena, random, 2, SdMeasure.CONTEXT_LENGTH, unet.config().contextDim());
        double[] times = timedRuns(n, "unet size=" + size + " dtype=" + dtype,
                step -> checkFinite(unet.forward(x, t, ctx, step).toFloatArray()), () -> {
                    Map<String, Double> after = memory();
                    report(ENGINE, "mem_after_first_step", "size", size, "dtype", dtype, "rss_mib",
                            after.get("VmRSS"), "rss_file_mib", after.get("RssFile"), "rss_anon_mib",
                            after.get("RssAnon"));
                });
        report(ENGINE, "unet", "size", size, "dtype", dtype, "batch", 2, "threads", threads, "first_s", times[0],
                "step_s", times[1], "min_s", times[2], "steps", n, "peak_rss_mib", memory().get("VmHWM"));
    }

    private static void vaeDecodes(Vae vae, Arena arena, SplittableRandom random, int size, String dtype, int threads,
            int n) throws IOException {
        int lat = size / 8;
        TensorView latents = gaussian(arena, random, 1, 4, lat, lat);
        double[] times = timedRuns(n, "vae size=" + size + " dtype=" + dtype,
                step -> checkFinite(vae.decode(latents, Vae.SD1_SCALE_FACTOR, step).toFloatArray()), () -> {});
        report(ENGINE, "vae", "size", size, "dtype", dtype, "batch", 1, "threads", threads, "first_s", times[0],
                "decode_s", times[1], "min_s", times[2], "runs", n, "peak_rss_mib", memory().get("VmHWM"));
    }

    private static void textEncodings(TextEncoder text, Arena arena, SplittableRandom random, String dtype,
            int threads, int n) throws IOException {
        TensorView ids = TensorView.allocate(arena, DType.I64, 2, SdMeasure.CONTEXT_LENGTH);
        ids.data().copyFrom(MemorySegment.ofArray(SdMeasure.tokenIds(random)));
        double[] times = timedRuns(n, "text dtype=" + dtype,
                step -> checkFinite(text.forward(ids, 1, step).toFloatArray()), () -> {});
        report(ENGINE, "text", "dtype", dtype, "batch", 2, "threads", threads, "first_s", times[0], "encode_s",
                times[1], "min_s", times[2], "runs", n, "peak_rss_mib", memory().get("VmHWM"));
    }

    /** One run of a network, in an arena freed after it. */
    private interface TimedRun {
        void run(Arena step) throws IOException;
    }

    /** What to report once the warm-up has run. */
    private interface AfterWarmUp {
        void run() throws IOException;
    }

    /**
     * One untimed warm-up (it also packs weights and builds oneDNN primitives), {@code afterFirst}, then
     * N timed runs; the last is profiled under --profile. Returns {first, median, min} in seconds.
     */
    private static double[] timedRuns(int n, String what, TimedRun run, AfterWarmUp afterFirst) throws IOException {
        double[] times = new double[n + 1];
        for (int i = 0; i <= n; i++) {
            Profile recording = profile && i == n ? Profile.start() : null;
            long s = System.nanoTime();
            try (Arena step = Arena.ofConfined()) {
                run.run(step);
            }
            times[i] = seconds(s);
            printProfile(recording, what);
            if (i == 0) {
                afterFirst.run();
            }
        }
        double[] timed = Arrays.copyOfRange(times, 1, times.length);
        Arrays.sort(timed);
        return new double[] {times[0], median(timed), timed[0]};
    }

    /**
     * The end-to-end proxy, as baseline.py: text encode (cond + uncond), N UNet steps of batch 2 with
     * CFG and the proxy's Euler update ({@link SdMeasure#eulerUpdate}), VAE decode.
     */
    private static void endToEnd(UNet unet, TextEncoder text, Vae vae, Arena arena, SplittableRandom random, int size,
            String dtype, int threads, int n) throws IOException {
        int lat = size / 8;
        Profile recording = profile ? Profile.start() : null;
        TensorView idView = TensorView.allocate(arena, DType.I64, 2, SdMeasure.CONTEXT_LENGTH);
        idView.data().copyFrom(MemorySegment.ofArray(SdMeasure.tokenIds(random)));
        long s = System.nanoTime();
        TensorView ctx = text.forward(idView, 1, arena);
        double textS = seconds(s);
        Double peakAfterText = memory().get("VmHWM");
        float[] latents = SdMeasure.gaussian(random, 4L * lat * lat);
        s = System.nanoTime();
        for (int i = 0; i < n; i++) {
            float tt = SdMeasure.timestep(i, n);
            try (Arena step = Arena.ofConfined()) {
                float[] eps = unet.forward(TensorView.ofFloats(step, SdMeasure.cfgInput(latents, i, n), 2, 4, lat, lat),
                        TensorView.ofFloats(step, new float[] {tt, tt}, 2), ctx, step).toFloatArray();
                SdMeasure.eulerUpdate(latents, eps, i, n);
            }
        }
        double unetS = seconds(s);
        Map<String, Double> afterUnet = memory();
        s = System.nanoTime();
        float[] image = vae.decode(TensorView.ofFloats(arena, latents, 1, 4, lat, lat), Vae.SD1_SCALE_FACTOR, arena)
                .toFloatArray();
        double vaeS = seconds(s);
        checkFinite(image);
        printProfile(recording, "e2e size=" + size + " dtype=" + dtype + " steps=" + n);
        report(ENGINE, "e2e", "size", size, "dtype", dtype, "threads", threads, "steps", n, "text_s", textS, "unet_s",
                unetS, "vae_s", vaeS, "total_s", textS + unetS + vaeS, "peak_rss_mib", memory().get("VmHWM"),
                "peak_rss_after_text_mib", peakAfterText, "peak_rss_after_unet_mib", afterUnet.get("VmHWM"),
                "rss_before_vae_mib", afterUnet.get("VmRSS"));
    }

    private static void trainSteps(StableDiffusionWeights w, UNet unet, Arena arena, SplittableRandom random, int size,
            String dtype, int threads, int n, int rank, boolean fused) throws IOException {
        ModelLayout layout = ModelLayout.fromLdmNames(w.checkpoint().tensors().keySet());
        List<LoraModule> modules = LoraTargets.select(w.checkpoint().tensors(), layout, unet.config().transformerDepth(),
                0, rank, rank, 0, 0);
        int lat = size / 8;
        TensorView latents = gaussian(arena, random, 1, 4, lat, lat);
        TensorView ctx = gaussian(arena, random, 1, SdMeasure.CONTEXT_LENGTH, unet.config().contextDim());
        try (LoraTrainer trainer = LoraTrainer.create(unet, null, modules, Sampling.alphasCumprod(LdmConfig.sd15(), arena),
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
            report(ENGINE, "train", "size", size, "dtype", dtype, "batch", 1, "rank", rank, "modules", modules.size(),
                    "threads", threads, "first_s", times[0], "step_s", median(timed), "min_s", timed[0], "steps", n,
                    "peak_rss_mib", memory().get("VmHWM"));
        }
    }

    private static TensorView gaussian(Arena arena, SplittableRandom random, long... shape) {
        return TensorView.ofFloats(arena, SdMeasure.gaussian(random, TensorView.numel(shape)), shape);
    }
}
