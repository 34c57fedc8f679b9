package dev.atelier.benchmarks.sd;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.atelier.engine.core.Settings;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static dev.atelier.benchmarks.sd.SdMeasure.checkFinite;
import static dev.atelier.benchmarks.sd.SdMeasure.median;
import static dev.atelier.benchmarks.sd.SdMeasure.memory;
import static dev.atelier.benchmarks.sd.SdMeasure.report;
import static dev.atelier.benchmarks.sd.SdMeasure.seconds;

/**
 * ONNX Runtime's side of benchmarks/sd/compare.sh: the networks of baseline.py exported by
 * benchmarks/sd/export_onnx.py (F32, fixed shapes) run through ONNX Runtime's Java API on the CPU,
 * intra-op threads = {@code atelier.threads} (0: all cores), one inter-op thread, sequential
 * execution, all graph optimisations. Prints {@code onnx ...} lines with the keys of
 * {@link SdBenchmark}'s {@code atelier ...} lines, on the same inputs (same seed, same draws).
 *
 * <pre>
 *   java -Datelier.threads=N ... OnnxSdBenchmark ONNX_DIR unet [--size 512] [--steps 3]
 *   java -Datelier.threads=N ... OnnxSdBenchmark ONNX_DIR vae  [--size 512] [--steps 3]
 *   java -Datelier.threads=N ... OnnxSdBenchmark ONNX_DIR e2e  [--size 512] [--steps 20]
 *   java ... OnnxSdBenchmark ONNX_DIR parity --cases CASES.safetensors
 * </pre>
 *
 * {@code parity} checks an export of the sd15-tiny fixture's model (size 64) against the reference
 * outputs of its cases.safetensors, as baseline.py's parity mode checks the PyTorch networks:
 * {@code onnx parity net=... max_abs_err=... max_ref=...}.
 *
 * ONNX_DIR is export_onnx.py's output folder: {@code unet-SIZE-b2/}, {@code vae_decoder-SIZE/},
 * {@code text_encoder/}, each holding NAME.onnx (and, for the full-size UNet, its external data).
 * {@code --dtype} accepts fp32 only: the export is F32.
 *
 * {@code unet} and {@code vae} time N runs after two warm-up runs (the other engines take one):
 * ONNX Runtime's second UNet run at 512 was about 60% slower than the ones after it, so it would
 * skew a median of 2 ({@code second_s} reports it). {@code e2e} has no warm-up, as on the other
 * engines. ONNX Runtime's default of spinning pool threads is kept (OpenMP's pool threads in
 * Atelier and PyTorch also spin before they sleep). {@code load_s} is the session creation:
 * reading the model and optimising the graph.
 */
public final class OnnxSdBenchmark {
    private static final String ENGINE = "onnx";
    private static final int BATCH = 2;
    private static final int WARMUPS = 2;

    private OnnxSdBenchmark() {}

