package dev.atelier.engine.index;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.atelier.engine.catalog.CatalogItem;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.testing.FuzzSeeds;
import dev.atelier.engine.util.StagedDirectory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes a saved catalog index's {@code manifest.json}: beside the data files of a real saved
 * index, any manifest bytes either load that index (or refuse it) with a {@link FormatException};
 * anything else (Jackson's exceptions, a file outside the folder opened, an allocation from a
 * lying size) is a finding. Seeds: {@code CatalogManifestFuzzTestInputs/manifest/}, made by
 * {@link #seeds()}: the saved index's own manifest and edits of it.
 */
class CatalogManifestFuzzTest {
    private static final Path DIR;
    private static final String SAVED;

    static {
        try {
            DIR = Files.createTempDirectory("atelier-fuzz-index");
            float[][] vectors = new float[5][4];
            List<CatalogItem> items = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                vectors[i][i % 4] = 1 + i;
                items.add(new CatalogItem("img/" + i + ".jpg", "id_" + i, "tops"));
            }
            try (CatalogIndex index = CatalogIndex.build(vectors, items, CatalogIndex.Options.of(IndexSpec.flat()))) {
                index.save(DIR);
            }
            SAVED = Files.readString(DIR.resolve(CatalogIndexStore.MANIFEST));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @AfterAll
    static void removeFolder() throws IOException {
        StagedDirectory.deleteTree(DIR);
    }

    @FuzzTest(maxDuration = "60s")
    void manifest(byte[] bytes) throws IOException {
        Files.write(DIR.resolve(CatalogIndexStore.MANIFEST), bytes);
        try (CatalogIndex index = CatalogIndex.load(DIR)) {
            if (index.size() != 5) {
                throw new AssertionError("loaded " + index.size() + " items from an index of 5");
            }
        } catch (FormatException expected) {
            // the one way a bad manifest may fail
        }
    }

    static Map<String, byte[]> seeds() {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("saved", SAVED);
        s.put("other-file", SAVED.replaceFirst("\"index-1\\.faiss\"", "\"../../../etc/passwd\""));
        s.put("lying-size", SAVED.replaceFirst("\"size\" : \\d+", "\"size\" : 9223372036854775807"));
        s.put("wrong-count", SAVED.replaceFirst("\"count\" : 5", "\"count\" : -1"));
        // Found by the fuzzer: JSON null (then anything) was read as a null manifest.
        s.put("null-then-garbage", "null\u0000f{\"");
        s.put("not-json", "{\"format\": \"atelier-catalog-index\", \"version\": 1, ");
        Map<String, byte[]> out = new LinkedHashMap<>();
        s.forEach((k, v) -> out.put(k, v.getBytes(StandardCharsets.UTF_8)));
        return out;
    }

    @Test
    void committedSeedsAreGenerated() {
        FuzzSeeds.check(CatalogManifestFuzzTest.class, "manifest", seeds());
    }
}
