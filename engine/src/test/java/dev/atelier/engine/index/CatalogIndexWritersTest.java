package dev.atelier.engine.index;

import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.catalog.CatalogItem;
import dev.atelier.engine.util.FolderLock;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Several writers of one index folder: each one's items are kept and the index stays loadable. */
class CatalogIndexWritersTest {
    static final int DIM = 16;

    @TempDir
    Path dir;

    private static float[][] vectors(int n, long seed) {
        Random r = new Random(seed);
        float[][] v = new float[n][DIM];
        for (float[] row : v) {
            for (int i = 0; i < DIM; i++) {
                row[i] = (float) r.nextGaussian();
            }
        }
        return v;
    }

    private static List<CatalogItem> items(String prefix, int n) {
        List<CatalogItem> items = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            items.add(new CatalogItem(prefix + i + ".jpg", prefix + i, "tops"));
        }
        return items;
    }

    /** What `index add` does: under the folder's lock, read the index, add, save. */
    private void add(String prefix, int n, long seed) {
        try (FolderLock writer = FolderLock.acquire(dir, "add " + prefix, Duration.ofSeconds(60));
                CatalogIndex index = CatalogIndex.load(dir)) {
            index.add(vectors(n, seed), items(prefix, n));
            index.save(dir);
        }
    }

    @Test
    void concurrentAddsEachKeepTheirItems() throws Exception {
        try (CatalogIndex base = CatalogIndex.build(vectors(20, 1), items("base", 20), CatalogIndex.Options.of(IndexSpec.flat()))) {
            base.save(dir);
        }
        int writers = 4, each = 5;
        ExecutorService pool = Executors.newFixedThreadPool(writers);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int w = 0; w < writers; w++) {
                int id = w;
                done.add(pool.submit(() -> add("w" + id + "-", each, 100 + id)));
            }
            for (Future<?> f : done) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        try (CatalogIndex back = CatalogIndex.load(dir)) {
            assertEquals(20 + writers * each, back.size(), "no writer's batch vanished");
            Set<String> ids = new HashSet<>();
            back.items().forEach(i -> ids.add(i.itemId()));
            for (int w = 0; w < writers; w++) {
                assertTrue(ids.contains("w" + w + "-" + (each - 1)), "items of writer " + w);
            }
        }
    }

    @Test
    void concurrentSavesLeaveAnIndexThatPassesItsChecksums() throws Exception {
        int writers = 4;
        List<CatalogIndex> indexes = new ArrayList<>();
        try {
            for (int w = 0; w < writers; w++) {
                indexes.add(CatalogIndex.build(vectors(30 + w, w), items("s" + w + "-", 30 + w),
                        CatalogIndex.Options.of(w % 2 == 0 ? IndexSpec.flat() : IndexSpec.hnsw())));
            }
            ExecutorService pool = Executors.newFixedThreadPool(writers);
            try {
                List<Future<?>> done = new ArrayList<>();
                for (CatalogIndex index : indexes) {
                    done.add(pool.submit(() -> {
                        for (int i = 0; i < 10; i++) {
                            index.save(dir);
                        }
                    }));
                }
                for (Future<?> f : done) {
                    f.get();
                }
            } finally {
                pool.shutdownNow();
            }
        } finally {
            indexes.forEach(CatalogIndex::close);
        }
        try (CatalogIndex back = CatalogIndex.load(dir)) {
            assertTrue(back.size() >= 30 && back.size() < 30 + writers, "one of the indexes, whole: " + back.size());
        }
        try (Stream<Path> s = Files.list(dir)) {
            List<String> names = s.map(p -> p.getFileName().toString()).sorted().toList();
            assertEquals(3, names.size(), "manifest, index and items of one generation only: " + names);
        }
    }

    @Test
    void aSaveRemovesTheTemporaryFilesOfAKilledSave() throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve(".index-7.faiss.0123456789abcdef.tmp"), "half an index");
        try (CatalogIndex a = CatalogIndex.build(vectors(10, 4), items("a", 10), CatalogIndex.Options.of(IndexSpec.flat()))) {
            a.save(dir);
        }
        try (Stream<Path> s = Files.list(dir)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().endsWith(".tmp")));
        }
    }

    /** A save that completes between a reader's manifest and its data files deletes those files. */
    @Test
    void aReaderRacingASaveLoadsTheNewGeneration() {
        try (CatalogIndex base = CatalogIndex.build(vectors(20, 1), items("base", 20), CatalogIndex.Options.of(IndexSpec.flat()));
                CatalogIndex replacement = CatalogIndex.build(vectors(7, 2), items("new", 7),
                        CatalogIndex.Options.of(IndexSpec.flat()))) {
            base.save(dir);
            int[] manifestsRead = {0};
            try (CatalogIndex back = CatalogIndexStore.load(dir, () -> {
                if (manifestsRead[0]++ == 0) {
                    replacement.save(dir);
                }
            })) {
                assertEquals(2, manifestsRead[0], "the first attempt found its files gone and read the new manifest");
                assertEquals(7, back.size());
                assertEquals("new0", back.items().get(0).itemId());
            }
        }
    }

    @Test
    void aReaderGivesUpWhenEveryAttemptIsReplaced() {
        try (CatalogIndex base = CatalogIndex.build(vectors(20, 1), items("base", 20), CatalogIndex.Options.of(IndexSpec.flat()))) {
            base.save(dir);
            var e = assertThrows(dev.atelier.engine.core.AtelierException.FormatException.class,
                    () -> CatalogIndexStore.load(dir, () -> base.save(dir)).close());
            assertTrue(e.getMessage().contains("replaced " + CatalogIndexStore.LOAD_ATTEMPTS + " times"), e.getMessage());
        }
    }
}
