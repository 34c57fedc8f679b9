package dev.atelier.tools.serve;

import dev.atelier.engine.serve.GenerationJob;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * The txt2img requests the server has accepted and not yet answered: their progress for
 * /sdapi/v1/progress, a way to interrupt them all, and a wait for none to be left on shutdown.
 */
final class ActiveJobs {
    /** One accepted request; removed once its answer is set. */
    record Entry(GenerationJob job, long startNanos) {}

    private final Set<Entry> entries = ConcurrentHashMap.newKeySet();
    private boolean closed; // guarded by this

    /**
     * Submits a request and tracks its job, unless admission is closed (503). Under one lock
     * with {@link #close()}: a request is either refused or tracked before shutdown waits.
     */
    synchronized Entry admit(Supplier<GenerationJob> submit) {
        if (closed) {
            throw new ApiException(503, "shutting down", "the server is shutting down and takes no new requests");
        }
        Entry e = new Entry(submit.get(), System.nanoTime());
        entries.add(e);
        return e;
    }

    /** Refuses every later {@link #admit}. */
    synchronized void close() {
        closed = true;
    }

    synchronized boolean closed() {
        return closed;
    }

    void remove(Entry e) {
        entries.remove(e);
        synchronized (this) {
            notifyAll();
        }
    }

    int count() {
        return entries.size();
    }

    /** Cancels every accepted request: each stops at its next step and is answered. Returns how many. */
    int cancelAll() {
        int n = 0;
        for (Entry e : entries) {
            e.job().cancel();
            n++;
        }
        return n;
    }

    /** Waits until every accepted request has been answered, at most timeout; whether none is left. */
    boolean awaitEmpty(Duration timeout) throws InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        synchronized (this) {
            while (!entries.isEmpty()) {
                long left = end - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                wait(Math.max(1, left / 1_000_000));
            }
        }
        return true;
    }

    /**
     * A1111's progress body: progress (steps done over all accepted requests' steps, 0..1),
     * eta_relative (seconds left at the rate so far), state (job_count, sampling_step,
     * sampling_steps, ...), current_image null (no previews).
     */
    Map<String, Object> progress() {
        long done = 0, total = 0, oldest = Long.MAX_VALUE;
        int jobs = 0;
        for (Entry e : entries) {
            done += e.job().stepsDone();
            total += e.job().stepsTotal();
            oldest = Math.min(oldest, e.startNanos());
            jobs++;
        }
        double progress = total == 0 ? 0 : (double) done / total;
        double eta = 0;
        if (progress > 0) {
            double elapsed = (System.nanoTime() - oldest) / 1e9;
            eta = elapsed / progress - elapsed;
        }
        Map<String, Object> state = new LinkedHashMap<>();
        state.put("skipped", false);
        state.put("interrupted", false);
        state.put("job", jobs == 0 ? "" : "txt2img");
        state.put("job_count", jobs);
        state.put("job_timestamp", "0");
        state.put("job_no", 0);
        state.put("sampling_step", done);
        state.put("sampling_steps", total);
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("progress", progress);
        body.put("eta_relative", eta);
        body.put("state", state);
        body.put("current_image", null);
        body.put("textinfo", null);
        return body;
    }
}
