package dev.atelier.engine.demo;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.util.AtomicFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;

/**
 * The demo's evaluation as it is stored ({@code evaluate/evaluation.json}) so that a later run
 * can write the report without computing anything again. Paths are relative to the work folder.
 *
 * @param wardrobe the person's photos, in the order of {@link ImageResult#similarities()}
 * @param variants one per way of generating (without LoRA, with the person's, with the other's)
 */
public record Evaluation(List<String> wardrobe, List<VariantResult> variants) {

    /**
     * @param name           report key: base, lora, other-lora
     * @param description    what it is, in words
     * @param meanBest       mean over images of the best wardrobe similarity (the headline figure)
     * @param meanSimilarity mean over all (image, wardrobe photo) pairs
     */
    public record VariantResult(String name, String description, double meanBest, double meanSimilarity,
            List<ImageResult> images) {}

    /** One generated image: how it was made, its wardrobe similarities and its nearest catalog items. */
    public record ImageResult(String image, String settings, float[] similarities, int bestWardrobe, double bestScore,
            List<Hit> catalog) {}

    /** A catalog item near a generated image. */
    public record Hit(String image, String itemId, String category, double score) {}

    private static final ObjectMapper JSON = new ObjectMapper();

    public void write(Path file) {
        try {
            byte[] bytes = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(this);
            AtomicFiles.write(file, ch -> ch.write(ByteBuffer.wrap(bytes)));
        } catch (IOException e) {
            throw new FormatException(file + ": cannot write the evaluation: " + e.getMessage());
        }
    }

    public static Evaluation read(Path file) {
        try {
            return JSON.readValue(file.toFile(), Evaluation.class);
        } catch (IOException e) {
            throw new FormatException(file + ": cannot read the evaluation: " + e.getMessage());
        }
    }

    public VariantResult variant(String name) {
        return variants.stream().filter(v -> v.name().equals(name)).findFirst()
                .orElseThrow(() -> new FormatException("the evaluation has no variant " + name));
    }
}
