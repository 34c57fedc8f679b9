package dev.atelier.engine.eval;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.atelier.engine.catalog.CatalogItem;
import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.Progress;
import dev.atelier.engine.embed.Backend;
import dev.atelier.engine.embed.EmbedderOptions;
import dev.atelier.engine.embed.ImageEmbedder;
import dev.atelier.engine.index.CatalogIndex;
import dev.atelier.engine.index.IndexSpec;
import dev.atelier.engine.testing.Fixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Both embedding backends on the fixture images, and the evaluation built on them. */
class StyleEvaluationTest {
    private static final Path MOBILENET = Fixtures.sd15Tiny().resolve("mobilenet_v3_large");

    @TempDir
    Path dir;

    private static List<Path> images() throws IOException {
        try (Stream<Path> s = Files.list(MOBILENET.resolve("images"))) {
            return s.sorted().toList();
        }
    }

    private static double cosine(float[] a, float[] b) {
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < a.length; i++) {
            ab += (double) a[i] * b[i];
            aa += (double) a[i] * a[i];
            bb += (double) b[i] * b[i];
        }
        return ab / Math.sqrt(aa * bb);
    }

    @Test
    void onnxAgreesWithLibtorchAndPthWithSafetensors() throws IOException {
        List<Path> images = images();
        EmbedderOptions options = EmbedderOptions.defaults().withBatchSize(3);
        float[][] torch, onnx, pth;
        try (ImageEmbedder e = ImageEmbedder.open(MOBILENET.resolve("mobilenet_v3_large.safetensors"), Backend.TORCH, options)) {
            assertEquals(960, e.dim());
            torch = e.embedPaths(images, Progress.NONE);
        }
        try (ImageEmbedder e = ImageEmbedder.open(MOBILENET.resolve("mobilenet_v3_large.safetensors"), Backend.ONNX, options)) {
            assertEquals(960, e.dim());
            onnx = e.embedPaths(images, Progress.NONE);
        }
        try (ImageEmbedder e = ImageEmbedder.open(MOBILENET.resolve("mobilenet_v3_large.pth"), Backend.TORCH, options)) {
            pth = e.embedPaths(images, Progress.NONE);
        }
        for (int i = 0; i < images.size(); i++) {
            double c = cosine(torch[i], onnx[i]);
            System.out.printf("%s: cosine(torch, onnx) = %.9f%n", images.get(i).getFileName(), c);
            assertTrue(c >= 0.99999, images.get(i) + ": cosine " + c);
            assertArrayEquals(torch[i], pth[i], images.get(i) + ": .pth and .safetensors differ");
        }
    }

    @Test
    void anOnnxFileNeedsTheOnnxBackend() {
        var e = assertThrows(AtelierException.InvalidInputException.class,
                () -> ImageEmbedder.open(dir.resolve("m.onnx"), Backend.TORCH, EmbedderOptions.defaults()));
        assertTrue(e.getMessage().contains("--backend onnx"), e.getMessage());
        assertThrows(AtelierException.InvalidInputException.class, () -> Backend.fromName("tpu"));
    }

    @Test
    void evaluationFindsTheSamePhotoAndWritesItsReports() throws IOException {
        List<Path> images = images();
        try (ImageEmbedder e = ImageEmbedder.open(MOBILENET.resolve("mobilenet_v3_large.safetensors"), Backend.TORCH,
                EmbedderOptions.defaults())) {
            float[][] features = e.embedPaths(images, Progress.NONE);
            List<CatalogItem> items = new ArrayList<>();
            for (int i = 0; i < images.size(); i++) {
                items.add(new CatalogItem(images.get(i).toString(), "id_" + i, i % 2 == 0 ? "Jackets" : "Dresses"));
            }
            try (CatalogIndex index = CatalogIndex.build(features, items, CatalogIndex.Options.of(IndexSpec.flat()))) {
                // Generated = the first two photos; wardrobe = all of them: each best match is itself.
                List<Path> generated = images.subList(0, 2);
                StyleEvaluation.Report report = StyleEvaluation.evaluate(e, index, generated, images, 3, Optional.empty(),
                        Progress.NONE);
                for (int g = 0; g < generated.size(); g++) {
                    StyleEvaluation.GeneratedResult r = report.results().get(g);
                    assertEquals(g, r.bestWardrobe());
                    assertEquals(1.0, r.bestSimilarity(), 1e-5);
                    assertEquals(3, r.catalog().size());
                    assertEquals("id_" + g, r.catalog().getFirst().item().itemId());
                    for (float s : r.similarities()) {
                        assertTrue(s <= 1.0001f && s >= -1.0001f);
                    }
                }
                assertEquals(1.0, report.meanBest(), 1e-5);
                assertTrue(report.meanSimilarity() < 1.0);
                StyleEvaluation.Report jackets = StyleEvaluation.evaluate(e, index, generated, images, 5,
                        Optional.of("Jackets"), Progress.NONE);
                jackets.results().forEach(r -> r.catalog().forEach(c -> assertEquals("Jackets", c.item().category())));

                ReportFiles.write(report, dir);
                JsonNode json = new ObjectMapper().readTree(dir.resolve("evaluation.json").toFile());
                assertEquals(2, json.get("generated").size());
                assertEquals(3, json.get("generated").get(0).get("catalog").size());
                assertEquals(1 + 2 * images.size(), Files.readAllLines(dir.resolve("similarity.csv")).size());
                String html = Files.readString(dir.resolve("evaluation.html"));
                assertTrue(html.contains("data:image/png;base64,"), "thumbnails are embedded");
                assertFalse(html.contains("http://") || html.contains("https://"), "no network references");
                assertTrue(html.contains("id=\"mean-best\">1.0000"), "the mean is shown");
            }
        }
    }

    @Test
    void emptyInputsAreClearErrors() {
        assertThrows(AtelierException.InvalidInputException.class,
                () -> StyleEvaluation.evaluate(null, null, List.of(), List.of(Path.of("x")), 5, Optional.empty(), Progress.NONE));
    }
}
