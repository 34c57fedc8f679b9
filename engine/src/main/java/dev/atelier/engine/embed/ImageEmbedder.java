package dev.atelier.engine.embed;

import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.Progress;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.onnx.MobileNetV3Config;
import dev.atelier.engine.onnx.MobileNetV3OnnxExport;
import dev.atelier.engine.onnx.OnnxImageModel;
import dev.atelier.engine.onnx.OnnxOptions;
import dev.atelier.engine.torchfile.TorchFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Image files to feature vectors on either backend, with the same preprocessing (torchvision's
 * transforms for the chosen weights).
 *
 * <p>Threads: {@link #embed} may be called from any number of threads at once on one instance,
 * without a lock: the torch backend's {@code atl_embedder_forward} only reads its weights
 * ({@code atelier.h} allows concurrent calls) and ONNX Runtime's {@code OrtSession.run} is
 * thread-safe; each call decodes and stages its own images. {@link #close} after the last call.
 */
public interface ImageEmbedder extends AutoCloseable {

    /** Feature length (960 pooled, 1280 pre-logits for MobileNetV3-Large). */
    int dim();

    /** One row per input, in order; progress hears (done, total) and may cancel. */
    float[][] embed(List<ImageInput> inputs, Progress progress);

    default float[][] embedPaths(List<Path> paths, Progress progress) {
        return embed(paths.stream().map(ImageInput::of).toList(), progress);
    }

    @Override
    void close();

    /**
     * Opens model on backend. model: torchvision MobileNetV3-Large weights as {@code .safetensors}
     * or {@code .pth}; for the ONNX backend also an {@code .onnx} file (any NCHW image model),
     * and weights are exported to ONNX in memory first.
     */
    static ImageEmbedder open(Path model, Backend backend, EmbedderOptions options) {
        String name = model.getFileName().toString().toLowerCase(Locale.ROOT);
        boolean onnxFile = name.endsWith(".onnx");
        if (backend == Backend.TORCH) {
            if (onnxFile) {
                throw new AtelierException.InvalidInputException(model + ": an .onnx file needs --backend onnx");
            }
            return new TorchEmbedder(openTorch(model, options));
        }
        Path onnx = model;
        Path temp = null;
        try {
            if (!onnxFile) {
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

    private static Embedder openTorch(Path model, EmbedderOptions options) {
        String name = model.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".pth") || name.endsWith(".pt")) {
            try (TorchFile file = TorchFile.open(model)) {
                return new Embedder(file.stateDict(), file, options); // the embedder retains the file
            }
        }
        return Embedder.open(model, options);
    }

    /** The libtorch backend. */
    final class TorchEmbedder implements ImageEmbedder {
        private final Embedder embedder;

        TorchEmbedder(Embedder embedder) {
            this.embedder = embedder;
        }

        @Override
        public int dim() {
            return embedder.dim(embedder.options().feature());
        }

        @Override
        public float[][] embed(List<ImageInput> inputs, Progress progress) {
            return embedder.embedInputs(inputs, embedder.options().feature(), progress);
        }

        @Override
        public void close() {
            embedder.close();
        }
    }

    /** The ONNX Runtime backend: Atelier's preprocessing, then the session in batches. */
    final class OnnxEmbedder implements ImageEmbedder {
        private final OnnxImageModel model;
        private final Preprocessor preprocessor;
        private final EmbedderOptions options;
        private final String output;

        OnnxEmbedder(OnnxImageModel model, EmbedderOptions options) {
            this.model = model;
            this.options = options;
            this.preprocessor = new Preprocessor(options.weights().transform(), options.decodeThreads());
            String wanted = options.feature() == Feature.PRELOGITS ? MobileNetV3OnnxExport.PRELOGITS : MobileNetV3OnnxExport.POOLED;
            this.output = model.outputNames().contains(wanted) ? wanted : model.outputNames().getFirst();
        }

        @Override
        public int dim() {
            long[] shape = model.outputShape(output);
            return Math.toIntExact(shape[shape.length - 1]);
        }

        @Override
        public float[][] embed(List<ImageInput> inputs, Progress progress) {
            int crop = preprocessor.transform().cropSize();
            List<float[]> rows = new ArrayList<>(inputs.size());
            for (int start = 0; start < inputs.size(); start += options.batchSize()) {
                List<ImageInput> batch = inputs.subList(start, Math.min(inputs.size(), start + options.batchSize()));
                float[] pixels = preprocessor.preprocessAll(batch);
                try (Arena arena = Arena.ofConfined()) {
                    TensorView input = TensorView.ofFloats(arena, pixels, batch.size(), 3, crop, crop);
                    rows.addAll(List.of(model.run(input, List.of(output)).get(output)));
                }
                int done = start + batch.size();
                if (progress != null && !progress.onStep(done, inputs.size())) {
                    throw new AtelierException.CancelledException("embedding cancelled after " + done + " of "
                            + inputs.size() + " images");
                }
            }
            return rows.toArray(float[][]::new);
        }

        @Override
        public void close() {
            preprocessor.close();
            model.close();
        }
    }
}
