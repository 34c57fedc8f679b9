package dev.atelier.engine.serve;

import dev.atelier.engine.core.AtelierException.CancelledException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.NativeLibrary;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.sd.Sampling;
import dev.atelier.engine.sd.UNet;
import dev.atelier.engine.util.ClosedFlag;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Continuous, step-level batching of samples on one UNet: every sample runs its own sampler
 * ({@link Sampling#sample}) on a worker thread, and each of its model calls waits here until the
 * batching thread has gathered the model calls of every running sample, run them as ONE UNet
 * batch (each sample with its own timestep, contexts, guidance scale and LoRA slot) and handed
 * each its eps. At most maxBatch samples run at once, and a UNet batch holds them while their
 * rows' pixels stay within maxBatchPixels (the batch's activation memory grows with them; the
 * samples that do not fit wait for the next batch, in arrival order); a submitted sample starts as soon as a
 * running one finishes, and so joins the batch at the next step boundary, while a finished or
 * cancelled one leaves it. Samples of different sizes or context lengths run in separate batches.
 *
 * <p>A sample's latents equal the same request run alone ({@link Sampling#generate} with batch
 * 1): the UNet computes every sample of a batch independently, and guidance is the same float
 * arithmetic as the native loop's ({@code uncond + cfg * (cond - uncond)}).
 *
 * <p>The requests' own native work (text encoding, decoding) runs on the batching thread too,
 * between UNet batches and while a batch gathers ({@link #call}): items of one kind with equal
 * keys run as one batched call. Native work on other threads beside the UNet batches would take
 * a core from one of the batch's two intra-op threads, and the other then waits for it at each
 * of the batch's parallel regions.
 *
 * <p>Each batch uses the UNet under its guard, so that others (a {@link LoraRegistry} applying
 * or removing LoRAs) may use it between batches. The batcher does not own the LoRAs: the slots
 * that submitted samples select must stay applied until those samples finish.
 */
public final class StepBatcher implements AutoCloseable {
    private final Guarded<UNet> unet;
    private final TensorView alphasCumprod;
    private final int maxBatch;
    private final long maxBatchPixels;
    private final long gatherNanos;
    private final ExecutorService samplers;
    private final Thread batching;

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final List<ModelCall> pending = new ArrayList<>(); // guarded by lock
    private final List<SideCall<?, ?>> side = new ArrayList<>(); // guarded by lock
    private int running; // samples inside their sampler; guarded by lock
    private final ClosedFlag closed = new ClosedFlag(lock, "step batcher");

    private final AtomicInteger batchesRun = new AtomicInteger();
    private final AtomicInteger largestBatch = new AtomicInteger();
    private final List<BatchListener> listeners = new CopyOnWriteArrayList<>();

    /** One sampler's model call waiting for its batch. */
    private record ModelCall(SampleRequest request, float[] x, float t, CompletableFuture<float[]> eps,
            long arrivedNanos) {}

    /**
     * A kind of native work that the batching thread runs for other threads ({@link #call}):
     * items with equal keys run as one call.
     */
    @FunctionalInterface
    public interface BatchedCall<I, O> {
        /** The results of items (one key), in their order. */
        List<O> run(List<I> items);
    }

    /** One item of side work waiting for the batching thread. */
    private record SideCall<I, O>(BatchedCall<I, O> kind, Object key, I item, CompletableFuture<O> result) {}

    /**
     * @param unet          the UNet, used under its guard
     * @param alphasCumprod the noise schedule every sample uses
     * @param maxBatch      samples per UNet batch at most (each guided sample is two UNet rows)
     * @param maxBatchPixels image pixels (width x height per UNet row) per UNet batch at most; a
     *                      sample larger than this still runs, alone
     * @param gather        how long a batch waits for running samples that have not yet made
     *                      their next model call (a sampler's own work between calls is short)
     */
    public StepBatcher(Guarded<UNet> unet, TensorView alphasCumprod, int maxBatch, long maxBatchPixels,
            Duration gather) {
        if (maxBatch < 1 || maxBatchPixels < 1) {
            throw new InvalidInputException("step batcher: maxBatch and maxBatchPixels must be >= 1, got " + maxBatch
                    + " and " + maxBatchPixels);
        }
        this.maxBatchPixels = maxBatchPixels;
        this.unet = unet;
        this.alphasCumprod = alphasCumprod;
        this.maxBatch = maxBatch;
        this.gatherNanos = gather.toNanos();
        AtomicInteger n = new AtomicInteger();
        this.samplers = Executors.newFixedThreadPool(maxBatch,
                r -> Thread.ofPlatform().name("atelier-sampler-" + n.incrementAndGet()).daemon().unstarted(r));
        this.batching = Thread.ofPlatform().name("atelier-unet-batches").daemon().start(this::batchLoop);
    }

    /** Queues request; it starts when fewer than maxBatch samples are running. */
    public SampleTicket submit(SampleRequest request) {
        SampleTicket ticket = new SampleTicket(request);
        lock.lock();
        try {
            closed.checkOpen();
            samplers.execute(() -> run(ticket));
        } finally {
            lock.unlock();
        }
        return ticket;
    }

    /**
     * Runs item on the batching thread, between UNet batches, batched with the other waiting
     * items of the same kind and key: kind.run gets them all in one list.
     */
    public <I, O> CompletableFuture<O> call(BatchedCall<I, O> kind, Object key, I item) {
        SideCall<I, O> c = new SideCall<>(kind, key, item, new CompletableFuture<>());
        lock.lock();
        try {
            closed.checkOpen();
            side.add(c);
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        return c.result();
    }

    /** Tells listener of every UNet batch and sample start from now on. */
    public void addListener(BatchListener listener) {
        listeners.add(listener);
    }

    public void removeListener(BatchListener listener) {
        listeners.remove(listener);
    }

    /** UNet batches run so far. */
    public int batchesRun() {
        return batchesRun.get();
    }

    /** The most samples one UNet batch has held. */
    public int largestBatch() {
        return largestBatch.get();
    }

    /** Finishes the samples already submitted, then stops the threads. */
    @Override
    public void close() {
        // Nothing to do under the lock: the batch loop is woken once the submitted samples finish.
        if (!closed.close(() -> {})) {
            return;
        }
        samplers.close(); // waits for the submitted samples
        lock.lock();
        try {
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        try {
            batching.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void run(SampleTicket ticket) {
        if (ticket.cancelled()) {
            ticket.latents().completeExceptionally(new CancelledException("sample cancelled before it started"));
            return;
        }
        Duration waited = Duration.ofNanos(System.nanoTime() - ticket.submittedNanos());
        for (BatchListener l : listeners) {
            l.sampleStarted(waited);
        }
        lock.lock();
        try {
            running++;
        } finally {
            lock.unlock();
        }
        try {
            // The sampler's own native work (a step's few elementwise ops on one sample's latents)
            // on one intra-op thread, as the request threads' (NativeLibrary.useOneThread says why).
            NativeLibrary.useOneThread();
            SampleRequest r = ticket.request();
            TensorView latents = Sampling.sample((x, t, out) -> modelCall(r, x, t, out), alphasCumprod, r.params(),
                    null, (step, steps) -> {
                        ticket.stepDone((int) step);
                        return !ticket.cancelled();
                    }, Arena.ofAuto());
            ticket.latents().complete(latents);
        } catch (Throwable e) {
            ticket.latents().completeExceptionally(e);
        } finally {
            lock.lock();
            try {
                running--;
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }
    }

    /** A sampler's model call: waits for its batch, then writes its eps. */
    private void modelCall(SampleRequest request, TensorView x, TensorView t, TensorView out) {
        float[] eps;
        ModelCall call = new ModelCall(request, x.toFloatArray(), t.toFloatArray()[0], new CompletableFuture<>(),
                System.nanoTime());
        lock.lock();
        try {
            pending.add(call);
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        eps = call.eps().join();
        MemorySegment.copy(eps, 0, out.data(), ValueLayout.JAVA_FLOAT, 0, eps.length);
    }

    private void batchLoop() {
        NativeLibrary.useLibraryThreads(); // not the one thread request threads set for themselves
        for (Runnable work; (work = next()) != null;) {
            work.run();
        }
    }

    /** Runs batch; a failure fails each of its model calls. */
    private void runOrFail(List<ModelCall> batch) {
        try {
            runBatch(batch);
        } catch (Throwable e) {
            for (ModelCall c : batch) {
                c.eps().completeExceptionally(e);
            }
        }
    }

    /**
     * The next work: the waiting side calls, else a UNet batch once every running sample has made
     * its call or the first call has waited the gather time (side calls that arrive meanwhile run
     * first). Null when closed and idle.
     */
    private Runnable next() {
        lock.lock();
        try {
            while (true) {
                if (!side.isEmpty()) {
                    List<SideCall<?, ?>> calls = List.copyOf(side);
                    side.clear();
                    return () -> runSide(calls);
                }
                if (!pending.isEmpty()) {
                    long left = pending.getFirst().arrivedNanos() + gatherNanos - System.nanoTime();
                    if (pending.size() < running && left > 0 && !Thread.currentThread().isInterrupted()) {
                        try {
                            changed.awaitNanos(left);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt(); // no more gathering: run what waits
                        }
                        continue;
                    }
                    List<ModelCall> batch = takeBatch();
                    return () -> runOrFail(batch);
                } else if (closed.isClosed() && running == 0) {
                    return null;
                } else {
                    changed.awaitUninterruptibly();
                }
            }
        } finally {
            lock.unlock();
        }
    }

    /** The waiting calls of the first call's group, in arrival order, within maxBatch and maxBatchPixels. */
    private List<ModelCall> takeBatch() {
        SampleRequest.Group group = pending.getFirst().request().group();
        List<ModelCall> batch = new ArrayList<>();
        long pixels = 0;
        for (Iterator<ModelCall> it = pending.iterator(); it.hasNext() && batch.size() < maxBatch;) {
            ModelCall c = it.next();
            long more = c.request().pixels();
            if (c.request().group().equals(group) && (batch.isEmpty() || pixels + more <= maxBatchPixels)) {
                batch.add(c);
                pixels += more;
                it.remove();
            }
        }
        return batch;
    }

    /** Runs side calls grouped by kind and key, each group as one call; a failure fails its group. */
    private static void runSide(List<SideCall<?, ?>> calls) {
        Map<List<Object>, List<SideCall<?, ?>>> groups = new LinkedHashMap<>();
        for (SideCall<?, ?> c : calls) {
            groups.computeIfAbsent(List.of(c.kind(), c.key()), k -> new ArrayList<>()).add(c);
        }
        for (List<SideCall<?, ?>> group : groups.values()) {
            runGroup(group);
        }
    }

    @SuppressWarnings("unchecked")
    private static <I, O> void runGroup(List<SideCall<?, ?>> group) {
        List<SideCall<I, O>> calls = new ArrayList<>();
        for (SideCall<?, ?> c : group) {
            calls.add((SideCall<I, O>) c);
        }
        try {
            List<I> items = new ArrayList<>();
            for (SideCall<I, O> c : calls) {
                items.add(c.item());
            }
            List<O> results = calls.getFirst().kind().run(items);
            if (results.size() != calls.size()) {
                throw new IllegalStateException("a batched call gave " + results.size() + " results for "
                        + calls.size() + " items");
            }
            for (int i = 0; i < calls.size(); i++) {
                calls.get(i).result().complete(results.get(i));
            }
        } catch (Throwable e) {
            for (SideCall<I, O> c : calls) {
                c.result().completeExceptionally(e);
            }
        }
    }

    /**
     * One UNet call for the batch: rows (uncond, cond) per guided sample, (cond) otherwise, as the
     * native loop orders them; then each sample's guided eps.
     */
    private void runBatch(List<ModelCall> batch) {
        SampleRequest.Group g = batch.getFirst().request().group();
        long latentSize = batch.getFirst().x().length;
        long contextSize = g.contextLength() * g.contextDim();
        int rows = 0;
        for (ModelCall c : batch) {
            rows += c.request().uncond() == null ? 1 : 2;
        }
        long channels = latentSize / ((long) (g.height() / 8) * (g.width() / 8));
        try (Arena arena = Arena.ofConfined()) {
            TensorView x = TensorView.allocate(arena, DType.F32, rows, channels, g.height() / 8, g.width() / 8);
            TensorView t = TensorView.allocate(arena, DType.F32, rows);
            TensorView context = TensorView.allocate(arena, DType.F32, rows, g.contextLength(), g.contextDim());
            int[] slots = new int[rows];
            int row = 0;
            for (ModelCall c : batch) {
                SampleRequest r = c.request();
                for (TensorView ctx : r.uncond() == null ? List.of(r.cond()) : List.of(r.uncond(), r.cond())) {
                    MemorySegment.copy(c.x(), 0, x.data(), ValueLayout.JAVA_FLOAT, row * latentSize * 4,
                            (int) latentSize);
                    t.data().setAtIndex(ValueLayout.JAVA_FLOAT, row, c.t());
                    MemorySegment.copy(ctx.data(), 0, context.data(), row * contextSize * 4, contextSize * 4);
                    slots[row] = r.loraSlot();
                    row++;
                }
            }
            long[] unetNanos = new long[1];
            float[] eps = unet.apply(u -> {
                long start = System.nanoTime(); // after the wait for the UNet's guard
                u.selectLora(slots);
                float[] out = u.forward(x, t, context, arena).toFloatArray();
                unetNanos[0] = System.nanoTime() - start;
                return out;
            });
            Duration unetTime = Duration.ofNanos(unetNanos[0]);
            // Counted before anyone sees the results: a sampler that has its eps, or its latents,
            // finds its batch in the counts.
            batchesRun.incrementAndGet();
            largestBatch.accumulateAndGet(batch.size(), Math::max);
            for (BatchListener l : listeners) {
                l.batchRun(batch.size(), rows, unetTime);
            }
            row = 0;
            for (ModelCall c : batch) {
                SampleRequest r = c.request();
                float[] out = new float[(int) latentSize];
                int base = (int) (row * latentSize);
                if (r.uncond() == null) {
                    System.arraycopy(eps, base, out, 0, out.length);
                    row += 1;
                } else {
                    // The native loop's guidance (ddim.py p_sample_ddim), in the same float steps.
                    float cfg = (float) r.params().cfg();
                    for (int i = 0; i < out.length; i++) {
                        float u = eps[base + i];
                        float k = eps[base + out.length + i];
                        out[i] = u + cfg * (k - u);
                    }
                    row += 2;
                }
                c.eps().complete(out);
            }
        }
    }
}
