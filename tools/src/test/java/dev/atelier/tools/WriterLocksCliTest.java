package dev.atelier.tools;

import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.util.FolderLock;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A second writer of an index folder fails at once with a clear message (exit 2) and loses nothing. */
class WriterLocksCliTest {
    @TempDir
    Path dir;

    @Test
    void aSecondIndexWriterFailsClearlyAndTheFirstOnesItemsStay() throws Exception {
        Path weights = CatalogCliTest.mobilenet().resolve("mobilenet_v3_large.pth");
        Path catalog = dir.resolve("catalog");
        Files.createDirectories(catalog.resolve("Jackets"));
        try (Stream<Path> s = Files.list(CatalogCliTest.mobilenet().resolve("images"))) {
            for (Path p : s.sorted().limit(2).toList()) {
                Files.copy(p, catalog.resolve("Jackets").resolve(p.getFileName()));
            }
        }
        Path index = dir.resolve("cat.idx");
        CliRun build = CliRun.of("index", "build", "--model", weights.toString(), "--catalog", catalog.toString(), "--index",
                index.toString(), "--pca", "0", "--json");
        assertEquals(0, build.code(), build.err());

        // Another writer (here a task of this process, as `index add` in another process would be) holds the index.
        CountDownLatch held = new CountDownLatch(1), done = new CountDownLatch(1);
        CompletableFuture<Void> other = CompletableFuture.runAsync(() -> {
            try (FolderLock lock = FolderLock.acquire(index, "atelier index add", Duration.ZERO)) {
                held.countDown();
                done.await();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        assertTrue(held.await(30, TimeUnit.SECONDS));
        try {
            for (String command : new String[] {"add", "build"}) {
                CliRun second = CliRun.of("index", command, "--model", weights.toString(), "--catalog", catalog.toString(),
                        "--index", index.toString());
                assertEquals(2, second.code(), command + ": " + second.err());
                assertTrue(second.err().contains(index.toString()) && second.err().contains("in use by")
                        && second.err().contains("atelier index add"), second.err());
                assertFalse(second.err().contains("embed:"), "refused before any work: " + second.err());
            }
        } finally {
            done.countDown();
            other.get(30, TimeUnit.SECONDS);
        }
        CliRun add = CliRun.of("--json", "index", "add", "--model", weights.toString(), "--catalog", catalog.toString(),
                "--index", index.toString());
        assertEquals(0, add.code(), add.err());
        assertEquals(4, add.json().get("items").asInt(), "the first build's items and the added ones");
        try (Stream<Path> s = Files.list(index)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().equals(FolderLock.FILE)), "no lock file left behind");
        }
        CliRun missing = CliRun.of("index", "add", "--model", weights.toString(), "--catalog", catalog.toString(),
                "--index", dir.resolve("none.idx").toString());
        assertEquals(2, missing.code(), missing.err());
        assertFalse(Files.exists(dir.resolve("none.idx")), "no folder made for an index that is not there");
    }
}
