package dev.atelier.engine.synth;

import dev.atelier.engine.util.SplitMix64;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.atelier.engine.util.StagedDirectory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The base model's training set: PNG images of garments spread evenly over every type, colour and
 * pattern (secondary colour at random), named {@code 000000.png}, ..., and {@code metadata.jsonl}
 * with one JSON object a line, in file order:
 * {@code {"file": "000000.png", "category": "jacket", "color": "navy", "secondary": "cream",
 * "pattern": "striped", "caption": "navy striped jacket"}}.
 */
public final class TrainingSet {
    /** The most images one training set holds. */
    public static final int MAX_COUNT = 1_000_000;
    public static final String METADATA = "metadata.jsonl";

    private TrainingSet() {}

    /** Writes the set into dir (which must be missing or empty), atomically; returns the number of images. */
    public static int write(Path dir, int count, int size, long seed) {
        return write(dir, count, size, seed, false);
    }

    /** As {@link #write(Path, int, int, long)}; with `replace`, an existing dir is replaced. */
    public static int write(Path dir, int count, int size, long seed, boolean replace) {
        StyleDeck.checkCount("count", count, MAX_COUNT);
        GarmentRenderer.checkSize(size);
        GarmentSpec[] specs = StyleDeck.deal(count, seed);
        try (StagedDirectory staged = StagedDirectory.begin(dir, replace)) {
            StyleDeck.parallel(count, dir, i -> {
                RenderedGarment g = GarmentRenderer.render(specs[i], size, SplitMix64.stream(seed, i));
                ImageFiles.png(g.image(), staged.path().resolve(fileName(i)));
            });
            ObjectMapper json = new ObjectMapper();
            StringBuilder lines = new StringBuilder();
            for (int i = 0; i < count; i++) {
                GarmentSpec s = specs[i];
                Map<String, String> row = new LinkedHashMap<>();
                row.put("file", fileName(i));
                row.put("category", s.type().word());
                row.put("color", s.colour().word());
                row.put("secondary", s.secondary().word());
                row.put("pattern", s.pattern().word());
                row.put("caption", s.caption());
                lines.append(json.writeValueAsString(row)).append('\n');
            }
            Files.writeString(staged.path().resolve(METADATA), lines, StandardCharsets.UTF_8);
            staged.commit();
            return count;
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        } catch (IOException e) {
            throw StagedDirectory.io(dir, e);
        }
    }

    static String fileName(int i) {
        return String.format("%06d.png", i);
    }
}
