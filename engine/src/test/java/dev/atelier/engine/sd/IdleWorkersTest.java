package dev.atelier.engine.sd;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.atelier.engine.core.NativeInfo;
import dev.atelier.engine.core.NativeLibrary;
import dev.atelier.engine.testing.Fixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * A thread that has generated keeps no idle OpenMP worker ({@code NativeLibrary.releaseThreads}
 * says what idle workers cost the threads that go on computing). A worker is found by its name:
 * a thread that native code starts takes the name of the thread that starts it.
 */
class IdleWorkersTest {
    @Test
    void aThreadThatGeneratedLeavesNoWorkerBehind() throws Exception {
        Path root = Fixtures.sd15Tiny();
        NativeInfo.setThreads(2); // workers exist from two threads on, whatever the machine's cores
        try (Pipeline pipeline = Pipeline.load(root.resolve("model/model.safetensors"), Pipeline.Options.defaults()
                .withConfig(root.resolve("model/model.yaml")).withTokenizer(root.resolve("model/tokenizer")))) {
            GenerationRequest request = GenerationRequest.of("a jacket", "", 5).withSampler(Sampler.EULER, 2)
                    .withSize(64, 64);
            // OpenBLAS starts its one pool of threads for the whole process on its first threaded
            // call, named after the thread that makes it: made here, it does not count below.
            pipeline.generate(request, List.of(), null);
            String name = "idle-workers-1";
            CountDownLatch leave = new CountDownLatch(1);
            CompletableFuture<int[]> named = new CompletableFuture<>();
            Thread caller = Thread.ofPlatform().name(name).start(() -> {
                try {
                    // libtorch's first call on a thread restarts its own process-wide pool (one idle
                    // thread, named after this one; not an OpenMP worker): counted before.
                    NativeLibrary.useLibraryThreads();
                    int before = threadsNamed(name);
                    pipeline.generate(request, List.of(), null);
                    named.complete(new int[] {before, threadsNamed(name)});
                    leave.await(); // alive, as a server's request thread waiting for its next request
                } catch (Throwable e) {
                    named.completeExceptionally(e);
                }
            });
            int[] threads = named.get();
            leave.countDown();
            caller.join();
            assertEquals(threads[0], threads[1], "threads named after the caller before and after its generation");
        } finally {
            NativeInfo.setThreads(0);
        }
    }

    /** Threads of this process whose name is name. */
    private static int threadsNamed(String name) throws IOException {
        try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task"))) {
            int n = 0;
            for (Path t : tasks.toList()) {
                try {
                    n += Files.readString(t.resolve("comm")).strip().equals(name) ? 1 : 0;
                } catch (IOException gone) {
                    // a thread that ended meanwhile
                }
            }
            return n;
        }
    }
}
