package dev.atelier.engine.embed;

import dev.atelier.engine.core.TensorView;
import java.util.List;
import java.util.Map;

/**
 * A network that takes a batch of preprocessed images, NCHW float32 {@code [n, C, H, W]}, and
 * returns per-image vectors. Backends: ONNX Runtime ({@code OnnxImageModel}); the libtorch
 * embedder can sit behind it too. Implementations are safe to call from several threads.
 */
public interface ImageModel extends AutoCloseable {
    /** The input the model declares (name, and sizes with -1 where free). */
    ImageInputSpec input();

    /** Output names in the model's order; the first is the default feature. */
    List<String> outputNames();

    /**
     * Runs input and returns the named outputs, each as n rows (an output's dims after the first
     * are flattened into its row). Throws {@code InvalidInputException} for a wrong input.
     */
    Map<String, float[][]> run(TensorView input, List<String> outputs);

    /** The first output (for an exported MobileNetV3: {@code pooled}, [n, 960]). */
    default float[][] run(TensorView input) {
        String first = outputNames().getFirst();
        return run(input, List.of(first)).get(first);
    }

    /** Releases the model; idempotent. */
    @Override
    void close();
}
