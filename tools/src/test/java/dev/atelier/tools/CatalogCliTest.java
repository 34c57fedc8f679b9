package dev.atelier.tools;

import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.safetensors.SafeTensorsFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** embed, index build/add/info, search, evaluate and export-onnx on the fixture MobileNetV3 and images. */
class CatalogCliTest {
    @TempDir
    Path dir;

    private static CliRun run(String... args) {
        return CliRun.of(args);
    }

    static Path mobilenet() {
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            Path p = d.resolve("shared/fixtures/sd15-tiny/mobilenet_v3_large");
            if (Files.isDirectory(p)) {
                return p;
            }
        }
        throw new IllegalStateException("fixtures not found: expected ../shared/fixtures beside the repository");
    }

    @Test
    void theCatalogWorkflowFromTheCommandLine() throws IOException {
        Path weights = mobilenet().resolve("mobilenet_v3_large.pth");
        Path images = mobilenet().resolve("images");
        Path catalog = dir.resolve("catalog");
        Files.createDirectories(catalog.resolve("Jackets"));
        Files.createDirectories(catalog.resolve("Dresses"));
        try (Stream<Path> s = Files.list(images)) {
            int i = 0;
            for (Path p : s.sorted().toList()) {
                Files.copy(p, catalog.resolve(i++ % 2 == 0 ? "Jackets" : "Dresses").resolve(p.getFileName()));
            }
        }

        CliRun embed = run("embed", "--model", weights.toString(), "--images", images.toString(), "--out",
                dir.resolve("e.safetensors").toString(), "--json", "--threads", "1", "--batch-size", "3");
        assertEquals(0, embed.code(), embed.err());
        assertEquals(4, embed.json().get("images").asInt());
        assertEquals(960, embed.json().get("dim").asInt());
        assertTrue(embed.err().contains("embed: 4/4 img (100%)"), "progress on stderr: " + embed.err());
        try (SafeTensorsFile f = SafeTensorsFile.open(dir.resolve("e.safetensors"))) {
            assertArrayEquals(new long[] {4, 960}, f.info("embeddings").orElseThrow().shape());
            assertTrue(f.metadata().get("paths").contains("img0_300x400_RGB.png"));
        }

        Path index = dir.resolve("catalog.idx");
        CliRun build = run("index", "build", "--model", weights.toString(), "--catalog", catalog.toString(),
                "--index", index.toString(), "--pca", "0", "--json");
        assertEquals(0, build.code(), build.err());
        assertEquals(4, build.json().get("items").asInt());
        assertTrue(build.err().contains("embed: 4/4 img"), build.err());
        CliRun info = run("index", "info", "--index", index.toString(), "--json");
        assertEquals(0, info.code(), info.err());
        assertEquals(4, info.json().get("items").asInt());
        assertEquals(2, info.json().get("categories").get("Jackets").asInt());

        Path query = images.resolve("img2_640x480_RGB.png");
        CliRun search = run("search", "--index", index.toString(), "--model", weights.toString(), "--image",
                query.toString(), "-k", "2", "--json");
        assertEquals(0, search.code(), search.err());
        assertEquals(2, search.json().get("hits").size());
        assertTrue(search.json().get("hits").get(0).get("path").asText().endsWith("img2_640x480_RGB.png"),
                "the image itself comes first: " + search.out());
        CliRun filtered = run("search", "--index", index.toString(), "--model", weights.toString(), "--image",
                query.toString(), "--category", "Dresses");
        assertEquals(0, filtered.code(), filtered.err());
        assertFalse(filtered.out().contains("Jackets"), filtered.out());

        Path more = dir.resolve("more");
        Files.createDirectories(more.resolve("Coats"));
        Files.copy(query, more.resolve("Coats/again.png"));
        CliRun add = run("--json", "index", "add", "--model", weights.toString(), "--catalog", more.toString(), "--index",
                index.toString());
        assertEquals(0, add.code(), add.err());
        assertEquals(1, add.json().get("added").asInt());
        assertEquals(5, add.json().get("items").asInt());
        assertTrue(run("index", "info", "--index", index.toString()).out().contains("Coats"));

        Path report = dir.resolve("eval");
        CliRun eval = run("evaluate", "--model", weights.toString(), "--generated", query.toString(), "--wardrobe",
                images.toString(), "--index", index.toString(), "--out", report.toString());
        assertEquals(0, eval.code(), eval.err());
        assertTrue(eval.out().contains("mean best similarity 1.0000"), eval.out());
        assertTrue(eval.err().contains("embed: 5/5 img"), eval.err());
        assertTrue(Files.readString(report.resolve("evaluation.html")).contains("data:image/png;base64,"));
        CliRun evalJson = run("evaluate", "--model", weights.toString(), "--generated", query.toString(), "--wardrobe",
                images.toString(), "--index", index.toString(), "--out", report.toString(), "-k", "2", "--json");
        assertEquals(0, evalJson.code(), evalJson.err());
        assertEquals(1.0, evalJson.json().get("mean_best_similarity").asDouble(), 1e-4);
        assertEquals(2, evalJson.json().get("results").get(0).get("catalog").size());

        CliRun onnx = run("export-onnx", "--model", weights.toString(), "--out", dir.resolve("m.onnx").toString(), "--json");
        assertEquals(0, onnx.code(), onnx.err());
        assertEquals(dir.resolve("m.onnx").toString(), onnx.json().get("out").asText());
        CliRun viaOnnx = run("search", "--index", index.toString(), "--model", dir.resolve("m.onnx").toString(),
                "--backend", "onnx", "--image", query.toString(), "-k", "1");
        assertEquals(0, viaOnnx.code(), viaOnnx.err());
        assertTrue(viaOnnx.out().contains("img2_640x480_RGB.png") || viaOnnx.out().contains("again.png"), viaOnnx.out());
    }

    @Test
    void badInputExitsWithTwoAndNamesTheProblem() {
        CliRun r = run("search", "--index", dir.resolve("none").toString(), "--model",
                mobilenet().resolve("mobilenet_v3_large.pth").toString(), "--image", dir.resolve("missing.png").toString());
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("atelier: "), r.err());
        CliRun backend = run("embed", "--model", "x.safetensors", "--backend", "tpu", "--images",
                mobilenet().resolve("images").toString(), "--out", dir.resolve("o").toString());
        assertEquals(2, backend.code());
        assertTrue(backend.err().contains("unknown backend \"tpu\"; known: torch, onnx"), backend.err());
    }

    /** embed reads every image's header before the embedder loads: a bad one needs no native library. */
    @Test
    void aBadImageIsRefusedBeforeTheEmbedderLoads() throws Exception {
        Path images = Files.createDirectories(dir.resolve("photos"));
        try (Stream<Path> s = Files.list(mobilenet().resolve("images"))) {
            Path first = s.filter(p -> p.toString().endsWith(".png")).sorted().findFirst().orElseThrow();
            Files.copy(first, images.resolve("a.png"));
        }
        Files.writeString(images.resolve("b.png"), "not an image");
        CliRun r = CliRun.withoutNativeLibrary(dir, java.util.List.of("embed", "--model",
                mobilenet().resolve("mobilenet_v3_large.pth").toString(), "--images", images.toString(), "--out",
                dir.resolve("e.safetensors").toString()));
        assertEquals(2, r.code(), r.out());
        assertTrue(r.out().contains("b.png") && r.out().contains("not a readable image"), r.out());
        assertFalse(r.out().contains("libatelier") || Files.exists(dir.resolve("e.safetensors")), r.out());
    }
}
