package dev.atelier.benchmarks.serve;

import dev.atelier.engine.core.NativeHandle;
import dev.atelier.engine.sd.GenerationRequest;
import dev.atelier.engine.serve.GenerationJob;
import dev.atelier.engine.serve.GenerationService;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Phaser;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BiFunction;

/**
 * Load on a {@link GenerationService} for the serving benchmark: its capacity (images/s with the
 * batch kept full by closed-loop clients) and an open loop (Poisson arrivals at a fixed rate, each
 * request with a LoRA drawn at random from the pool), with latency percentiles over the run and
 * per minute, the process's resident memory, threads and open file descriptors sampled while
 * it runs, and the native handles the Cleaner had to free (dropped without close) at the end. Latency counts from a request's scheduled arrival, so a late generator does not hide
 * waiting (no coordinated omission).
 */
final class LoadRuns {
    private static final long MINUTE = 60_000_000_000L;

    private LoadRuns() {}

    /** One finished request: arrival (nanoseconds after the run's start), latency, outcome. */
    record Done(long arrivalNanos, long latencyNanos, boolean ok) {}

    /**
     * The process's resident set, thread count and open file descriptors at a moment of a run, and
     * the Java heap's committed size (the part of the resident set the JVM grows on its own).
     */
    record ProcessSample(double atSeconds, long rssKib, int threads, long fds, long heapCommittedBytes) {
        static ProcessSample now(double atSeconds) {
            long rss = -1;
            int threads = -1;
            try {
                for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                    if (line.startsWith("VmRSS:")) {
                        rss = Long.parseLong(line.substring(6).trim().split("\\s+")[0]);
                    } else if (line.startsWith("Threads:")) {
                        threads = Integer.parseInt(line.substring(8).trim());
                    }
                }
                try (var fd = Files.list(Path.of("/proc/self/fd"))) {
                    return new ProcessSample(atSeconds, rss, threads, fd.count(), Runtime.getRuntime().totalMemory());
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** An open-loop run: the requests it finished and the process samples taken during it. */
    record OpenRun(double rate, double seconds, double drainSeconds, List<Done> done, List<ProcessSample> process) {}

    /**
     * Images/s at saturation: clients closed-loop clients (each sends its next request when its
     * last is answered) for the given time; counts the requests answered in the last three quarters
     * of it (the first quarter fills the batch and warms up).
     */
    static double capacity(GenerationService service, BiFunction<Integer, Integer, GenerationRequest> request, int pool,
            int clients, Duration duration) throws InterruptedException {
        long start = System.nanoTime();
        long end = start + duration.toNanos();
        long from = start + duration.toNanos() / 4;
        AtomicInteger next = new AtomicInteger();
        AtomicInteger counted = new AtomicInteger();
        List<Thread> threads = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            long seed = c;
            threads.add(Thread.ofPlatform().start(() -> {
                SplittableRandom random = new SplittableRandom(seed);
                while (System.nanoTime() < end) {
                    service.submit(request.apply(next.getAndIncrement(), random.nextInt(pool))).result().join();
                    long t = System.nanoTime();
                    if (t >= from && t <= end) {
                        counted.incrementAndGet();
                    }
                }
            }));
        }
        for (Thread t : threads) {
            t.join();
        }
        return counted.get() / ((end - from) / 1e9);
    }

    /**
     * Poisson arrivals at rate requests/s for the given time, each request with a LoRA drawn
     * uniformly from the pool; waits for every request to be answered. Samples the process at the
     * start, every minute and at the end of the arrivals.
     */
    static OpenRun open(GenerationService service, BiFunction<Integer, Integer, GenerationRequest> request, int pool,
            double rate, Duration duration, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        ConcurrentLinkedQueue<Done> done = new ConcurrentLinkedQueue<>();
        // Holds no answers (only their Done records), so that the run's own memory stays flat.
        Phaser answered = new Phaser(1);
        List<ProcessSample> process = new ArrayList<>();
        long length = duration.toNanos();
        long start = System.nanoTime();
        process.add(ProcessSample.now(0));
        long nextSample = Math.min(MINUTE, length / 2);
        long at = 0;
        int i = 0;
        while (true) {
            at += (long) (-Math.log(1 - random.nextDouble()) / rate * 1e9);
            if (at >= length) {
                break;
            }
            for (long wait; (wait = start + at - System.nanoTime()) > 0;) {
                LockSupport.parkNanos(wait);
            }
            while (at >= nextSample) {
                process.add(ProcessSample.now(nextSample / 1e9));
                nextSample += Math.min(MINUTE, length / 2);
            }
            long arrival = at;
            try {
                GenerationJob job = service.submit(request.apply(i++, random.nextInt(pool)));
                answered.register();
                job.result().whenComplete((g, e) -> {
                    done.add(new Done(arrival, System.nanoTime() - start - arrival, e == null));
                    answered.arriveAndDeregister();
                });
            } catch (RuntimeException e) { // refused (queue full): a failed request
                done.add(new Done(arrival, System.nanoTime() - start - arrival, false));
            }
        }
        for (long wait; (wait = start + length - System.nanoTime()) > 0;) {
            LockSupport.parkNanos(wait);
        }
        process.add(ProcessSample.now(length / 1e9));
        answered.arriveAndAwaitAdvance();
        double drain = (System.nanoTime() - start - length) / 1e9;
        return new OpenRun(rate, length / 1e9, drain, List.copyOf(done), process);
    }

    /** Seconds at quantile q (nearest rank) of the latencies. */
    static double percentile(double[] sortedSeconds, double q) {
        if (sortedSeconds.length == 0) {
            return Double.NaN;
        }
        int rank = (int) Math.ceil(q * sortedSeconds.length) - 1;
        return sortedSeconds[Math.clamp(rank, 0, sortedSeconds.length - 1)];
    }

    static double[] sortedSeconds(List<Done> done) {
        double[] s = done.stream().filter(Done::ok).mapToDouble(d -> d.latencyNanos() / 1e9).toArray();
        Arrays.sort(s);
        return s;
    }

    /** Prints the run: throughput and percentiles, per minute when it is longer than two, and the process samples. */
    static void report(String mode, int pool, OpenRun run, double capacity) {
        long failed = run.done().stream().filter(d -> !d.ok()).count();
        double[] all = sortedSeconds(run.done());
        System.out.printf(Locale.ROOT, "atelier serve mode=%s loras=%d capacity_images_per_s=%.3f rate_per_s=%.3f load=%.2f"
                + " arrival_s=%.0f drain_s=%.1f requests=%d failed=%d images_per_s=%.3f p50_s=%.3f p95_s=%.3f p99_s=%.3f"
                + " p99_over_p50=%.2f%n", mode, pool, capacity, run.rate(), run.rate() / capacity, run.seconds(),
                run.drainSeconds(), run.done().size(), failed, all.length / (run.seconds() + run.drainSeconds()),
                percentile(all, 0.5), percentile(all, 0.95), percentile(all, 0.99),
                percentile(all, 0.99) / percentile(all, 0.5));
        if (run.seconds() > 120) {
            int minutes = (int) Math.ceil(run.seconds() / 60);
            for (int m = 0; m < minutes; m++) {
                long from = m * MINUTE;
                long to = from + MINUTE;
                List<Done> in = run.done().stream().filter(d -> d.arrivalNanos() >= from && d.arrivalNanos() < to).toList();
                double[] s = sortedSeconds(in);
                System.out.printf(Locale.ROOT, "atelier serve_minute mode=%s minute=%d requests=%d failed=%d p50_s=%.3f"
                        + " p95_s=%.3f p99_s=%.3f%n", mode, m + 1, in.size(), in.stream().filter(d -> !d.ok()).count(),
                        percentile(s, 0.5), percentile(s, 0.95), percentile(s, 0.99));
            }
        }
        for (ProcessSample p : run.process()) {
            System.out.printf(Locale.ROOT, "atelier serve_process mode=%s at_s=%.0f rss_mib=%.1f threads=%d fds=%d"
                    + " heap_committed_mib=%.1f%n", mode, p.atSeconds(), p.rssKib() / 1024.0, p.threads(), p.fds(),
                    p.heapCommittedBytes() / 1048576.0);
        }
        List<ProcessSample> p = run.process();
        ProcessSample first = p.getFirst(), middle = p.get(p.size() / 2), last = p.getLast();
        System.out.printf(Locale.ROOT, "atelier serve_flat mode=%s rss_change_start_middle_end=%.2f%% threads=%d,%d,%d"
                + " fds=%d,%d,%d%n", mode, 100.0 * (Math.max(first.rssKib(), Math.max(middle.rssKib(), last.rssKib()))
                        - Math.min(first.rssKib(), Math.min(middle.rssKib(), last.rssKib()))) / first.rssKib(),
                first.threads(), middle.threads(), last.threads(), first.fds(), middle.fds(), last.fds());
        // A native handle dropped without close() is freed by the Cleaner and counted: collect first.
        System.gc();
        try {
            Thread.sleep(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        System.out.printf(Locale.ROOT, "atelier serve_leaks mode=%s leaked_handles=%d%n", mode, NativeHandle.leakedCount());
    }
}
