package dev.atelier.engine.util;

import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One writer per folder, across processes and threads; the second fails naming the first, or waits for it. */
class FolderLockTest {
    @TempDir
    Path dir;

    private List<String> names(Path folder) throws IOException {
        try (Stream<Path> s = Files.list(folder)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void aSecondProcessIsRefusedWithItsHolderNamedAndGetsTheFolderOnceItIsFree() throws Exception {
        Path index = dir.resolve("cat.idx");
        Files.createDirectories(index);
        Files.writeString(index.resolve("manifest.json"), "{}");
        try (LockHolder other = LockHolder.start("folder", index.toString(), "atelier index add")) {
            InvalidInputException e = assertThrows(InvalidInputException.class,
                    () -> FolderLock.acquire(index, "atelier index build", Duration.ZERO));
            assertTrue(e.getMessage().contains(index.toString()) && e.getMessage().contains("pid " + other.pid())
                    && e.getMessage().contains("atelier index add") && e.getMessage().contains("try again"), e.getMessage());
        }
        try (FolderLock lock = FolderLock.acquire(index, "atelier index build", Duration.ZERO)) {
            assertEquals(index.toRealPath(), lock.dir());
        }
        assertEquals(List.of("manifest.json"), names(index), "the lock file goes with the lock");
    }

    @Test
    void aWaitingWriterGetsTheFolderWhenTheHolderFinishes() throws Exception {
        LockHolder other = LockHolder.start("folder", dir.toString(), "atelier demo");
        CompletableFuture<Boolean> waited = CompletableFuture.supplyAsync(() -> {
            try (FolderLock lock = FolderLock.acquire(dir, "saving", Duration.ofSeconds(60))) {
                return true;
            }
        });
        Thread.sleep(300);
        assertFalse(waited.isDone(), "waits while the other process holds the folder");
        other.close();
        assertTrue(waited.get(60, TimeUnit.SECONDS));
    }

    @Test
    void aKilledHoldersLockIsFree() throws Exception {
        LockHolder other = LockHolder.start("folder", dir.toString(), "atelier demo");
        other.kill();
        assertTrue(Files.exists(dir.resolve(FolderLock.FILE)), "kill -9 leaves the lock file");
        try (FolderLock lock = FolderLock.acquire(dir, "atelier demo", Duration.ZERO)) {
            assertNotNull(lock);
        }
        assertEquals(List.of(), names(dir));
    }

    @Test
    void theHoldingThreadMayTakeItAgainAnotherThreadMayNot() throws Exception {
        try (FolderLock outer = FolderLock.acquire(dir, "atelier index add", Duration.ZERO)) {
            try (FolderLock inner = FolderLock.acquire(dir, "saving", Duration.ZERO)) {
                assertEquals(outer.dir(), inner.dir());
            }
            // Still held after the inner release.
            Throwable e = CompletableFuture.runAsync(() -> FolderLock.acquire(dir, "other", Duration.ZERO).close())
                    .handle((v, t) -> t).get(30, TimeUnit.SECONDS);
            assertInstanceOf(InvalidInputException.class, e.getCause());
            assertTrue(e.getCause().getMessage().contains("atelier index add"), e.getCause().getMessage());
        }
        CompletableFuture.runAsync(() -> FolderLock.acquire(dir, "other", Duration.ZERO).close()).get(30, TimeUnit.SECONDS);
    }

    @Test
    void aFolderMadeForTheLockIsRemovedIfNothingWasWrittenIntoIt() {
        Path missing = dir.resolve("new.idx");
        FolderLock.acquire(missing, "atelier index add", Duration.ZERO).close();
        assertFalse(Files.exists(missing));
    }
}
