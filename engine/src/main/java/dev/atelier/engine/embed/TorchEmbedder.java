package dev.atelier.engine.embed;

import static dev.atelier.bindings.atelier_h.*;

import dev.atelier.bindings.atl_embedder_params;
import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.NativeHandle;
import dev.atelier.engine.core.NativeLibrary;
import dev.atelier.engine.core.Retainable;
import dev.atelier.engine.core.Progress;
import dev.atelier.engine.core.Status;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.core.Weights;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * torchvision's MobileNetV3-Large as an image embedder, run by libatelier on libtorch
 * ({@code atl_embedder}). Images go through {@link ImageTransform} (the transforms of the
 * chosen weights) and the network; {@link #embed} returns one feature vector per image.
 *
 * <p>Weights come as tensors named like torchvision's state_dict, from any source: a
 * {@code .safetensors} file through {@link #open(Path, EmbedderOptions)}, or any map of
 * {@link TensorView}s (a {@code .pth} reader) through the constructor.
 *
 * <p>Thread-safe: several threads may call {@link #forward} and {@link #embed} at once.
 */
public final class Embedder extends NativeHandle {
    private final EmbedderOptions options;
    private final Preprocessor preprocessor;
    private final int pooledDim;
    private final int prelogitsDim;
    private final int numClasses;

    /**
     * Builds the network from tensors named as torchvision's state_dict. Nothing is copied: owner
     * (the open weights file) is retained until this embedder is destroyed, so the caller may
     * close its own reference to it at once.
     *
     * @throws AtelierException.FormatException listing every missing or misshapen tensor
     */
    public Embedder(Map<String, TensorView> tensors, Retainable owner, EmbedderOptions options) {
        super("atl_embedder", create(tensors, owner, options), p -> atl_embedder_destroy(p));
        this.options = options;
        dependOn(owner);
        this.pooledDim = Math.toIntExact(atl_embedder_pooled_dim(pointer()));
        this.prelogitsDim = Math.toIntExact(atl_embedder_prelogits_dim(pointer()));
        this.numClasses = Math.toIntExact(atl_embedder_num_classes(pointer()));
        this.preprocessor = new Preprocessor(options.weights().transform(), options.decodeThreads());
    }

    /** Opens a {@code .safetensors} file of torchvision MobileNetV3-Large weights; it stays mapped while the embedder lives. */
    public static Embedder open(Path weightsFile, EmbedderOptions options) {
        try (SafeTensorsFile file = SafeTensorsFile.open(weightsFile)) {
            Map<String, TensorView> tensors = new java.util.LinkedHashMap<>();
            for (String name : file.tensors().keySet()) {
                tensors.put(name, file.view(name));
            }
            try {
                return new Embedder(tensors, file, options);
            } catch (AtelierException.FormatException e) {
                throw new AtelierException.FormatException(weightsFile + ": " + e.getMessage(), e);
            }
        }
    }

    private static MemorySegment create(Map<String, TensorView> tensors, Retainable owner, EmbedderOptions options) {
        NativeLibrary.load();
        // The weight set only lives for the creation: the embedder keeps the tensors it uses.
        try (Weights weights = new Weights(); Arena arena = Arena.ofConfined()) {
            for (Map.Entry<String, TensorView> e : tensors.entrySet()) {
                weights.add(e.getKey(), e.getValue(), owner);
            }
            MemorySegment params = atl_embedder_params.allocate(arena);
            atl_embedder_params_init(params);
            atl_embedder_params.fold_batchnorm(params, options.foldBatchNorm() ? 1 : 0);
            atl_embedder_params.channels_last(params, options.channelsLast() ? 1 : 0);
            atl_embedder_params.num_threads(params, options.threads());
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            Status.check(atl_embedder_create(weights.pointer(), params, out));
            return out.get(ValueLayout.ADDRESS, 0);
        }
    }

    public EmbedderOptions options() {
        return options;
    }

    /** The transforms applied to images before the network. */
    public ImageTransform transform() {
        return preprocessor.transform();
    }

    /** Length of the vectors {@link #embed} returns for feature. */
    public int dim(Feature feature) {
        return feature == Feature.POOLED ? pooledDim : prelogitsDim;
    }

    public int numClasses() {
        return numClasses;
    }

    /** The network's outputs for one batch; arrays hold [n, dim] row-major, null when not asked for. */
    public record Outputs(int n, float[] pooled, float[] prelogits, float[] logits) {}

    /**
     * Runs the network on input, F32 [n, 3, H, W] already transformed. Pooled features are
     * always returned; pre-logits and logits when asked for.
     */
    public Outputs forward(TensorView input, boolean prelogits, boolean logits) {
        if (input.rank() != 4 || input.dtype() != DType.F32) {
            throw new InvalidInputException("embedder input must be F32 [n, 3, H, W], got " + input);
        }
        int n = Math.toIntExact(input.shape()[0]);
        try (Arena arena = Arena.ofConfined()) {
            TensorView pooled = TensorView.allocate(arena, DType.F32, n, pooledDim);
            TensorView pre = prelogits ? TensorView.allocate(arena, DType.F32, n, prelogitsDim) : null;
            TensorView log = logits ? TensorView.allocate(arena, DType.F32, n, numClasses) : null;
            Status.check(atl_embedder_forward(pointer(), input.toNative(arena), pooled.toNative(arena),
                    pre == null ? MemorySegment.NULL : pre.toNative(arena),
                    log == null ? MemorySegment.NULL : log.toNative(arena)));
            return new Outputs(n, pooled.toFloatArray(), pre == null ? null : pre.toFloatArray(),
                    log == null ? null : log.toFloatArray());
        }
    }

    /** The configured feature of one image file. */
    public float[] embed(Path image) {
        return embedInputs(List.of(ImageInput.of(image)), options.feature(), Progress.NONE)[0];
    }

    /** The configured feature of each image file, in order: float[n][dim]. */
    public float[][] embed(List<Path> images) {
        return embedInputs(images.stream().map(ImageInput::of).toList(), options.feature(), Progress.NONE);
    }

    /**
     * feature of each input, in order, in batches of {@code options.batchSize()}; the next batch
     * is decoded while the network runs on the current one. progress hears (images done, total)
     * after each batch and may cancel.
     *
     * @throws AtelierException.FormatException naming the first file that cannot be decoded
     * @throws AtelierException.CancelledException when progress returned false
     */
    public float[][] embedInputs(List<ImageInput> inputs, Feature feature, Progress progress) {
        int total = inputs.size();
        float[][] result = new float[total][];
        if (total == 1) {
            // One image: decoding on the calling thread saves two thread hand-offs of latency.
            result[0] = runBatch(preprocessor.preprocess(inputs.get(0)), 1, feature)[0];
            report(progress, 1, 1, null);
            return result;
        }
        int batch = options.batchSize();
        Preprocessor.Pending next = total == 0 ? null : preprocessor.submit(inputs.subList(0, Math.min(batch, total)));
        for (int start = 0; start < total; start += batch) {
            int end = Math.min(start + batch, total);
            float[] pixels = next.await();
            next = end < total ? preprocessor.submit(inputs.subList(end, Math.min(end + batch, total))) : null;
            try {
                float[][] rows = runBatch(pixels, end - start, feature);
                System.arraycopy(rows, 0, result, start, rows.length);
            } catch (RuntimeException e) {
                if (next != null) {
                    next.cancel();
                }
                throw e;
            }
            report(progress, end, total, next);
        }
        return result;
    }

    /** The network on n transformed images (row-major [n, 3, crop, crop]), one row per image. */
    private float[][] runBatch(float[] pixels, int n, Feature feature) {
        int crop = transform().cropSize();
        try (Arena arena = Arena.ofConfined()) {
            TensorView input = TensorView.ofFloats(arena, pixels, n, 3, crop, crop);
            Outputs out = forward(input, feature == Feature.PRELOGITS, false);
            float[] flat = feature == Feature.PRELOGITS ? out.prelogits() : out.pooled();
            int dim = dim(feature);
            float[][] rows = new float[n][];
            for (int i = 0; i < n; i++) {
                rows[i] = java.util.Arrays.copyOfRange(flat, i * dim, (i + 1) * dim);
            }
            return rows;
        }
    }

    private static void report(Progress progress, int done, int total, Preprocessor.Pending next) {
        if (progress != null && !progress.onStep(done, total)) {
            if (next != null) {
                next.cancel();
            }
            throw new AtelierException.CancelledException("embedding cancelled after " + done + " of " + total + " images");
        }
    }

    /** Frees the network (and so releases its weights file) and stops the decoding threads. */
    @Override
    public void close() {
        if (isClosed()) {
            return;
        }
        super.close();
        preprocessor.close();
    }
}
