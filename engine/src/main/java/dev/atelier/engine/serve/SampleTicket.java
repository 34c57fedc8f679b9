package dev.atelier.engine.serve;

import dev.atelier.engine.core.TensorView;
import java.util.concurrent.CompletableFuture;

/**
 * A sample submitted to a {@link StepBatcher}: its final latents once done, its progress, and a
 * way to cancel it.
 */
public final class SampleTicket {
    private final SampleRequest request;
    private final long submittedNanos = System.nanoTime();
    private final CompletableFuture<TensorView> latents = new CompletableFuture<>();
    private volatile int stepsDone;
    private volatile boolean cancelled;

    SampleTicket(SampleRequest request) {
        this.request = request;
    }

    public SampleRequest request() {
        return request;
    }

    /**
     * F32 [1, 4, H/8, W/8] when the sampler has finished; completes exceptionally with a
     * CancelledException after {@link #cancel()}, or with the failure of its run.
     */
    public CompletableFuture<TensorView> latents() {
        return latents;
    }

    /** Sampler steps finished so far. */
    public int stepsDone() {
        return stepsDone;
    }

    /**
     * Stops the sample at its next step boundary (or before it starts); the other samples of
     * its batches go on undisturbed.
     */
    public void cancel() {
        cancelled = true;
    }

    /** System.nanoTime() when it was submitted. */
    long submittedNanos() {
        return submittedNanos;
    }

    boolean cancelled() {
        return cancelled;
    }

    void stepDone(int step) {
        stepsDone = step;
    }
}
