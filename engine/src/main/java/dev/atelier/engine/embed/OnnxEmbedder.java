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
    private final EmbedderCard card;
    private final EmbeddingBatches batches;
    private final Feature feature;

    private OnnxEmbedder(OnnxImageModel model, EmbedderOptions options, EmbedderCard card) {
        this.model = model;
        this.card = card;
        this.batches = new EmbeddingBatches(card.transformOr(options.weights()), options);
        this.feature = options.feature();
    }

    /** The model output of feature's name, else the first output (an .onnx file of another layout). */
    private String output(Feature f) {
        String wanted = switch (f) {
            case POOLED -> MobileNetV3OnnxExport.POOLED;
            case PRELOGITS -> MobileNetV3OnnxExport.PRELOGITS;
            case LOGITS -> MobileNetV3OnnxExport.LOGITS;
        };
        return model.outputNames().contains(wanted) ? wanted : model.outputNames().getFirst();
    }

    /**
     * Opens an {@code .onnx} file (any NCHW image model), or torchvision MobileNetV3-Large
     * weights ({@code .safetensors}, {@code .pth}) exported to ONNX first.
     */
    public static OnnxEmbedder open(Path model, EmbedderOptions options) {
        Path onnx = model;
        Path temp = null;
        EmbedderCard card = EmbedderCard.of(model);
        try {
            if (!model.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".onnx")) {
                temp = Files.createTempFile("atelier-", ".onnx");
                int crop = card.transformOr(options.weights()).cropSize(); // the graph's fixed input size
                MobileNetV3OnnxExport.writeFromFile(temp, model, MobileNetV3Config.LARGE, new MobileNetV3OnnxExport.Options(crop, crop));
                onnx = temp;
            }
            OnnxOptions onnxOptions = new OnnxOptions(Math.max(1, options.threads()), false, true);
            return new OnnxEmbedder(OnnxImageModel.open(onnx, onnxOptions), options, card);
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
        long[] shape = model.outputShape(output(feature));
        return Math.toIntExact(shape[shape.length - 1]);
    }

    @Override
    public EmbedderCard card() {
        return card;
    }

    @Override
    public float[][] embed(List<ImageInput> inputs, Progress progress) {
        return embed(inputs, feature, progress);
    }

    @Override
    public float[][] embed(List<ImageInput> inputs, Feature f, Progress progress) {
        String output = output(f);
        return batches.embed(inputs, input -> model.run(input, List.of(output)).get(output), progress);
    }

    @Override
    public void close() {
        batches.close();
        model.close();
    }
}
