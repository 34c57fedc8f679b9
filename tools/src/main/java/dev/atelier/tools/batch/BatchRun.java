package dev.atelier.tools.batch;

import dev.atelier.engine.core.Progress;
import dev.atelier.engine.sd.GeneratedImage;
import dev.atelier.engine.sd.Generation;
import dev.atelier.engine.serve.GenerationJob;
import dev.atelier.engine.serve.GenerationService;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Runs a batch file's requests through one {@link GenerationService}, so that requests with
 * different LoRAs share UNet batches. A window of requests is in flight at a time (about two
 * batches of images: enough to keep batches full, few enough that requests finish in file order
 * and an interruption loses little). Each finished request's PNGs are written at once, then its
 * manifest line. After a failure no new request starts; the running ones finish and are recorded,
 * then the failure is thrown.
 */
public final class BatchRun {
    private final GenerationService service;
    private final Path out;
    private final Manifest manifest;
    private final int windowImages;

    /** What a run did: requests and images finished now, requests skipped as already done. */
    public record Result(int requests, long images, int skipped) {}

    private record Finished(BatchJob job, Generation generation, Throwable failure) {}

    /** @param windowImages images in flight at most (one request more than that is never held back) */
    public BatchRun(GenerationService service, Path out, Manifest manifest, int windowImages) {
        this.service = service;
        this.out = out;
        this.manifest = manifest;
        this.windowImages = Math.max(1, windowImages);
    }

    /** Whether job is recorded in the manifest and all its files are in the folder. */
    public boolean done(BatchJob job) {
        Manifest.Entry e = manifest.get(job.id());
        return e != null && !e.files().isEmpty() && e.files().stream().allMatch(f -> Files.isRegularFile(out.resolve(f)));
    }

    /** Runs the jobs not done yet; progress counts images. */
    public Result run(List<BatchJob> jobs, Progress progress) throws InterruptedException {
        Deque<BatchJob> pending = new ArrayDeque<>();
        long total = 0;
        for (BatchJob j : jobs) {
            if (!done(j)) {
                pending.add(j);
                total += j.request().images();
            }
        }
        int skipped = jobs.size() - pending.size();
        if (pending.isEmpty()) {
            return new Result(0, 0, skipped);
        }
        BlockingQueue<Finished> finished = new LinkedBlockingQueue<>();
        Map<BatchJob, GenerationJob> running = new LinkedHashMap<>();
        long inFlightImages = 0, images = 0;
        int requests = 0;
        RuntimeException failure = null;
        progress.onStep(0, total);
        try {
            while ((failure == null && !pending.isEmpty()) || !running.isEmpty()) {
                while (failure == null && !pending.isEmpty()
                        && (running.isEmpty() || inFlightImages + pending.peek().request().images() <= windowImages)) {
                    BatchJob j = pending.poll();
                    GenerationJob g = service.submit(j.request());
                    running.put(j, g);
                    inFlightImages += j.request().images();
                    g.result().whenComplete((gen, e) -> finished.add(new Finished(j, gen, e)));
                }
                Finished f = finished.poll(1, TimeUnit.SECONDS);
                if (f == null) {
                    progress.onStep(images, total); // the rate and ETA move on between images
                    continue;
                }
                running.remove(f.job());
                inFlightImages -= f.job().request().images();
                try {
                    if (f.failure() != null) {
                        throw new IllegalStateException("request " + f.job().id() + " (line " + f.job().line() + "): "
                                + message(f.failure()), f.failure());
                    }
                    record(f.job(), f.generation());
                    requests++;
                    images += f.generation().images().size();
                    progress.onStep(images, total);
                } catch (RuntimeException e) {
                    if (failure == null) {
                        failure = e;
                    } else {
                        failure.addSuppressed(e);
                    }
                }
            }
        } finally {
            running.values().forEach(GenerationJob::cancel); // only when interrupted: else none is left
        }
        if (failure != null) {
            throw failure;
        }
        return new Result(requests, images, skipped);
    }

    /** Writes the request's PNGs, then its manifest line. */
    private void record(BatchJob job, Generation g) {
        List<String> files = new ArrayList<>();
        List<Long> seeds = new ArrayList<>();
        for (int k = 0; k < g.images().size(); k++) {
            GeneratedImage image = g.images().get(k);
            String name = job.fileName(k, image.seed());
            image.writePng(out.resolve(name));
            files.add(name);
            seeds.add(image.seed());
        }
        manifest.append(new Manifest.Entry(job.id(), List.copyOf(files), List.copyOf(seeds)));
    }

    private static String message(Throwable t) {
        String m = t.getMessage();
        return m == null || m.isBlank() ? t.getClass().getSimpleName() : m;
    }
}