    public static void main(String[] args) throws IOException, OrtException {
        if (args.length < 2) {
            System.err.println("usage: OnnxSdBenchmark ONNX_DIR unet|vae|e2e [--size 512] [--steps N] [--dtype fp32]\n"
                    + "       OnnxSdBenchmark ONNX_DIR parity --cases CASES.safetensors");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        String mode = args[1];
        int size = 512;
        int steps = -1;
        Path cases = null;
        for (int i = 2; i < args.length; i++) {
            switch (args[i]) {
                case "--size" -> size = Integer.parseInt(args[++i]);
                case "--cases" -> cases = Path.of(args[++i]);
                case "--steps" -> steps = Integer.parseInt(args[++i]);
                case "--dtype" -> {
                    if (!args[++i].equals("fp32")) {
                        throw new IllegalArgumentException("the ONNX export is F32: --dtype fp32 only, got " + args[i]);
                    }
                }
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (mode.equals("parity")) {
            if (cases == null) {
                throw new IllegalArgumentException("parity needs --cases CASES.safetensors");
            }
            parity(dir, cases).forEach((net, err) -> report(ENGINE, "parity", "net", net, "max_abs_err",
                    String.format(java.util.Locale.ROOT, "%.2e", err[0]), "max_ref", err[1]));
            return;
        }
        int configured = Settings.fromSystemProperties().threads();
        int threads = configured > 0 ? configured : Runtime.getRuntime().availableProcessors();
        List<String> nets = switch (mode) {
            case "unet" -> List.of(unetName(size));
            case "vae" -> List.of(vaeName(size));
            case "e2e" -> List.of("text_encoder", unetName(size), vaeName(size));
            default -> throw new IllegalArgumentException("unknown mode " + mode + " (unet, vae, e2e)");
        };
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        long t0 = System.nanoTime();
        try (OrtSession.SessionOptions options = sessionOptions(threads);
                Sessions sessions = Sessions.open(env, options, dir, nets)) {
            double loadS = seconds(t0);
            Map<String, Double> m = memory();
            report(ENGINE, "load", "mode", mode, "dtype", "fp32", "threads", threads, "load_s", loadS, "file_mib",
                    sessions.fileBytes / 1048576.0, "rss_mib", m.get("VmRSS"), "rss_file_mib", m.get("RssFile"),
                    "rss_anon_mib", m.get("RssAnon"));
            SplittableRandom random = new SplittableRandom(0);
            switch (mode) {
                case "unet" -> unetSteps(env, sessions.get(0), random, size, threads, steps > 0 ? steps : 3, loadS);
                case "vae" -> vaeDecodes(env, sessions.get(0), random, size, threads, steps > 0 ? steps : 3, loadS);
                default -> endToEnd(env, sessions.get(0), sessions.get(1), sessions.get(2), random, size, threads,
                        steps > 0 ? steps : 20, loadS);
            }
        }
    }

    static String unetName(int size) {
        return "unet-" + size + "-b" + BATCH;
    }

    static String vaeName(int size) {
        return "vae_decoder-" + size;
    }

    private static OrtSession.SessionOptions sessionOptions(int threads) throws OrtException {
        OrtSession.SessionOptions so = new OrtSession.SessionOptions();
        try {
            so.setIntraOpNumThreads(threads);
            so.setInterOpNumThreads(1);
            so.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
            so.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            return so;
        } catch (OrtException | RuntimeException e) {
            so.close();
            throw e;
        }
    }

    private static void unetSteps(OrtEnvironment env, OrtSession unet, SplittableRandom random, int size, int threads,
            int n, double loadS) throws IOException, OrtException {
        int lat = size / 8;
        long ctxDim = ((TensorInfo) unet.getInputInfo().get("context").getInfo()).getShape()[2];
        try (OnnxTensor x = floats(env, SdMeasure.gaussian(random, (long) BATCH * 4 * lat * lat), BATCH, 4, lat, lat);
                OnnxTensor t = floats(env, new float[] {500f, 500f}, BATCH);
                OnnxTensor ctx = floats(env, SdMeasure.gaussian(random, BATCH * SdMeasure.CONTEXT_LENGTH * ctxDim),
                        BATCH, SdMeasure.CONTEXT_LENGTH, ctxDim)) {
            Map<String, OnnxTensor> inputs = Map.of("x", x, "t", t, "context", ctx);
            double[] times = new double[WARMUPS + n];
            for (int i = 0; i < times.length; i++) {
                long s = System.nanoTime();
                checkFinite(run(unet, inputs));
                times[i] = seconds(s);
                if (i == 0) {
                    Map<String, Double> after = memory();
                    report(ENGINE, "mem_after_first_step", "size", size, "dtype", "fp32", "rss_mib",
                            after.get("VmRSS"), "rss_file_mib", after.get("RssFile"), "rss_anon_mib",
                            after.get("RssAnon"));
                }
            }
            double[] timed = Arrays.copyOfRange(times, WARMUPS, times.length);
            Arrays.sort(timed);
            report(ENGINE, "unet", "size", size, "dtype", "fp32", "batch", BATCH, "threads", threads, "first_s",
                    times[0], "second_s", times[1], "step_s", median(timed), "min_s", timed[0], "steps", n,
                    "peak_rss_mib", memory().get("VmHWM"), "load_s", loadS);
        }
    }

    private static void vaeDecodes(OrtEnvironment env, OrtSession vae, SplittableRandom random, int size, int threads,
            int n, double loadS) throws IOException, OrtException {
        int lat = size / 8;
        try (OnnxTensor latents = floats(env, SdMeasure.gaussian(random, 4L * lat * lat), 1, 4, lat, lat)) {
            Map<String, OnnxTensor> inputs = Map.of("latents", latents);
            double[] times = new double[WARMUPS + n];
            for (int i = 0; i < times.length; i++) {
                long s = System.nanoTime();
                checkFinite(run(vae, inputs));
                times[i] = seconds(s);
            }
            double[] timed = Arrays.copyOfRange(times, WARMUPS, times.length);
            Arrays.sort(timed);
            report(ENGINE, "vae", "size", size, "dtype", "fp32", "batch", 1, "threads", threads, "first_s", times[0],
                    "second_s", times[1], "decode_s", median(timed), "min_s", timed[0], "runs", n, "peak_rss_mib",
                    memory().get("VmHWM"), "load_s", loadS);
        }
    }

    /** The end-to-end proxy, as SdBenchmark's and baseline.py's: the same inputs and the same update. */
    private static void endToEnd(OrtEnvironment env, OrtSession text, OrtSession unet, OrtSession vae,
            SplittableRandom random, int size, int threads, int n, double loadS) throws IOException, OrtException {
        int lat = size / 8;
        long[] ids = SdMeasure.tokenIds(random);
        long s = System.nanoTime();
        float[] hidden;
        try (OnnxTensor idTensor = OnnxTensor.createTensor(env, LongBuffer.wrap(ids),
                new long[] {2, SdMeasure.CONTEXT_LENGTH})) {
            hidden = run(text, Map.of("input_ids", idTensor));
        }
        double textS = seconds(s);
        long width = hidden.length / (2L * SdMeasure.CONTEXT_LENGTH);
        float[] latents = SdMeasure.gaussian(random, 4L * lat * lat);
        s = System.nanoTime();
        try (OnnxTensor ctx = floats(env, hidden, 2, SdMeasure.CONTEXT_LENGTH, width)) {
            for (int i = 0; i < n; i++) {
                float tt = SdMeasure.timestep(i, n);
                try (OnnxTensor x = floats(env, SdMeasure.cfgInput(latents, i, n), 2, 4, lat, lat);
                        OnnxTensor t = floats(env, new float[] {tt, tt}, 2)) {
                    SdMeasure.eulerUpdate(latents, run(unet, Map.of("x", x, "t", t, "context", ctx)), i, n);
                }
            }
        }
        double unetS = seconds(s);
        s = System.nanoTime();
        float[] image;
        try (OnnxTensor z = floats(env, latents, 1, 4, lat, lat)) {
            image = run(vae, Map.of("latents", z));
        }
        double vaeS = seconds(s);
        checkFinite(image);
        report(ENGINE, "e2e", "size", size, "dtype", "fp32", "threads", threads, "steps", n, "text_s", textS, "unet_s",
                unetS, "vae_s", vaeS, "total_s", textS + unetS + vaeS, "peak_rss_mib", memory().get("VmHWM"),
                "load_s", loadS);
    }

    /**
     * Runs the exported networks of the sd15-tiny fixture's model on the inputs of its
     * cases.safetensors and compares with the reference outputs there (CompVis/CLIP code):
     * net (unet, vae_decode, text) -> {max |out - ref|, max |ref|}. The UNet case is batch 2 at
     * 8 x 8 latents, so the export of size 64, batch 2; the text encoder takes the first two prompts.
     */
    static Map<String, double[]> parity(Path dir, Path cases) throws IOException, OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        Map<String, double[]> out = new LinkedHashMap<>();
        try (SafeTensorsFile c = SafeTensorsFile.open(cases);
                OrtSession.SessionOptions options = sessionOptions(1)) {
            TensorView x = c.view("unet.x");
            int size = Math.toIntExact(x.shape()[2] * 8);
            long[] t = longs(c.view("unet.t"));
            float[] tf = new float[t.length];
            for (int i = 0; i < t.length; i++) {
                tf[i] = t[i];
            }
            TensorView ids = c.view("text.input_ids");
            TensorView hidden = c.view("text.hidden");
            long[] twoIds = Arrays.copyOf(longs(ids), 2 * SdMeasure.CONTEXT_LENGTH);
            float[] twoHidden = Arrays.copyOf(hidden.toFloatArray(), Math.toIntExact(hidden.numel() / hidden.shape()[0] * 2));
            try (Sessions s = Sessions.open(env, options, dir, List.of(unetName(size), vaeName(size), "text_encoder"));
                    OnnxTensor xt = floats(env, x.toFloatArray(), x.shape());
                    OnnxTensor tt = floats(env, tf, t.length);
                    OnnxTensor ctx = floats(env, c.view("unet.context").toFloatArray(), c.view("unet.context").shape());
                    OnnxTensor z = floats(env, c.view("vae.latents").toFloatArray(), c.view("vae.latents").shape());
                    OnnxTensor it = OnnxTensor.createTensor(env, LongBuffer.wrap(twoIds),
                            new long[] {2, SdMeasure.CONTEXT_LENGTH})) {
                out.put("unet", error(run(s.get(0), Map.of("x", xt, "t", tt, "context", ctx)),
                        c.view("unet.eps").toFloatArray()));
                out.put("vae_decode", error(run(s.get(1), Map.of("latents", z)), c.view("vae.decoded").toFloatArray()));
                out.put("text", error(run(s.get(2), Map.of("input_ids", it)), twoHidden));
            }
        }
        return out;
    }

    private static long[] longs(TensorView v) {
        return v.data().asSlice(0, v.numel() * Long.BYTES).toArray(ValueLayout.JAVA_LONG);
    }

    private static double[] error(float[] got, float[] ref) {
        if (got.length != ref.length) {
            throw new IllegalStateException("output has " + got.length + " values, the reference " + ref.length);
        }
        double err = 0;
        double max = 0;
        for (int i = 0; i < ref.length; i++) {
            err = Math.max(err, Math.abs(got[i] - ref[i]));
            max = Math.max(max, Math.abs(ref[i]));
        }
        return new double[] {err, max};
    }

    private static OnnxTensor floats(OrtEnvironment env, float[] values, long... shape) throws OrtException {
        return OnnxTensor.createTensor(env, FloatBuffer.wrap(values), shape);
    }

    /** Runs the session and returns its first (only) output as floats. */
    private static float[] run(OrtSession session, Map<String, OnnxTensor> inputs) throws OrtException {
        try (OrtSession.Result r = session.run(inputs)) {
            FloatBuffer fb = ((OnnxTensor) r.get(0)).getFloatBuffer();
            float[] out = new float[fb.remaining()];
            fb.get(out);
            return out;
        }
    }

    /** One session per network folder (DIR/NAME/NAME.onnx), closed together. */
    private record Sessions(List<OrtSession> sessions, long fileBytes) implements AutoCloseable {
        static Sessions open(OrtEnvironment env, OrtSession.SessionOptions options, Path dir, List<String> names)
                throws OrtException, IOException {
            List<OrtSession> opened = new ArrayList<>();
            long bytes = 0;
            try {
                for (String name : names) {
                    Path folder = dir.resolve(name);
                    Path file = folder.resolve(name + ".onnx");
                    if (!Files.isRegularFile(file)) {
                        throw new IllegalArgumentException(file + " missing: export it with benchmarks/sd/export_onnx.py");
                    }
                    bytes += modelBytes(folder);
                    opened.add(env.createSession(file.toString(), options));
                }
                Sessions s = new Sessions(List.copyOf(opened), bytes);
                opened.clear();
                return s;
            } finally {
                for (OrtSession session : opened) {
                    session.close();
                }
            }
        }

        OrtSession get(int i) {
            return sessions.get(i);
        }

        /** The model and its external data files: every file of the folder but source.json. */
        private static long modelBytes(Path folder) throws IOException {
            long bytes = 0;
            try (Stream<Path> files = Files.list(folder)) {
                for (Path p : files.toList()) {
                    if (!p.getFileName().toString().equals("source.json")) {
                        bytes += Files.size(p);
                    }
                }
            }
            return bytes;
        }

        @Override
        public void close() throws OrtException {
            for (OrtSession session : sessions) {
                session.close();
            }
        }
    }
}
