package dev.atelier.engine.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.report.DemoReport.CatalogHit;
import dev.atelier.engine.report.DemoReport.GeneratedEntry;
import dev.atelier.engine.report.DemoReport.LossPoint;
import dev.atelier.engine.report.DemoReport.Photo;
import dev.atelier.engine.report.DemoReport.SimilarityFigure;
import dev.atelier.engine.report.DemoReport.StageTime;
import dev.atelier.engine.report.DemoReport.Variant;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** The report's records reject what would make a wrong or broken page, with messages naming the field. */
class DemoReportTest {
    private static final Photo PHOTO = new Photo(Path.of("w.png"), "w");
    private static final Variant BASE = new Variant("base", "Without LoRA", List.of());

    @Test
    void validReportKeepsFactOrderAndCopiesLists() {
        Map<String, String> facts = new LinkedHashMap<>();
        facts.put("z", "1");
        facts.put("a", "2");
        List<Photo> wardrobe = new ArrayList<>(List.of(PHOTO));
        DemoReport r = report(facts, wardrobe, List.of(new SimilarityFigure("base", "Without", 0.5)), List.of(BASE), List.of(),
                List.of(new StageTime("a", Duration.ofSeconds(2), false), new StageTime("b", Duration.ofMillis(500), true)));
        wardrobe.clear();
        facts.put("m", "3");
        assertEquals(1, r.wardrobe().size());
        assertEquals(List.of("z", "a"), List.copyOf(r.facts().keySet()));
        assertEquals(Duration.ofMillis(2500), r.totalTime());
        assertEquals(0.5, r.figure("base").orElseThrow().meanWardrobeSimilarity());
        assertThrows(UnsupportedOperationException.class, () -> r.wardrobe().add(PHOTO));
        assertThrows(UnsupportedOperationException.class, () -> r.facts().put("x", "y"));
        assertEquals("photo.jpg", Photo.of(Path.of("/a/photo.jpg")).label());
    }

    @Test
    void invalidReportsAreRejected() {
        rejects("wardrobe has no photos", () -> report(Map.of(), List.of(), List.of(), List.of(), List.of(), List.of()));
        rejects("variant 'base' appears twice",
                () -> report(Map.of(), List.of(PHOTO), List.of(), List.of(BASE, BASE), List.of(), List.of()));
        rejects("two similarity figures for variant 'base'", () -> report(Map.of(), List.of(PHOTO),
                List.of(new SimilarityFigure("base", "x", 0.1), new SimilarityFigure("base", "y", 0.2)), List.of(BASE), List.of(), List.of()));
        rejects("figure for variant 'lora', which has no images", () -> report(Map.of(), List.of(PHOTO),
                List.of(new SimilarityFigure("lora", "x", 0.1)), List.of(BASE), List.of(), List.of()));
        rejects("loss steps must increase: step 3 after 5", () -> report(Map.of(), List.of(PHOTO), List.of(), List.of(),
                List.of(new LossPoint(5, 0.1), new LossPoint(3, 0.1)), List.of()));
        rejects("title is empty", () -> new DemoReport(" ", Instant.EPOCH, Map.of(), List.of(PHOTO), List.of(), List.of(), List.of(),
                List.of()));
    }

    @Test
    void invalidPartsAreRejected() {
        rejects("variant name 'With LoRA' must be lower-case words", () -> new Variant("With LoRA", "x", List.of()));
        rejects("figure variant 'a\"b'", () -> new SimilarityFigure("a\"b", "x", 0.1));
        rejects("mean wardrobe similarity of base is NaN", () -> new SimilarityFigure("base", "x", Double.NaN));
        rejects("outside [-1, 1]", () -> new SimilarityFigure("base", "x", 1.5));
        rejects("best wardrobe score of g.png is Infinity",
                () -> new GeneratedEntry(Path.of("g.png"), "", PHOTO, Double.POSITIVE_INFINITY, List.of()));
        rejects("catalog category is empty", () -> new CatalogHit(Path.of("c.jpg"), "id", "", 0.1));
        rejects("catalog score of id is NaN", () -> new CatalogHit(Path.of("c.jpg"), "id", "tops", Double.NaN));
        rejects("loss at step 4 is NaN", () -> new LossPoint(4, Double.NaN));
        rejects("negative loss step -1", () -> new LossPoint(-1, 0.1));
        rejects("stage 'x' has a negative time", () -> new StageTime("x", Duration.ofSeconds(-1), false));
        rejects("photo label is empty", () -> new Photo(Path.of("p.png"), ""));
    }

    private static DemoReport report(Map<String, String> facts, List<Photo> wardrobe, List<SimilarityFigure> figures,
            List<Variant> variants, List<LossPoint> loss, List<StageTime> timings) {
        return new DemoReport("t", Instant.EPOCH, facts, wardrobe, figures, variants, loss, timings);
    }

    private static void rejects(String message, Executable e) {
        InvalidInputException x = assertThrows(InvalidInputException.class, e);
        assertTrue(x.getMessage().contains(message), x.getMessage());
    }
}
