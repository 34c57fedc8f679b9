package dev.atelier.tools;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The catalog commands with {@code --index es://...} on the 2-node test cluster that
 * scripts/test.sh starts for the tests tagged "es" (hosts: -Datelier.es.hosts): the same
 * catalog built into Elasticsearch and into a FAISS flat index must answer alike.
 */
@Tag("es")
class ElasticsearchCliTest {
    private static final String HOSTS = System.getProperty("atelier.es.hosts", "127.0.0.1:9200,127.0.0.1:9201");

    @TempDir
    Path dir;

    @Test
    void buildSearchEvaluateAndAddThroughElasticsearchMatchFaiss() throws Exception {
        Path weights = CatalogCliTest.mobilenet().resolve("mobilenet_v3_large.pth");
        Path catalog = dir.resolve("catalog");
        CliRun synth = CliRun.of("synth", "catalog", "--out", catalog.toString(), "--items", "40", "--size", "64", "--seed", "3");
        assertEquals(0, synth.code(), synth.err());
        String es = "es://" + HOSTS + "/atelier-test-cli";
        Path faiss = dir.resolve("flat.idx");

        CliRun flat = CliRun.of("index", "build", "--model", weights.toString(), "--catalog", catalog.toString(),
                "--index", faiss.toString(), "--pca", "32", "--json");
        assertEquals(0, flat.code(), flat.err());
        int items = flat.json().get("items").asInt();
        assertTrue(items >= 40, flat.out());

        Path checkpoint = dir.resolve("build.checkpoint.json");
        CliRun built = CliRun.of("index", "build", "--model", weights.toString(), "--catalog", catalog.toString(),
                "--index", es, "--pca", "32", "--replicas", "1", "--checkpoint", checkpoint.toString(), "--json");
        assertEquals(0, built.code(), built.err());
        assertEquals(items, built.json().get("items").asInt());
        assertTrue(built.json().get("concrete_index").asText().startsWith("atelier-test-cli-"), built.out());
        assertTrue(built.err().contains("pca: "), "the PCA sample is embedded with a progress bar: " + built.err());
        assertTrue(built.err().contains("index: " + items + "/" + items), "bulk progress: " + built.err());
        assertFalse(Files.exists(checkpoint), "a published build deletes its checkpoint");

        JsonNode esInfo = CliRun.of("index", "info", "--index", es, "--json").json();
        JsonNode faissInfo = CliRun.of("index", "info", "--index", faiss.toString(), "--json").json();
        assertEquals(items, esInfo.get("items").asInt());
        assertEquals(32, esInfo.get("dimension").asInt());
        assertEquals(faissInfo.get("categories"), esInfo.get("categories"), "the same items per category");

        // Every tenth catalog image as a query: the same five items, scores within float error.
        List<Path> queries = new ArrayList<>();
        try (var files = Files.walk(catalog.resolve("img"))) {
            List<Path> all = files.filter(p -> p.toString().endsWith(".jpg") || p.toString().endsWith(".png")).sorted().toList();
            for (int i = 0; i < all.size(); i += 10) {
                queries.add(all.get(i));
            }
        }
        assertFalse(queries.isEmpty());
        for (Path q : queries) {
            JsonNode a = search(faiss.toString(), weights, q);
            JsonNode b = search(es, weights, q);
            assertEquals(5, b.size(), b.toString());
            for (int r = 0; r < 5; r++) {
                assertEquals(a.get(r).get("score").asDouble(), b.get(r).get("score").asDouble(), 1e-4, q + " rank " + (r + 1));
            }
            assertEquals(new java.util.TreeSet<>(paths(a)), new java.util.TreeSet<>(paths(b)), "top 5 of " + q);
        }
        String category = faissInfo.get("categories").fieldNames().next();
        CliRun filtered = CliRun.of("search", "--index", es, "--model", weights.toString(), "--image", queries.getFirst().toString(),
                "--category", category, "--json");
        assertEquals(0, filtered.code(), filtered.err());
        for (JsonNode hit : filtered.json().get("hits")) {
            assertEquals(category, hit.get("category").asText());
        }

        Path wardrobe = queries.getFirst().getParent();
        JsonNode evalFaiss = CliRun.of("evaluate", "--model", weights.toString(), "--generated", queries.get(1).toString(),
                "--wardrobe", wardrobe.toString(), "--index", faiss.toString(), "--out", dir.resolve("e1").toString(), "--json").json();
        JsonNode evalEs = CliRun.of("evaluate", "--model", weights.toString(), "--generated", queries.get(1).toString(),
                "--wardrobe", wardrobe.toString(), "--index", es, "--out", dir.resolve("e2").toString(), "--json").json();
        assertEquals(evalFaiss.get("mean_best_similarity").asDouble(), evalEs.get("mean_best_similarity").asDouble(), 1e-5,
                "the wardrobe similarity goes through the same PCA");
        assertEquals(evalFaiss.get("results").get(0).get("catalog").get(0).get("path"),
                evalEs.get("results").get(0).get("catalog").get(0).get("path"));

        Path more = dir.resolve("more");
        Files.createDirectories(more.resolve("Coats"));
        Files.copy(queries.getFirst(), more.resolve("Coats/again.png"));
        CliRun add = CliRun.of("index", "add", "--model", weights.toString(), "--catalog", more.toString(), "--index", es, "--json");
        assertEquals(0, add.code(), add.err());
        assertEquals(items + 1, add.json().get("items").asInt());
        assertEquals(1, CliRun.of("index", "info", "--index", es, "--json").json().get("categories").get("Coats").asInt());

        // Built again: a new concrete index behind the alias, exactly the catalog again.
        CliRun rebuilt = CliRun.of("index", "build", "--model", weights.toString(), "--catalog", catalog.toString(),
                "--index", es, "--pca", "32", "--checkpoint", checkpoint.toString(), "--json");
        assertEquals(0, rebuilt.code(), rebuilt.err());
        assertNotEquals(built.json().get("concrete_index").asText(), rebuilt.json().get("concrete_index").asText());
        assertEquals(items, CliRun.of("index", "info", "--index", es, "--json").json().get("items").asInt());
    }

    @Test
    void anUnreachableClusterIsOneClearLine() {
        Path weights = CatalogCliTest.mobilenet().resolve("mobilenet_v3_large.pth");
        CliRun r = CliRun.of("search", "--index", "es://127.0.0.1:1/none", "--model", weights.toString(), "--image",
                CatalogCliTest.mobilenet().resolve("images/img2_640x480_RGB.png").toString());
        assertNotEquals(0, r.code());
        assertTrue(r.err().startsWith("atelier: ") && r.err().contains("127.0.0.1:1"), r.err());
        assertEquals(1, r.err().strip().lines().count(), "one line, no stack trace: " + r.err());
        CliRun type = CliRun.of("index", "build", "--model", weights.toString(), "--catalog", dir.toString(), "--index",
                "es://127.0.0.1:1/none", "--es-type", "ivf");
        assertEquals(2, type.code(), type.err());
        assertTrue(type.err().contains("unknown vector index type \"ivf\"; known: hnsw, int8_hnsw, flat"), type.err());
    }

    private static JsonNode search(String index, Path weights, Path image) {
        CliRun r = CliRun.of("search", "--index", index, "--model", weights.toString(), "--image", image.toString(), "--json");
        assertEquals(0, r.code(), r.err());
        return r.json().get("hits");
    }

    private static List<String> paths(JsonNode hits) {
        List<String> out = new ArrayList<>();
        hits.forEach(h -> out.add(h.get("path").asText()));
        return out;
    }
}
