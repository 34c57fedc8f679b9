package dev.atelier.tools;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.embed.Backend;
import dev.atelier.engine.embed.EmbedderOptions;
import dev.atelier.engine.embed.Feature;
import dev.atelier.engine.embed.ImageEmbedder;
import dev.atelier.engine.embed.ImagenetWeights;
import java.nio.file.Path;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** The embedding flags shared by embed, index, search and evaluate: one name for one meaning. */
final class EmbedderOptionsMixin {
    @Option(names = "--model", required = true, paramLabel = "PATH",
            description = "MobileNetV3-Large weights (.safetensors or .pth as torchvision saves them), or an .onnx model with --backend onnx.")
    Path model;

    @Option(names = "--weights", defaultValue = "v1", paramLabel = "v1|v2",
            description = "Which torchvision weights the file holds, for its preprocessing: v1 (resize 256) or v2 (resize 232); "
                    + "a file that declares its preprocessing (atelier.transform metadata) uses its own. Default: ${DEFAULT-VALUE}.")
    String weights;

    @Option(names = "--backend", defaultValue = "torch", paramLabel = "torch|onnx",
            description = "Run the network on libtorch or ONNX Runtime. Default: ${DEFAULT-VALUE}.")
    String backend;

    @Option(names = "--feature", defaultValue = "pooled", paramLabel = "pooled|prelogits|logits",
            description = "The 960-d pooled features, the 1280-d pre-logits or the class scores (logits). Default: ${DEFAULT-VALUE}.")
    String feature;

    @Option(names = "--batch-size", defaultValue = "32", paramLabel = "N", description = "Images per batch. Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @Mixin
    ThreadsOption threads;

    ImageEmbedder open() {
        Feature chosen = java.util.Arrays.stream(Feature.values()).filter(f -> f.name().equalsIgnoreCase(feature)).findFirst()
                .orElseThrow(() -> new InvalidInputException("unknown --feature \"" + feature + "\" (known: pooled, prelogits, logits)"));
        threads.apply();
        EmbedderOptions options = EmbedderOptions.defaults().withWeights(ImagenetWeights.fromName(weights))
                .withFeature(chosen).withBatchSize(batchSize);
        if (threads.threads > 0) {
            options = options.withThreads(threads.threads);
        }
        return ImageEmbedder.open(model, Backend.fromName(backend), options);
    }
}
