package dev.atelier.engine.catalog;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.testing.FuzzSeeds;
import dev.atelier.engine.util.StagedDirectory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the DeepFashion list files through {@link DeepFashionInShop#read}: any bytes as
 * {@code Eval/list_eval_partition.txt} either give a catalog whose every image lies inside the
 * dataset folder or fail with a {@link FormatException} naming the file and line; anything else
 * (a NumberFormatException, an index out of bounds, a name that escapes the folder) is a finding.
 * Seeds: {@code DeepFashionFuzzTestInputs/inShopPartition/}, made by {@link #seeds()}.
 */
class DeepFashionFuzzTest {
    private static final Path ROOT;

    static {
        try {
            ROOT = Files.createTempDirectory("atelier-fuzz-inshop").toRealPath();
            Path image = ROOT.resolve("img/WOMEN/Dresses/id_00000002/02_1_front.jpg");
            Files.createDirectories(image.getParent());
            Files.write(image, new byte[] {(byte) 0xff, (byte) 0xd8});
            Files.createDirectories(ROOT.resolve("Eval"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @AfterAll
    static void removeFolder() throws IOException {
        StagedDirectory.deleteTree(ROOT);
    }

    @FuzzTest(maxDuration = "60s")
    void inShopPartition(byte[] bytes) throws IOException {
        Files.write(ROOT.resolve("Eval/list_eval_partition.txt"), bytes);
        try {
            Catalog catalog = DeepFashionInShop.read(ROOT);
            for (CatalogImage image : catalog.images()) {
                if (!ROOT.resolve(image.item().path()).normalize().startsWith(ROOT)) {
                    throw new AssertionError("an image outside the dataset: " + image.item().path());
                }
            }
        } catch (FormatException expected) {
            // the one way a bad list may fail
        }
    }

    static Map<String, byte[]> seeds() {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("one-image", "1\nimage_name item_id evaluation_status\nimg/WOMEN/Dresses/id_00000002/02_1_front.jpg id_00000002 train\n");
        s.put("missing-image-and-query", "2\nimage_name item_id evaluation_status\n"
                + "img/WOMEN/Dresses/id_00000002/02_1_front.jpg id_00000002 query\n"
                + "img/MEN/Denim/id_00000080/01_1_front.jpg id_00000080 gallery\n");
        s.put("escape", "1\nimage_name item_id evaluation_status\n../../etc/passwd id_1 train\n");
        s.put("count-mismatch", "7\nimage_name item_id evaluation_status\n\nimg/a.jpg\tid_1\ttrain\n\n");
        Map<String, byte[]> out = new LinkedHashMap<>();
        s.forEach((k, v) -> out.put(k, v.getBytes(StandardCharsets.UTF_8)));
        return out;
    }

    @Test
    void committedSeedsAreGenerated() {
        FuzzSeeds.check(DeepFashionFuzzTest.class, "inShopPartition", seeds());
    }
}
