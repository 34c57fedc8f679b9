package dev.atelier.engine.demo;

import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.util.FolderLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Two demos on one work folder: the second is refused before it starts a stage. */
class DemoWorkFolderLockTest {
    @TempDir
    Path work;

    @Test
    void aSecondRunOnTheSameWorkFolderIsRefusedBeforeAnyStage() throws Exception {
        CountDownLatch held = new CountDownLatch(1), done = new CountDownLatch(1);
        CompletableFuture<Void> first = CompletableFuture.runAsync(() -> {
            try (FolderLock lock = FolderLock.acquire(work, "atelier demo", Duration.ZERO)) {
                held.countDown();
                done.await();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        assertTrue(held.await(30, TimeUnit.SECONDS));
        List<String> started = new ArrayList<>();
        DemoListener listener = new DemoListener() {
            @Override
            public void stageStarted(String stage, String description) {
                started.add(stage);
            }
        };
        // The model is never opened: the lock is taken first.
        DefaultModel model = new DefaultModel(work.resolve("none.safetensors"), work.resolve("none.yaml"), work.resolve("tokenizer"),
                work.resolve("none-embedder.safetensors"));
        try {
            InvalidInputException e = assertThrows(InvalidInputException.class,
                    () -> new DemoWorkflow(DemoSettings.defaults(work), model, listener).run());
            assertTrue(e.getMessage().contains(work.toString()) && e.getMessage().contains("atelier demo"), e.getMessage());
            assertEquals(List.of(), started);
        } finally {
            done.countDown();
            first.get(30, TimeUnit.SECONDS);
        }
        try (Stream<Path> s = Files.list(work)) {
            assertEquals(0, s.count(), "nothing written, no lock file left");
        }
    }
}
