package dev.atelier.engine.embed;

import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.Progress;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Image files to feature vectors, with one implementation per backend ({@link TorchEmbedder} on
 * libtorch, {@link OnnxEmbedder} on ONNX Runtime) sharing the preprocessing (torchvision's
 * transforms for the chosen weights) and the batching loop ({@link EmbeddingBatches}).
 *
 * <p>Threads: {@link #embed} may be called from any number of threads at once on one instance,
 * without a lock: the torch backend's {@code atl_embedder_forward} only reads its weights
 * ({@code atelier.h} allows concurrent calls) and ONNX Runtime's {@code OrtSession.run} is
 * thread-safe; each call decodes and stages its own images. {@link #close} after the last call.
 */
public interface ImageEmbedder extends AutoCloseable {

    /** Feature length (960 pooled, 1280 pre-logits for MobileNetV3-Large). */
    int dim();

    /** The configured feature of each input, in order; progress hears (done, total) and may cancel. */
    float[][] embed(List<ImageInput> inputs, Progress progress);

    /** The given feature of each input, in order ({@link Feature#LOGITS} for the class scores). */
    float[][] embed(List<ImageInput> inputs, Feature feature, Progress progress);

    /** What the weights file declares: its preprocessing and the meaning of its logits. */
    EmbedderCard card();

    default float[][] embedPaths(List<Path> paths, Progress progress) {
        return embed(paths.stream().map(ImageInput::of).toList(), progress);
    }

    @Override
    void close();

    /**
     * Opens model on backend: {@link TorchEmbedder} (torchvision MobileNetV3-Large weights as
     * {@code .safetensors} or {@code .pth}) or {@link OnnxEmbedder} (also an {@code .onnx} file,
     * any NCHW image model; weights are exported to ONNX in memory first).
     */
    static ImageEmbedder open(Path model, Backend backend, EmbedderOptions options) {
        if (backend == Backend.TORCH) {
            if (model.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".onnx")) {
                throw new AtelierException.InvalidInputException(model + ": an .onnx file needs --backend onnx");
            }
            return TorchEmbedder.open(model, options);
        }
        return OnnxEmbedder.open(model, options);
    }
}
