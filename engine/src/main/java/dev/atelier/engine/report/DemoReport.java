package dev.atelier.engine.report;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Everything {@code atelier demo} shows in its report: the person's wardrobe, the images generated
 * in each variant (without LoRA, with this person's LoRA, with another person's LoRA) with their
 * best wardrobe match and nearest catalog items, the wardrobe similarity of each variant, the
 * training loss and the time of each stage. Immutable; the constructors check their arguments and
 * throw {@link InvalidInputException} naming the bad field. Image files are only read when the
 * report is written ({@link ReportWriter}).
 *
 * @param title    the page title, e.g. "Atelier demo: person A"
 * @param created  when the run finished
 * @param facts    model, embedder, machine, versions, ...: shown as a table in this order
 * @param wardrobe the person's photos
 * @param figures  one per variant: the variant's mean wardrobe similarity, shown at the top
 * @param variants the generated images, grouped by how they were made
 * @param loss     the LoRA training loss per step; empty when the LoRA was not trained in this run
 * @param timings  the stages of the run, in order
 * @param retrieval catalog search precision on the catalog's own query images (by type, by
 *                  pattern); empty when not measured
 */
public record DemoReport(String title, Instant created, Map<String, String> facts, List<Photo> wardrobe,
        List<SimilarityFigure> figures, List<Variant> variants, List<LossPoint> loss, List<StageTime> timings,
        List<PrecisionFigure> retrieval) {

    /** Variant key of the images generated without any LoRA. */
    public static final String WITHOUT_LORA = "base";
    /** Variant key of the images generated with the LoRA trained on this person's wardrobe. */
    public static final String WITH_LORA = "lora";
    /** Variant key of the images generated with a LoRA trained on another person's wardrobe. */
    public static final String OTHER_LORA = "other-lora";

    /** Variant keys end up in HTML attributes and CSS classes: lower-case words joined by '-'. */
    private static final Pattern KEY = Pattern.compile("[a-z0-9]+(-[a-z0-9]+)*");

    public DemoReport {
        title = text("title", title);
        Objects.requireNonNull(created, "created");
        Objects.requireNonNull(facts, "facts");
        LinkedHashMap<String, String> ordered = new LinkedHashMap<>();
        facts.forEach((k, v) -> ordered.put(text("fact name", k), Objects.requireNonNull(v, "fact " + k)));
        facts = Collections.unmodifiableMap(ordered);
        wardrobe = List.copyOf(wardrobe);
        figures = List.copyOf(figures);
        variants = List.copyOf(variants);
        loss = List.copyOf(loss);
        timings = List.copyOf(timings);
        retrieval = List.copyOf(retrieval);
        if (wardrobe.isEmpty()) {
            throw new InvalidInputException("report: the wardrobe has no photos");
        }
        Set<String> names = new HashSet<>();
        for (Variant v : variants) {
            if (!names.add(v.name())) {
                throw new InvalidInputException("report: variant '" + v.name() + "' appears twice");
            }
        }
        Set<String> seen = new HashSet<>();
        for (SimilarityFigure f : figures) {
            if (!seen.add(f.variant())) {
                throw new InvalidInputException("report: two similarity figures for variant '" + f.variant() + "'");
            }
            if (!names.contains(f.variant())) {
                throw new InvalidInputException("report: similarity figure for variant '" + f.variant()
                        + "', which has no images (variants: " + names + ")");
            }
        }
        for (int i = 1; i < loss.size(); i++) {
            if (loss.get(i).step() <= loss.get(i - 1).step()) {
                throw new InvalidInputException("report: loss steps must increase: step " + loss.get(i).step()
                        + " after " + loss.get(i - 1).step());
            }
        }
    }

    /** A report without retrieval figures. */
    public DemoReport(String title, Instant created, Map<String, String> facts, List<Photo> wardrobe,
            List<SimilarityFigure> figures, List<Variant> variants, List<LossPoint> loss, List<StageTime> timings) {
        this(title, created, facts, wardrobe, figures, variants, loss, timings, List.of());
    }

    /**
     * Precision@k of catalog search judged by one label.
     *
     * @param label   what a right hit shares with its query: "garment type", "pattern"
     * @param k       hits per query
     * @param value   the mean share of right hits, in [0, 1]
     * @param queries how many query images it averages
     * @param byLabel the mean per query label (e.g. per garment type)
     */
    public record PrecisionFigure(String label, int k, double value, int queries, Map<String, Double> byLabel) {
        public PrecisionFigure {
            label = text("precision label", label);
            share("precision by " + label, value);
            byLabel = Collections.unmodifiableMap(new java.util.TreeMap<>(byLabel));
            for (Map.Entry<String, Double> e : byLabel.entrySet()) {
                share("precision of " + e.getKey(), e.getValue());
            }
            if (k < 1 || queries < 1) {
                throw new InvalidInputException("report: precision by " + label + " needs k >= 1 and queries >= 1");
            }
        }
    }

    /** The figure of one variant, if the report has it. */
    public java.util.Optional<SimilarityFigure> figure(String variant) {
        return figures.stream().filter(f -> f.variant().equals(variant)).findFirst();
    }

    /** The sum of all stage times. */
    public Duration totalTime() {
        return timings.stream().map(StageTime::time).reduce(Duration.ZERO, Duration::plus);
    }

    /** An image file (PNG, JPEG, GIF or WebP) with a short caption. */
    public record Photo(Path image, String label) {
        public Photo {
            Objects.requireNonNull(image, "image");
            label = text("photo label", label);
        }

        /** A photo captioned with its file name. */
        public static Photo of(Path image) {
            return new Photo(image, image.getFileName().toString());
        }
    }

    /**
     * The mean wardrobe similarity of one variant's generated images.
     *
     * @param variant     the {@link Variant#name()} it belongs to
     * @param description what a reader should call it, e.g. "with this person's LoRA"
     * @param meanWardrobeSimilarity the mean over generated images of their best cosine similarity
     *        to the wardrobe photos (higher is closer), in [-1, 1]
     * @param typeFidelity     prompt fidelity: the share of the variant's images that the
     *        embedder's type head classifies as the prompted garment
     * @param catalogTypeShare the share of their top catalog items that have the prompted type
     */
    public record SimilarityFigure(String variant, String description, double meanWardrobeSimilarity,
            java.util.OptionalDouble typeFidelity, java.util.OptionalDouble catalogTypeShare) {
        public SimilarityFigure {
            variant = key("figure variant", variant);
            description = text("figure description", description);
            cosine("mean wardrobe similarity of " + variant, meanWardrobeSimilarity);
            if (typeFidelity.isPresent()) {
                share("type fidelity of " + variant, typeFidelity.getAsDouble());
            }
            if (catalogTypeShare.isPresent()) {
                share("catalog type share of " + variant, catalogTypeShare.getAsDouble());
            }
        }

        /** A figure with wardrobe similarity only. */
        public SimilarityFigure(String variant, String description, double meanWardrobeSimilarity) {
            this(variant, description, meanWardrobeSimilarity, java.util.OptionalDouble.empty(), java.util.OptionalDouble.empty());
        }
    }

    /**
     * The images generated one way.
     *
     * @param name        a key: {@link #WITHOUT_LORA}, {@link #WITH_LORA}, {@link #OTHER_LORA} or
     *                    another lower-case word ({@code [a-z0-9]+(-[a-z0-9]+)*})
     * @param description a heading, e.g. "With the LoRA trained on person A's wardrobe (weight 0.8)"
     * @param images      the images, in generation order
     */
    public record Variant(String name, String description, List<GeneratedEntry> images) {
        public Variant {
            name = key("variant name", name);
            description = text("variant description", description);
            images = List.copyOf(images);
        }
    }

    /**
     * One generated image and what the evaluation found for it.
     *
     * @param image     the PNG
     * @param settings  how it was made, as A1111's infotext (prompt, "Negative prompt: ...",
     *                  "Steps: 20, Sampler: ..., Seed: 42, ...")
     * @param bestMatch the wardrobe photo closest to it
     * @param bestScore the cosine similarity to that photo
     * @param top       the nearest catalog items, best first (usually 5)
     */
    public record GeneratedEntry(Path image, String settings, Photo bestMatch, double bestScore, List<CatalogHit> top) {
        public GeneratedEntry {
            Objects.requireNonNull(image, "image");
            Objects.requireNonNull(settings, "settings");
            Objects.requireNonNull(bestMatch, "bestMatch");
            cosine("best wardrobe score of " + image.getFileName(), bestScore);
            top = List.copyOf(top);
        }
    }

    /** A catalog item found for a generated image, with its similarity score. */
    public record CatalogHit(Path image, String itemId, String category, double score) {
        public CatalogHit {
            Objects.requireNonNull(image, "image");
            itemId = text("catalog item id", itemId);
            category = text("catalog category", category);
            finite("catalog score of " + itemId, score);
        }
    }

    /** The training loss at one optimiser step. */
    public record LossPoint(int step, double loss) {
        public LossPoint {
            if (step < 0) {
                throw new InvalidInputException("report: negative loss step " + step);
            }
            finite("loss at step " + step, loss);
        }
    }

    /**
     * How long one stage took.
     *
     * @param reused true when the stage's result came from an earlier run (then {@code time} is
     *               what loading it took)
     */
    public record StageTime(String stage, Duration time, boolean reused) {
        public StageTime {
            stage = text("stage name", stage);
            Objects.requireNonNull(time, "time");
            if (time.isNegative()) {
                throw new InvalidInputException("report: stage '" + stage + "' has a negative time " + time);
            }
        }
    }

    private static String text(String what, String value) {
        if (value == null || value.isBlank()) {
            throw new InvalidInputException("report: " + what + " is empty");
        }
        return value;
    }

    private static String key(String what, String value) {
        if (value == null || !KEY.matcher(value).matches()) {
            throw new InvalidInputException("report: " + what + " '" + value
                    + "' must be lower-case words joined by '-', e.g. " + OTHER_LORA);
        }
        return value;
    }

    private static void finite(String what, double value) {
        if (!Double.isFinite(value)) {
            throw new InvalidInputException("report: " + what + " is " + value);
        }
    }

    private static void cosine(String what, double value) {
        finite(what, value);
        // float rounding can put a cosine of unit vectors a hair outside [-1, 1]
        if (value < -1.001 || value > 1.001) {
            throw new InvalidInputException("report: " + what + " is " + value + ", outside [-1, 1]");
        }
    }

    private static void share(String what, double value) {
        finite(what, value);
        if (value < 0 || value > 1) {
            throw new InvalidInputException("report: " + what + " is " + value + ", outside [0, 1]");
        }
    }
}
