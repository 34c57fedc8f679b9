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
 * @param wardrobe  the person's photos, in the order of {@link ImageResult#similarities()}
 * @param variants  one per way of generating (without LoRA, with the person's, with the other's)
 * @param garment   the garment type the prompt asks for (a label of the embedder's type head),
 *                  or null when the prompt names none or the embedder has no type head
 * @param retrieval catalog search precision on the catalog's query images, or null
 */
public record Evaluation(List<String> wardrobe, List<VariantResult> variants, String garment, Retrieval retrieval) {

    /**
     * @param name           report key: base, lora, other-lora
     * @param description    what it is, in words
     * @param meanBest       mean over images of the best wardrobe similarity (the headline figure)
     * @param meanSimilarity mean over all (image, wardrobe photo) pairs
     * @param typeFidelity   share of images the type head classifies as the garment (null without one)
     * @param catalogTypeShare share of the images' top catalog items of the garment's category (null without one)
     */
    public record VariantResult(String name, String description, double meanBest, double meanSimilarity,
            Double typeFidelity, Double catalogTypeShare, List<ImageResult> images) {}

    /**
     * One generated image: how it was made, its wardrobe similarities, its nearest catalog items and
     * the garment type the embedder sees in it (null when the embedder has no type head).
     */
    public record ImageResult(String image, String settings, float[] similarities, int bestWardrobe, double bestScore,
            List<Hit> catalog, String seenType) {}

    /** Precision@k of catalog search by type and by pattern (pattern null when no query has one). */
    public record Retrieval(int k, Precision type, Precision pattern) {}

    /** One precision figure: the mean over queries, their number, and the mean per query label. */
    public record Precision(double value, int queries, java.util.Map<String, Double> byLabel) {
        static Precision of(dev.atelier.engine.eval.RetrievalPrecision.Figure f) {
            return new Precision(f.precision(), f.queries(), f.byLabel());
        }
    }

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
