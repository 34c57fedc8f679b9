package dev.atelier.engine.serve;

import dev.atelier.engine.core.AtelierException.CancelledException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.NativeLibrary;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.lora.LoraKeys;
import dev.atelier.engine.lora.LoraRequest;
import dev.atelier.engine.sd.ActivationMemory;
import dev.atelier.engine.sd.GeneratedImage;
import dev.atelier.engine.sd.Generation;
import dev.atelier.engine.sd.GenerationRequest;
import dev.atelier.engine.sd.Images;
import dev.atelier.engine.sd.Infotext;
import dev.atelier.engine.sd.Pipeline;
import dev.atelier.engine.sd.SampleParams;
import dev.atelier.engine.sd.TextEncoder;
import dev.atelier.engine.sd.Vae;
import dev.atelier.engine.text.PromptPair;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One loaded model serving many requests at once, each with its own LoRAs: every request's
 * images are samples of one {@link StepBatcher}, so requests with different LoRAs, samplers,
 * step counts and guidance share UNet batches; LoRAs come by name ({@code <lora:NAME:W>} in
 * the prompt) from a {@link LoraRegistry}. A request's images equal the same request run alone.
 * Requests past the queue limit are refused at once ({@link QueueFullException}).
 *
 * <p>The service uses the pipeline's networks directly: while it is open, do not call the
 * pipeline's own generate.
 */
public final class GenerationService implements AutoCloseable {
    private final Pipeline.Parts parts;
    private final Guarded<TextEncoder> text;
    private final Guarded<Vae> vae;
    private final LoraRegistry registry;
    private final StepBatcher batcher;
    private final ExecutorService requests;
    private final int maxQueue;
    private final AtomicInteger outstanding = new AtomicInteger();
    private final StepBatcher.BatchedCall<TextItem, float[]> encodeTexts = this::encodeTexts;
    private final StepBatcher.BatchedCall<DecodeItem, float[]> decodeImages = this::decodeImages;

    /** Prompts encoded in one text-encoder call at most. */
    private static final int TEXT_BATCH = 32;
    /**
     * Image pixels decoded in one VAE call at most (images of one size decode together up to it;
     * a larger image alone): one 256 x 256 image, sixteen of the default model's 64 x 64. A decode
     * whose activations pass 16 MiB empties the allocator's cache on every thread (Vae says why),
     * which larger batches of the default model's images would do.
     */
    private static final long DECODE_BATCH_PIXELS = 256L * 256;

    /**
     * @param maxBatch        images per UNet batch at most
     * @param maxQueue        requests accepted and not yet finished at most
     * @param loraBudgetBytes LoRA files' bytes kept applied while unused
     * @param gather          how long a batch waits for running images' next model calls
     * @param maxBatchPixels  image pixels per UNet batch at most (width x height per UNet row, two
     *                        rows per guided image): the memory budget of a batch
     */
    public record Options(int maxBatch, int maxQueue, long loraBudgetBytes, Duration gather, long maxBatchPixels) {
        /** Eight guided 512 x 512 images per batch: 1024 x 1024 images run two at a time. */
        public static final long DEFAULT_BATCH_PIXELS = 8L * 2 * 512 * 512;

        public Options(int maxBatch, int maxQueue, long loraBudgetBytes, Duration gather) {
            this(maxBatch, maxQueue, loraBudgetBytes, gather, DEFAULT_BATCH_PIXELS);
        }

        public static Options defaults() {
            return new Options(8, 64, 1L << 30, Duration.ofMillis(50));
        }
    }

    /** A request refused because the queue is full; try again later. */
    public static final class QueueFullException extends RuntimeException {
        QueueFullException(String message) {
            super(message);
        }
    }

    /** Counters for metrics. */
    public record Stats(int outstanding, int batches, int largestBatch, LoraRegistry.Stats loras) {}

    public GenerationService(Pipeline pipeline, Path loraDir, Options options) {
        this.parts = pipeline.parts();
        Guarded<dev.atelier.engine.sd.UNet> unet = new Guarded<>(parts.unet());
        this.text = new Guarded<>(parts.textEncoder());
        this.vae = new Guarded<>(parts.vae());
        this.registry = new LoraRegistry(loraDir, LoraKeys.forCheckpoint(parts.checkpointNames()), unet, text,
                options.loraBudgetBytes());
        this.batcher = new StepBatcher(unet, parts.alphasCumprod(), options.maxBatch(), options.maxBatchPixels(),
                options.gather());
        this.maxQueue = options.maxQueue();
        // Threads are kept and reused (idle ones end after a minute): a thread's first native call
        // starts its own OpenMP team and makes libtorch rebuild its thread pool, which a thread
        // per request paid on every request.
        this.requests = Executors.newCachedThreadPool(Thread.ofPlatform().name("atelier-request-", 1).daemon().factory());
        // The creating thread usually loaded the model at the library's count and now leaves the
        // computing to the UNet batches: its idle workers would slow every batch.
        NativeLibrary.releaseThreads();
    }

