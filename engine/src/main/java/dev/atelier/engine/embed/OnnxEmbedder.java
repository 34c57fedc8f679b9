package dev.atelier.engine.embed;

import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.Progress;
import dev.atelier.engine.onnx.MobileNetV3Config;
import dev.atelier.engine.onnx.MobileNetV3OnnxExport;
import dev.atelier.engine.onnx.OnnxImageModel;
import dev.atelier.engine.onnx.OnnxOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The ONNX Runtime backend of {@link ImageEmbedder}: Atelier's preprocessing, then the session
 * on each batch ({@link EmbeddingBatches}). The feature is the model output of that name
 * ({@code pooled}, {@code prelogits}) when the model has one, else its first output.
 */
public final class OnnxEmbedder implements ImageEmbedder {
    private final OnnxImageModel model;
    private final EmbeddingBatches batches;
    private final String output;

    private OnnxEmbedder(OnnxImageModel model, EmbedderOptions options) {
        this.model = model;
        this.batches = new EmbeddingBatches(options);
        String wanted = options.feature() == Feature.PRELOGITS ? MobileNetV3OnnxExport.PRELOGITS : MobileNetV3OnnxExport.POOLED;
        this.output = model.outputNames().contains(wanted) ? wanted : model.outputNames().getFirst();
    }

    /**
     * Opens an {@code .onnx} file (any NCHW image model), or torchvision MobileNetV3-Large
     * weights ({@code .safetensors}, {@code .pth}) exported to ONNX first.
     */
    public static OnnxEmbedder open(Path model, EmbedderOptions options) {
        Path onnx = model;
        Path temp = null;
        try {
            if (!model.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".onnx")) {
                temp = Files.createTempFile("atelier-", ".onnx");
                MobileNetV3OnnxExport.writeFromFile(temp, model, MobileNetV3Config.LARGE, MobileNetV3OnnxExport.Options.DEFAULT);
                onnx = temp;
            }
            OnnxOptions onnxOptions = new OnnxOptions(Math.max(1, options.threads()), false, true);
            return new OnnxEmbedder(OnnxImageModel.open(onnx, onnxOptions), options);
        } catch (IOException e) {
            throw new FormatException(AtelierException.IO, model + ": cannot export to ONNX: " + e.getMessage());
        } finally {
            if (temp != null) {
                try {
                    Files.deleteIfExists(temp); // the session holds the model in memory
                } catch (IOException ignored) {
                    // a leftover temporary file is harmless
                }
            }
        }
    }

    @Override
    public int dim() {
        long[] shape = model.outputShape(output);
        return Math.toIntExact(shape[shape.length - 1]);
    }

    @Override
    public float[][] embed(List<ImageInput> inputs, Progress progress) {
        return batches.embed(inputs, input -> model.run(input, List.of(output)).get(output), progress);
    }

    @Override
    public void close() {
        batches.close();
        model.close();
    }
}
