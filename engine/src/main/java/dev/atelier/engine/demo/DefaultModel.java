package dev.atelier.engine.demo;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.Settings;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The embedded default: a small SD1.x-architecture checkpoint the project trained itself on its own
 * generated garments ({@code scripts/default-model/}), committed under {@code models/default/}
 * with its LDM config and its own BPE vocabulary.
 *
 * @param checkpoint model.safetensors (LDM single-file layout, fp16 weights)
 * @param config     model.yaml (v1-inference.yaml keys)
 * @param tokenizer  folder with vocab.json and merges.txt
 * @param embedder   MobileNetV3-Large trained by the project on its garments
 *                   ({@code scripts/embedder/}): torchvision's layout, fp16, with garment type,
 *                   pattern and colour heads and its preprocessing in the metadata ({@code EmbedderCard})
 */
public record DefaultModel(Path checkpoint, Path config, Path tokenizer, Path embedder) {
    static final String FOLDER = "models/default";
    /** The side of the images the default model was trained on and generates. */
    public static final int IMAGE_SIZE = 64;

    /** In {@code dir}, checking that every file is there. */
    public static DefaultModel in(Path dir) {
        DefaultModel m = new DefaultModel(dir.resolve("model.safetensors"), dir.resolve("model.yaml"), dir.resolve("tokenizer"),
                dir.resolve("embedder/mobilenet_v3_large.safetensors"));
        for (Path p : new Path[] {m.checkpoint, m.config, m.tokenizer.resolve("vocab.json"), m.tokenizer.resolve("merges.txt"), m.embedder}) {
            if (!Files.isRegularFile(p)) {
                throw new InvalidInputException(p + ": missing file of the default model (" + FOLDER + " in the repository)");
            }
        }
        return m;
    }

    /** {@code models/default} under {@code atelier.root}, or under the working directory or one of its parents. */
    public static DefaultModel locate() {
        Path start = Settings.fromSystemProperties().root().orElse(Path.of("").toAbsolutePath());
        for (Path dir = start.toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path candidate = dir.resolve(FOLDER);
            if (Files.isRegularFile(candidate.resolve("model.safetensors"))) {
                return in(candidate);
            }
        }
        throw new InvalidInputException("the default model (" + FOLDER + "/model.safetensors) was not found from " + start
                + "; run from the repository or set -Datelier.root");
    }
}
