package dev.atelier.engine.embed;

import static dev.atelier.bindings.atelier_h.*;

import dev.atelier.bindings.atl_embedder_params;
import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.NativeHandle;
import dev.atelier.engine.core.Retainable;
import dev.atelier.engine.core.Progress;
import dev.atelier.engine.core.Status;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.core.Weights;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.torchfile.TorchFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * torchvision's MobileNetV3-Large as an image embedder, run by libatelier on libtorch
 * ({@code atl_embedder}): the libtorch backend of {@link ImageEmbedder}. Images go through
 * {@link ImageTransform} (the transforms of the chosen weights) and the network; {@link #embed}
 * returns one feature vector per image.
 *
 * <p>Weights come as tensors named like torchvision's state_dict, from any source: a
 * {@code .safetensors} file through {@link #open(Path, EmbedderOptions)}, or any map of
 * {@link TensorView}s (a {@code .pth} reader) through the constructor.
 *
 * <p>Thread-safe: several threads may call {@link #forward} and {@link #embed} at once.
 */
public final class TorchEmbedder extends NativeHandle implements ImageEmbedder {
    private final EmbedderOptions options;
    private final EmbedderCard card;
    private final EmbeddingBatches batches;
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
    public TorchEmbedder(Map<String, TensorView> tensors, Retainable owner, EmbedderOptions options) {
        this(tensors, owner, options, EmbedderCard.NONE);
    }

    /** As above, with what the weights file declares about its preprocessing and logits. */
    public TorchEmbedder(Map<String, TensorView> tensors, Retainable owner, EmbedderOptions options, EmbedderCard card) {
        super("atl_embedder", create(tensors, owner, options), p -> atl_embedder_destroy(p));
        this.options = options;
        this.card = card;
        dependOn(owner);
        this.pooledDim = Math.toIntExact(atl_embedder_pooled_dim(pointer()));
        this.prelogitsDim = Math.toIntExact(atl_embedder_prelogits_dim(pointer()));
        this.numClasses = Math.toIntExact(atl_embedder_num_classes(pointer()));
        if (card.heads().isPresent() && card.heads().get().size() != numClasses) {
            super.close();
            throw new AtelierException.FormatException("the weights' class heads (" + EmbedderCard.HEADS + ") name "
                    + card.heads().get().size() + " outputs, the network has " + numClasses);
        }
        this.batches = new EmbeddingBatches(card.transformOr(options.weights()), options);
    }

    /**
     * Opens torchvision MobileNetV3-Large weights: a {@code .pth} or {@code .pt} file (PyTorch's
     * zip), else {@code .safetensors}; the file stays mapped while the embedder lives.
     */
    public static TorchEmbedder open(Path weightsFile, EmbedderOptions options) {
        String fileName = weightsFile.getFileName().toString().toLowerCase(Locale.ROOT);
        if (fileName.endsWith(".pth") || fileName.endsWith(".pt")) {
            try (TorchFile file = TorchFile.open(weightsFile)) {
                return new TorchEmbedder(file.stateDict(), file, options); // the embedder retains the file
            }
        }
        try (SafeTensorsFile file = SafeTensorsFile.open(weightsFile)) {
            Map<String, TensorView> tensors = new java.util.LinkedHashMap<>();
            for (String name : file.tensors().keySet()) {
                tensors.put(name, file.view(name));
            }
            try {
                return new TorchEmbedder(tensors, file, options, EmbedderCard.of(file.metadata()));
            } catch (AtelierException.FormatException e) {
                throw new AtelierException.FormatException(weightsFile + ": " + e.getMessage(), e);
            }
        }
    }

    private static MemorySegment create(Map<String, TensorView> tensors, Retainable owner, EmbedderOptions options) {
        // The weight set only lives for the creation: the embedder keeps the tensors it uses.
        try (Weights weights = new Weights()) {
            for (Map.Entry<String, TensorView> e : tensors.entrySet()) {
                weights.add(e.getKey(), e.getValue(), owner);
            }
            return create((arena, out) -> {
                MemorySegment params = atl_embedder_params.allocate(arena);
                atl_embedder_params_init(params);
                atl_embedder_params.fold_batchnorm(params, options.foldBatchNorm() ? 1 : 0);
                atl_embedder_params.channels_last(params, options.channelsLast() ? 1 : 0);
                atl_embedder_params.num_threads(params, options.threads());
                return atl_embedder_create(weights.pointer(), params, out);
            });
        }
    }

    public EmbedderOptions options() {
        return options;
    }

    @Override
    public EmbedderCard card() {
        return card;
    }

    /** The transforms applied to images before the network. */
    public ImageTransform transform() {
        return batches.transform();
    }

    @Override
    public int dim() {
        return dim(options.feature());
    }

    /** Length of the vectors of feature. */
    public int dim(Feature feature) {
        return switch (feature) {
            case POOLED -> pooledDim;
            case PRELOGITS -> prelogitsDim;
            case LOGITS -> numClasses;
        };
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

    /**
     * The configured feature of each input, in order, in batches of {@code options.batchSize()}
     * ({@link EmbeddingBatches}).
     */
    @Override
    public float[][] embed(List<ImageInput> inputs, Progress progress) {
        return embed(inputs, options.feature(), progress);
    }

    @Override
    public float[][] embed(List<ImageInput> inputs, Feature feature, Progress progress) {
        return batches.embed(inputs, input -> rows(forward(input, feature == Feature.PRELOGITS, feature == Feature.LOGITS),
                feature), progress);
    }

    private float[][] rows(Outputs out, Feature feature) {
        float[] flat = switch (feature) {
            case POOLED -> out.pooled();
            case PRELOGITS -> out.prelogits();
            case LOGITS -> out.logits();
        };
        int dim = dim(feature);
        float[][] rows = new float[out.n()][];
        for (int i = 0; i < rows.length; i++) {
            rows[i] = java.util.Arrays.copyOfRange(flat, i * dim, (i + 1) * dim);
        }
        return rows;
    }

    /** Frees the network (and so releases its weights file) and stops the decoding threads; idempotent. */
    @Override
    public void close() {
        if (isClosed()) {
            return;
        }
        super.close();
        batches.close();
    }
}
