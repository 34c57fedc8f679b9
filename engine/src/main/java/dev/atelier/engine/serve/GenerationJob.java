package dev.atelier.engine.serve;

import dev.atelier.engine.sd.Generation;
import dev.atelier.engine.sd.GenerationRequest;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

/** A request accepted by a {@link GenerationService}: its result, its progress, and a way to stop it. */
public final class GenerationJob {
    private final GenerationRequest request;
    private final CompletableFuture<Generation> result = new CompletableFuture<>();
    private final List<SampleTicket> samples = new CopyOnWriteArrayList<>();
    private volatile boolean cancelled;

    GenerationJob(GenerationRequest request) {
        this.request = request;
    }

    public GenerationRequest request() {
        return request;
    }

    /** The images in seed order; completes exceptionally (CancelledException after {@link #cancel()}) on failure. */
    public CompletableFuture<Generation> result() {
        return result;
    }

    /** Sampler steps done over all the request's images, and their total. */
    public long stepsDone() {
        long done = 0;
        for (SampleTicket t : samples) {
            done += t.stepsDone();
        }
        return done;
    }

    public long stepsTotal() {
        return (long) request.images() * request.steps();
    }

    /** Stops every image of the request at its next step; the other requests go on. */
    public void cancel() {
        cancelled = true;
        for (SampleTicket t : samples) {
            t.cancel();
        }
    }

    boolean cancelled() {
        return cancelled;
    }

    void started(SampleTicket t) {
        samples.add(t);
        if (cancelled) {
            t.cancel();
        }
    }
}