    public LoraRegistry loras() {
        return registry;
    }

    public Pipeline.Parts model() {
        return parts;
    }

    /** Tells listener of every UNet batch and image start from now on (metrics). */
    public void addListener(BatchListener listener) {
        batcher.addListener(listener);
    }

    public void removeListener(BatchListener listener) {
        batcher.removeListener(listener);
    }

    /** Whether requests are queued or running (a training gives way while they are: {@link LoraTrainingJobs}). */
    public boolean busy() {
        return outstanding.get() > 0;
    }

    public Stats stats() {
        return new Stats(outstanding.get(), batcher.batchesRun(), batcher.largestBatch(), registry.stats());
    }

    /**
     * Accepts request (its prompt may name LoRAs); refuses it when maxQueue requests are
     * outstanding. Unknown LoRA names and names that leave the LoRA folder are refused here.
     */
    public GenerationJob submit(GenerationRequest request) {
        if (request.initNoise() != null) {
            throw new InvalidInputException("a served request draws its noise from its seed; init noise files are not taken");
        }
        LoraRequest.FromPrompt prompt = registry.parsePrompt(request.prompt());
        // Each image is a sample of its own (the batcher bounds UNet batches by pixels) and is
        // decoded alone: one image of this size must fit.
        ActivationMemory.check(parts.unet().config(), parts.vae().config(), request.width(), request.height(), 1,
                request.cfg() != 1);
        if (outstanding.incrementAndGet() > maxQueue) {
            outstanding.decrementAndGet();
            throw new QueueFullException("the queue is full (" + maxQueue + " requests); try again later");
        }
        GenerationJob job = new GenerationJob(request);
        try {
            requests.execute(() -> {
                Generation done = null;
                Throwable failure = null;
                try {
                    done = run(job, prompt);
                } catch (Throwable e) {
                    failure = e instanceof CompletionException c && c.getCause() != null ? c.getCause() : e;
                }
                outstanding.decrementAndGet(); // before the caller sees the result: its slot is free
                if (failure == null) {
                    job.result().complete(done);
                } else {
                    job.result().completeExceptionally(failure);
                }
            });
        } catch (RuntimeException e) {
            outstanding.decrementAndGet();
            throw e;
        }
        return job;
    }

    private Generation run(GenerationJob job, LoraRequest.FromPrompt prompt) {
        // Text encoding and decoding run on the batching thread (StepBatcher.call); what native work
        // is left here (loading and applying LoRAs) runs on one thread, so that the UNet batches
        // keep the library's threads to themselves (NativeLibrary.useOneThread says why).
        NativeLibrary.useOneThread();
        GenerationRequest request = job.request();
        PromptPair pair = parts.tokenizer().encode(prompt.prompt(), request.negative(), parts.longPrompt());
        try (LoraRegistry.Lease lease = registry.acquire(prompt.loras()); Arena arena = Arena.ofShared()) {
            boolean guided = request.cfg() != 1;
            CompletableFuture<float[]> positive = encode(pair.positive().flat(), request.clipSkip(), lease.textSlot());
            CompletableFuture<float[]> negative = guided
                    ? encode(pair.negative().flat(), request.clipSkip(), lease.textSlot()) : null;
            TensorView cond = context(positive.join(), pair.positive().flat().length, arena);
            TensorView uncond = guided ? context(negative.join(), pair.negative().flat().length, arena) : null;
            List<SampleTicket> tickets = new ArrayList<>();
            for (int k = 0; k < request.images(); k++) {
                if (job.cancelled()) {
                    throw new CancelledException("request cancelled");
                }
                SampleParams p = new SampleParams(request.sampler(), false, request.steps(), request.cfg(),
                        request.eta(), request.seed() + k, request.width(), request.height(), 1);
                SampleTicket t = batcher.submit(new SampleRequest(p, cond, uncond, lease.unetSlot()));
                job.started(t);
                tickets.add(t);
            }
            return finish(request, prompt.loras(), tickets);
        }
    }

