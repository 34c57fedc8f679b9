package dev.atelier.tools.serve;

import static dev.atelier.tools.serve.ApiServerTest.assertError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.atelier.engine.catalog.CatalogItem;
import dev.atelier.engine.core.Progress;
import dev.atelier.engine.embed.Backend;
import dev.atelier.engine.embed.EmbedderOptions;
import dev.atelier.engine.embed.ImageEmbedder;
import dev.atelier.engine.index.CatalogIndex;
import dev.atelier.engine.index.CatalogSearch;
import dev.atelier.engine.index.CatalogSearches;
import dev.atelier.engine.index.IndexSpec;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Catalog search by image and style evaluation over real HTTP: a catalog of the fixture's images,
 * embedded by the fixture's MobileNetV3-Large, searched with one of its own images.
 */
class CatalogRoutesTest {
    @TempDir
    Path dir;

    private static String request(byte[] image, int k, String category) {
        return "{\"image\": \"data:image/png;base64," + Base64.getEncoder().encodeToString(image) + "\", \"k\": " + k
                + (category == null ? "" : ", \"category\": \"" + category + "\"") + "}";
    }

    @Test
    void anImageOfTheCatalogFindsItselfFirst() throws Exception {
        Path mobilenet = TestServer.fixtures().resolve("mobilenet_v3_large");
        List<Path> images;
        try (Stream<Path> s = Files.list(mobilenet.resolve("images"))) {
            images = s.sorted().toList();
        }
        List<CatalogItem> items = new ArrayList<>();
        for (int i = 0; i < images.size(); i++) {
            items.add(new CatalogItem(images.get(i).getFileName().toString(), "id_" + i, i % 2 == 0 ? "tops" : "dresses"));
        }
        try (ImageEmbedder embedder = ImageEmbedder.open(mobilenet.resolve("mobilenet_v3_large.safetensors"), Backend.TORCH,
                EmbedderOptions.defaults())) {
            float[][] features = embedder.embedPaths(images, Progress.NONE);
            try (CatalogIndex index = CatalogIndex.build(features, items, CatalogIndex.Options.of(IndexSpec.flat()))) {
                index.save(dir.resolve("catalog"));
            }
            try (CatalogSearch catalog = CatalogSearches.open(dir.resolve("catalog").toString());
                    TestServer s = new TestServer(dir.resolve("loras"), 8, TestServer.options().withLimits(
                            new ServerLimits(4 << 20, 2048L * 2048, 2000, 16, 4L << 20)), new CatalogRoutes.Catalog(embedder, catalog))) {
                byte[] query = Files.readAllBytes(images.get(2));
                HttpResponse<String> r = s.post("/atelier/v1/search", request(query, 3, null));
                assertEquals(200, r.statusCode(), r.body());
                JsonNode hits = TestServer.json(r).get("hits");
                assertEquals(3, hits.size());
                assertEquals(images.get(2).getFileName().toString(), hits.get(0).get("path").asText());
                assertEquals(1, hits.get(0).get("rank").asInt());
                assertTrue(hits.get(0).get("score").asDouble() > 0.999, hits.toString());
                assertTrue(hits.get(1).get("score").asDouble() <= hits.get(0).get("score").asDouble(), hits.toString());

                JsonNode dresses = TestServer.json(s.post("/atelier/v1/search", request(query, 5, "dresses"))).get("hits");
                assertEquals(images.size() / 2, dresses.size());
                dresses.forEach(h -> assertEquals("dresses", h.get("category").asText()));

                assertError(s.post("/atelier/v1/search", "{\"k\": 2}"), 400, "image");
                assertError(s.post("/atelier/v1/search", "{\"image\": \"%%%\"}"), 400, "not base64");
                assertError(s.post("/atelier/v1/search", request("not an image".getBytes(), 2, null)), 400, "image");
                assertError(s.post("/atelier/v1/search", request(query, 0, null)), 400, "k");

                // Style evaluation: image 2 against a wardrobe of images 0 and 2 is most like the second photo.
                String b64 = Base64.getEncoder().encodeToString(query);
                String other = Base64.getEncoder().encodeToString(Files.readAllBytes(images.get(0)));
                HttpResponse<String> ev = s.post("/atelier/v1/evaluate", "{\"generated\": [\"" + b64 + "\"], \"wardrobe\": [\""
                        + other + "\", \"" + b64 + "\"], \"k\": 2}");
                assertEquals(200, ev.statusCode(), ev.body());
                JsonNode result = TestServer.json(ev).get("generated").get(0);
                assertEquals("wardrobe[1]", result.get("best_wardrobe").asText());
                assertTrue(result.get("best_similarity").asDouble() > 0.999, result.toString());
                assertEquals(2, result.get("similarities").size());
                assertTrue(result.get("similarities").get(0).asDouble() < result.get("best_similarity").asDouble());
                assertEquals(images.get(2).getFileName().toString(), result.get("catalog").get(0).get("path").asText());
                double meanBest = TestServer.json(ev).get("mean_best_similarity").asDouble();
                assertEquals(result.get("best_similarity").asDouble(), meanBest, 1e-6);
                assertError(s.post("/atelier/v1/evaluate", "{\"generated\": [\"" + b64 + "\"]}"), 400, "wardrobe");
                assertError(s.post("/atelier/v1/evaluate", "{\"generated\": [5], \"wardrobe\": [\"" + b64 + "\"]}"), 400,
                        "generated");
                assertError(s.post("/atelier/v1/evaluate", "{\"generated\": [\"" + b64 + "\"], \"wardrobe\": [\""
                        + Base64.getEncoder().encodeToString("no image".getBytes()) + "\"]}"), 400, "wardrobe[0]");
            }
        }
    }
}
