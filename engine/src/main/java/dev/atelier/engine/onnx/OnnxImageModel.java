package dev.atelier.engine.onnx;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.BackendException;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.embed.ImageInputSpec;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Any ONNX image model with one NCHW float input, run by ONNX Runtime on the CPU. Inputs and
 * outputs travel as direct buffers over the callers' {@link MemorySegment}s, so image batches
 * and features are never copied through the Java heap on the way in or out ({@link #runInto});
 * {@link #run(TensorView, List)} copies only the results into arrays. Safe for concurrent
 * {@code run} calls (ONNX Runtime sessions are).
 */
public final class OnnxImageModel implements AutoCloseable {
    private final Path file;
    private final OrtEnvironment env;
    private final OrtSession.SessionOptions sessionOptions;
    private final OrtSession session;
    private final ImageInputSpec input;
    private final Map<String, TensorInfo> outputs; // in the model's order
    private volatile boolean closed;

    private OnnxImageModel(Path file, OrtEnvironment env, OrtSession.SessionOptions sessionOptions,
                           OrtSession session, ImageInputSpec input, Map<String, TensorInfo> outputs) {
        this.file = file;
        this.env = env;
        this.sessionOptions = sessionOptions;
        this.session = session;
        this.input = input;
        this.outputs = outputs;
    }

    /** Opens file with {@link OnnxOptions#DEFAULT} (one thread: batch-1 latency). */
    public static OnnxImageModel open(Path file) {
        return open(file, OnnxOptions.DEFAULT);
    }

    /**
     * Opens file. Throws {@link FormatException} naming the file when it is missing, is not a
     * valid ONNX model, or its input is not a single 4-D float tensor.
     */
    public static OnnxImageModel open(Path file, OnnxOptions options) {
        if (!Files.isRegularFile(file)) {
            throw new FormatException(AtelierException.IO, file + ": no such ONNX model file");
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        OrtSession.SessionOptions so = null;
        OrtSession session = null;
        try {
            so = sessionOptions(options);
            try {
                session = env.createSession(file.toString(), so);
            } catch (OrtException e) {
                throw new FormatException(file + ": not a loadable ONNX model: " + e.getMessage(), e);
            }
            ImageInputSpec spec = inputSpec(file, session);
            Map<String, TensorInfo> outs = new LinkedHashMap<>();
            for (NodeInfo info : session.getOutputInfo().values()) {
                if (info.getInfo() instanceof TensorInfo t) {
                    outs.put(info.getName(), t);
                }
            }
            if (outs.isEmpty()) {
                throw new FormatException(AtelierException.FORMAT, file + ": the model has no tensor output");
            }
            OnnxImageModel model = new OnnxImageModel(file, env, so, session, spec, outs);
            session = null;
            so = null;
            return model;
        } catch (OrtException e) {
            throw new BackendException(AtelierException.BACKEND, file + ": ONNX Runtime: " + e.getMessage());
        } finally {
            closeQuietly(session, so);
        }
    }

    private static OrtSession.SessionOptions sessionOptions(OnnxOptions options) throws OrtException {
        OrtSession.SessionOptions so = new OrtSession.SessionOptions();
        try {
            so.setIntraOpNumThreads(options.intraOpThreads());
            so.setInterOpNumThreads(1);
            so.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
            so.setOptimizationLevel(options.optimize() ? OrtSession.SessionOptions.OptLevel.ALL_OPT
                    : OrtSession.SessionOptions.OptLevel.NO_OPT);
            // ONNX Runtime session config key (onnxruntime_session_options_config_keys.h).
            so.addConfigEntry("session.intra_op.allow_spinning", options.allowSpinning() ? "1" : "0");
            return so;
        } catch (OrtException | RuntimeException e) {
            so.close();
            throw e;
        }
    }

    private static ImageInputSpec inputSpec(Path file, OrtSession session) throws OrtException {
        Map<String, NodeInfo> inputs = session.getInputInfo();
        if (inputs.size() != 1) {
            throw new FormatException(AtelierException.FORMAT, file + ": an image model has one input, this one has "
                    + inputs.size() + " " + inputs.keySet());
        }
        NodeInfo only = inputs.values().iterator().next();
        if (!(only.getInfo() instanceof TensorInfo t) || t.type != OnnxJavaType.FLOAT || t.getShape().length != 4) {
            throw new FormatException(AtelierException.FORMAT, file + ": input '" + only.getName() + "' is "
                    + describe(only) + ", not an NCHW image: a 4-D float tensor [n, C, H, W] is needed");
        }
        long[] s = t.getShape();
        return new ImageInputSpec(only.getName(), s[0], s[1], s[2], s[3]);
    }

    private static String describe(NodeInfo info) {
        return info.getInfo() instanceof TensorInfo t
                ? t.type + " " + Arrays.toString(t.getShape()) : info.getInfo().toString();
    }

    public Path file() {
        return file;
    }

    /** The input the model declares (name, and sizes with -1 where free). */
    public ImageInputSpec input() {
        return input;
    }

    /** Output names in the model's order; the first is the default feature. */
    public List<String> outputNames() {
        return List.copyOf(outputs.keySet());
    }

    /** The declared shape of an output, -1 where free. */
    public long[] outputShape(String name) {
        return info(name).getShape();
    }

    /**
     * Runs input and writes each named output into the caller's tensor (ONNX Runtime writes
     * straight into that memory: no copy). Each output must be F32, contiguous, writable and of
     * the shape the model produces for this batch.
     */
    public void runInto(TensorView in, Map<String, TensorView> out) {
        input.check(in);
        try (OnnxTensor x = tensorOver(in)) {
            Map<String, OnnxTensor> pinned = new LinkedHashMap<>();
            try {
                for (Map.Entry<String, TensorView> e : out.entrySet()) {
                    checkOutput(e.getKey(), e.getValue(), in.shape()[0]);
                    pinned.put(e.getKey(), tensorOver(e.getValue()));
                }
                session.run(Map.of(input.name(), x), Set.of(), pinned).close();
            } finally {
                pinned.values().forEach(OnnxTensor::close);
            }
        } catch (OrtException e) {
            throw backend(e);
        }
    }

    /** The first output (for an exported MobileNetV3: {@code pooled}, [n, 960]). */
    public float[][] run(TensorView input) {
        String first = outputNames().getFirst();
        return run(input, List.of(first)).get(first);
    }

    /**
     * Runs input and returns the named outputs, each as n rows (an output's dims after the first
     * are flattened into its row). Throws {@code InvalidInputException} for a wrong input.
     */
    public Map<String, float[][]> run(TensorView in, List<String> names) {
        input.check(in);
        long n = in.shape()[0];
        Map<String, float[][]> result = new LinkedHashMap<>();
        try (Arena arena = Arena.ofConfined()) {
            // Outputs whose size follows from the batch are pinned to arena memory; others
            // (free spatial dims, say) are allocated by ONNX Runtime and read back.
            Map<String, TensorView> pinned = new LinkedHashMap<>();
            List<String> unpinned = new ArrayList<>();
            for (String name : names) {
                long[] shape = outputShape(name).clone();
                if (info(name).type != OnnxJavaType.FLOAT) {
                    throw new InvalidInputException(file + ": output " + name + " is " + info(name).type + ", not float");
                }
                if (shape.length > 0 && shape[0] < 0) {
                    shape[0] = n;
                }
                if (Arrays.stream(shape).allMatch(d -> d >= 0)) {
                    pinned.put(name, TensorView.allocate(arena, DType.F32, shape));
                } else {
                    unpinned.add(name);
                }
            }
            try (OnnxTensor x = tensorOver(in)) {
                Map<String, OnnxTensor> pins = new LinkedHashMap<>();
                try {
                    for (Map.Entry<String, TensorView> e : pinned.entrySet()) {
                        pins.put(e.getKey(), tensorOver(e.getValue()));
                    }
                    // ONNX Runtime takes the outputs it allocates and the pinned ones as disjoint sets.
                    try (OrtSession.Result r = session.run(Map.of(input.name(), x), new HashSet<>(unpinned), pins)) {
                        for (String name : names) {
                            TensorView v = pinned.get(name);
                            if (v != null) {
                                result.put(name, rows(v.data(), n, v.numel()));
                            } else {
                                OnnxValue value = r.get(name).orElseThrow();
                                FloatBuffer fb = ((OnnxTensor) value).getFloatBuffer();
                                float[] all = new float[fb.remaining()];
                                fb.get(all);
                                result.put(name, rows(MemorySegment.ofArray(all), n, all.length));
                            }
                        }
                    }
                } finally {
                    pins.values().forEach(OnnxTensor::close);
                }
            }
        } catch (OrtException e) {
            throw backend(e);
        }
        return result;
    }

    private static float[][] rows(MemorySegment data, long n, long numel) {
        int perRow = Math.toIntExact(numel / Math.max(n, 1));
        float[][] rows = new float[Math.toIntExact(n)][perRow];
        for (int i = 0; i < n; i++) {
            MemorySegment.copy(data, ValueLayout.JAVA_FLOAT, (long) i * perRow * 4, rows[i], 0, perRow);
        }
        return rows;
    }

    private void checkOutput(String name, TensorView view, long n) {
        long[] want = outputShape(name).clone();
        if (want.length > 0 && want[0] < 0) {
            want[0] = n;
        }
        long[] got = view.shape();
        boolean fits = got.length == want.length && view.dtype() == DType.F32 && view.isContiguous()
                && !view.data().isReadOnly();
        for (int i = 0; fits && i < want.length; i++) {
            fits = want[i] < 0 || want[i] == got[i];
        }
        if (!fits) {
            throw new InvalidInputException(file + ": output " + name + " needs a writable contiguous F32 tensor of shape "
                    + Arrays.toString(want) + " (-1 = any), got " + view);
        }
    }

    private TensorInfo info(String name) {
        TensorInfo t = outputs.get(name);
        if (t == null) {
            throw new InvalidInputException(file + ": no output named " + name + "; the model has " + outputs.keySet());
        }
        return t;
    }

    /** An OnnxTensor over the view's own memory: a direct buffer, so ONNX Runtime copies nothing. */
    OnnxTensor tensorOver(TensorView v) throws OrtException {
        FloatBuffer buffer = v.data().asSlice(0, v.numel() * 4).asByteBuffer().order(ByteOrder.nativeOrder()).asFloatBuffer();
        return OnnxTensor.createTensor(env, buffer, v.shape());
    }

    private BackendException backend(OrtException e) {
        return new BackendException(AtelierException.BACKEND, file + ": ONNX Runtime: " + e.getMessage());
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            closeQuietly(session, sessionOptions);
        }
    }

    private static void closeQuietly(OrtSession session, OrtSession.SessionOptions options) {
        if (session != null) {
            try {
                session.close();
            } catch (OrtException ignored) {
                // closing releases native memory only; nothing to recover
            }
        }
        if (options != null) {
            options.close();
        }
    }

    @Override
    public String toString() {
        return "OnnxImageModel[" + file + ", input " + input + ", outputs " + outputs.keySet() + "]";
    }
}