    /** One prompt's token ids (77 per chunk) to encode with a text-encoder LoRA slot (-1: none). */
    private record TextItem(long[] ids, int clipSkip, int slot) {
        /** Prompts that one text-encoder call can take together: same length and clip skip. */
        TextKey key() {
            return new TextKey(ids.length, clipSkip);
        }
    }

    private record TextKey(int length, int clipSkip) {}

    /** One image's final latents F32 [1, c, H/8, W/8] to decode; images of one size decode together. */
    private record DecodeItem(float[] latents, ImageSize size) {}

    private record ImageSize(int width, int height) {}

    /** Its hidden states F32 [1, L, width], on the batching thread with the other prompts waiting. */
    private CompletableFuture<float[]> encode(long[] ids, int clipSkip, int slot) {
        TextItem item = new TextItem(ids, clipSkip, slot);
        return batcher.call(encodeTexts, item.key(), item);
    }

    private TensorView context(float[] hidden, long length, Arena arena) {
        return TensorView.ofFloats(arena, hidden, 1, length, hidden.length / length);
    }

    /** Encodes prompts of one length and clip skip, TEXT_BATCH rows a call, each row with its LoRA slot. */
    private List<float[]> encodeTexts(List<TextItem> items) {
        List<float[]> out = new ArrayList<>();
        int length = items.getFirst().ids().length;
        for (int from = 0; from < items.size(); from += TEXT_BATCH) {
            List<TextItem> part = items.subList(from, Math.min(items.size(), from + TEXT_BATCH));
            out.addAll(text.apply(te -> {
                try (Arena arena = Arena.ofConfined()) {
                    TensorView ids = TensorView.allocate(arena, DType.I64, part.size(), length);
                    int[] slots = new int[part.size()];
                    for (int i = 0; i < part.size(); i++) {
                        MemorySegment.copy(part.get(i).ids(), 0, ids.data(), ValueLayout.JAVA_LONG, (long) i * length * 8,
                                length);
                        slots[i] = part.get(i).slot();
                    }
                    te.selectLora(slots);
                    return List.of(te.forward(ids, part.getFirst().clipSkip(), arena).toFloatRows());
                }
            }));
        }
        return out;
    }

    /** Decodes images of one size, as many a call as DECODE_BATCH_PIXELS allows (at least one). */
    private List<float[]> decodeImages(List<DecodeItem> items) {
        ImageSize size = items.getFirst().size();
        int per = (int) Math.max(1, DECODE_BATCH_PIXELS / ((long) size.width() * size.height()));
        int length = items.getFirst().latents().length;
        int channels = length / ((size.height() / 8) * (size.width() / 8));
        List<float[]> out = new ArrayList<>();
        for (int from = 0; from < items.size(); from += per) {
            float[][] latents = items.subList(from, Math.min(items.size(), from + per)).stream()
                    .map(DecodeItem::latents).toArray(float[][]::new);
            out.addAll(vae.apply(v -> {
                try (Arena arena = Arena.ofConfined()) {
                    TensorView z = TensorView.of(TensorView.ofRows(arena, latents, length).data(), DType.F32,
                            latents.length, channels, size.height() / 8, size.width() / 8);
                    return List.of(v.decode(z, parts.scaleFactor(), arena).toFloatRows());
                }
            }));
        }
        return out;
    }

    /** Waits for the images' latents, decodes each as soon as it is done, in seed order. */
    private Generation finish(GenerationRequest request, List<LoraRequest> loras, List<SampleTicket> tickets) {
        int h = request.height() / 8, w = request.width() / 8;
        List<GeneratedImage> images = new ArrayList<>();
        float[] latents = null;
        int per = 0;
        for (int k = 0; k < tickets.size(); k++) {
            TensorView z = tickets.get(k).latents().join();
            float[] one = z.toFloatArray();
            if (latents == null) {
                per = one.length;
                latents = new float[per * tickets.size()];
            }
            System.arraycopy(one, 0, latents, k * per, per);
            ImageSize size = new ImageSize(request.width(), request.height());
            float[] rgb = batcher.call(decodeImages, size, new DecodeItem(one, size)).join();
            long seed = request.seed() + k;
            images.add(new GeneratedImage(seed, request.width(), request.height(),
                    Images.toRgb8(rgb, request.height(), request.width()),
                    Infotext.of(request, seed, parts.modelHash(), parts.modelName(), parts.schedule(), loras)));
        }
        return new Generation(request, List.copyOf(images), latents, new long[] {tickets.size(), per / (h * w), h, w});
    }

    /** Finishes the accepted requests, then stops and removes the LoRAs it applied. */
    @Override
    public void close() {
        requests.close();
        batcher.close();
        registry.clear();
    }
}
