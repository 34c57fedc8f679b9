package dev.atelier.engine.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.AtelierException.CancelledException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.Progress;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.lora.LoraFile;
import dev.atelier.engine.lora.LoraKeys;
import dev.atelier.engine.lora.LoraKeys.Network;
import dev.atelier.engine.lora.LoraMode;
import dev.atelier.engine.names.NameConverter;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.sd.LdmConfig;
import dev.atelier.engine.sd.SampleParams;
import dev.atelier.engine.sd.Sampler;
import dev.atelier.engine.sd.Sampling;
import dev.atelier.engine.sd.StableDiffusionWeights;
import dev.atelier.engine.sd.UNet;
import dev.atelier.engine.sd.UNetParams;
import dev.atelier.engine.testing.Fixtures;
import java.lang.foreign.Arena;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Step-level batching on the sd15-tiny fixtures: samples with different samplers, step counts,
 * guidance, seeds, sizes and LoRA slots, submitted together to a batcher smaller than their
 * number, share UNet batches and each ends with the latents of the same request run alone; a
 * cancelled sample stops without disturbing the others.
 */
class StepBatcherTest {
    private static StableDiffusionWeights model;
    private static SafeTensorsFile cases;
    private static Arena arena;
    private static TensorView alphas;

    @BeforeAll
    static void open() {
        model = StableDiffusionWeights.open(Fixtures.sd15Tiny().resolve("model/model.safetensors"));
        cases = SafeTensorsFile.open(Fixtures.sd15Tiny().resolve("cases.safetensors"));
        arena = Arena.ofShared();
        alphas = Sampling.alphasCumprod(LdmConfig.sd15(), arena);
    }

    @AfterAll
    static void close() {
        arena.close();
        cases.close();
        model.close();
    }

    /** Row i of the fixture's text hidden states [4, 77, 32], as a [1, 77, 32] context. */
    private static TensorView context(int i) {
        TensorView h = cases.view("text.hidden");
        long[] s = h.shape();
        long bytes = s[1] * s[2] * 4;
        return TensorView.of(h.data().asSlice(i * bytes, bytes), DType.F32, 1, s[1], s[2]);
    }

    private static SampleRequest request(Sampler sampler, int steps, double cfg, long seed, int size, int slot) {
        SampleParams p = new SampleParams(sampler, false, steps, cfg, -1, seed, size, size, 1);
        return new SampleRequest(p, context((int) (seed % 3)), cfg == 1 ? null : context(3), slot);
    }

    /** The request run alone: the native loop with its LoRA slot selected for both guidance rows. */
    private static float[] alone(UNet unet, SampleRequest r) {
        int rows = r.uncond() == null ? 1 : 2;
        int[] slots = new int[rows];
        java.util.Arrays.fill(slots, r.loraSlot());
        unet.selectLora(slots);
        return Sampling.generate(unet, alphas, r.params(), r.cond(), r.uncond(), null, Progress.NONE, arena)
                .toFloatArray();
    }

    private static void assertSameLatents(String what, float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, what);
        double maxRef = 0, maxErr = 0;
        for (int i = 0; i < expected.length; i++) {
            maxRef = Math.max(maxRef, Math.abs(expected[i]));
            maxErr = Math.max(maxErr, Math.abs(expected[i] - actual[i]));
        }
        assertTrue(maxErr <= 1e-5 * maxRef, what + ": max error " + maxErr + " against max|ref| " + maxRef);
    }

    private static UNet unetWithLoras() {
        UNet unet = UNet.create(model.unet(), UNetParams.defaults().withHeads(4, -1));
        LoraKeys keys = new LoraKeys(NameConverter.sd15(), model.checkpoint().tensors().keySet());
        try (LoraFile f = LoraFile.open(Fixtures.sd15Tiny().resolve("lora_kohya.safetensors"), keys)) {
            assertEquals(0, unet.applyLora(f.lora(Network.UNET).orElseThrow(), 0.8f, LoraMode.UNMERGED));
            assertEquals(1, unet.applyLora(f.lora(Network.UNET).orElseThrow(), -1.5f, LoraMode.UNMERGED));
        }
        return unet;
    }

    @Test
    void mixedSamplesShareBatchesAndEqualTheirSoloRuns() {
        List<SampleRequest> requests = List.of(
                request(Sampler.EULER_A, 6, 7, 1, 64, 0),
                request(Sampler.DPMPP_2M_KARRAS, 4, 5, 2, 64, 1),
                request(Sampler.HEUN, 3, 1, 3, 64, -1),
                request(Sampler.DDIM, 5, 7.5, 4, 64, 0),
                request(Sampler.EULER, 4, 7, 5, 128, 1),
                request(Sampler.DPMPP_SDE_KARRAS, 3, 6, 6, 128, -1),
                request(Sampler.EULER_A, 2, 3, 7, 64, 1));
        try (UNet unet = unetWithLoras()) {
            List<SampleTicket> tickets = new ArrayList<>();
            int batches;
            int largest;
            AtomicInteger heard = new AtomicInteger();
            AtomicInteger samplesHeard = new AtomicInteger();
            AtomicInteger rowsHeard = new AtomicInteger();
            AtomicInteger mostHeard = new AtomicInteger();
            AtomicInteger starts = new AtomicInteger();
            BatchListener listener = new BatchListener() {
                @Override
                public void batchRun(int samples, int rows, Duration unetTime) {
                    assertTrue(unetTime.toNanos() > 0);
                    heard.incrementAndGet();
                    samplesHeard.addAndGet(samples);
                    rowsHeard.addAndGet(rows);
                    mostHeard.accumulateAndGet(samples, Math::max);
                }

                @Override
                public void sampleStarted(Duration queueWait) {
                    assertTrue(!queueWait.isNegative());
                    starts.incrementAndGet();
                }
            };
            try (StepBatcher batcher = new StepBatcher(new Guarded<>(unet), alphas, 3, Long.MAX_VALUE, Duration.ofSeconds(5))) {
                batcher.addListener(listener);
                for (SampleRequest r : requests) {
                    tickets.add(batcher.submit(r));
                }
                for (SampleTicket t : tickets) {
                    t.latents().join();
                }
                batches = batcher.batchesRun();
                largest = batcher.largestBatch();
            }
            int modelCalls = 0;
            for (int i = 0; i < requests.size(); i++) {
                SampleRequest r = requests.get(i);
                assertSameLatents("request " + i + " (" + r.params().sampler() + ")", alone(unet, r),
                        tickets.get(i).latents().join().toFloatArray());
                assertEquals(r.params().steps(), tickets.get(i).stepsDone());
            }
            int calls = 0;
            int rows = 0;
            for (SampleRequest r : requests) {
                modelCalls += r.params().sampler() == Sampler.HEUN ? 2 * r.params().steps() - 1 : r.params().steps();
                // Heun and DPM++ SDE call the model twice per step, once on the last.
                Sampler s = r.params().sampler();
                int n = s == Sampler.HEUN || s == Sampler.DPMPP_SDE_KARRAS ? 2 * r.params().steps() - 1 : r.params().steps();
                calls += n;
                rows += n * (r.uncond() == null ? 1 : 2);
            }
            assertEquals(3, largest, "the batch fills up to maxBatch");
            assertEquals(batches, heard.get(), "the listener hears every batch");
            assertEquals(calls, samplesHeard.get(), "each model call in one batch");
            assertEquals(rows, rowsHeard.get());
            assertEquals(3, mostHeard.get());
            assertEquals(requests.size(), starts.get(), "each sample starts once");
            assertTrue(batches < modelCalls, batches + " UNet batches for " + modelCalls + " model calls");
        }
    }

    @Test
    void cancellingOneSampleLeavesTheOthersUndisturbed() throws Exception {
        try (UNet unet = unetWithLoras()) {
            SampleRequest longOne = request(Sampler.EULER, 200, 7, 11, 64, 0);
            SampleRequest other = request(Sampler.EULER_A, 8, 7, 12, 64, 1);
            SampleTicket cancelled;
            SampleTicket kept;
            SampleTicket neverStarted;
            try (StepBatcher batcher = new StepBatcher(new Guarded<>(unet), alphas, 2, Long.MAX_VALUE, Duration.ofSeconds(5))) {
                cancelled = batcher.submit(longOne);
                kept = batcher.submit(other);
                neverStarted = batcher.submit(request(Sampler.EULER, 4, 7, 13, 64, -1));
                neverStarted.cancel(); // queued behind the two running samples
                while (cancelled.stepsDone() < 2) {
                    Thread.sleep(1);
                }
                cancelled.cancel();
                kept.latents().join();
            }
            CompletionException e = assertThrows(CompletionException.class, () -> cancelled.latents().join());
            assertInstanceOf(CancelledException.class, e.getCause());
            assertTrue(cancelled.stepsDone() < 200, "stopped at step " + cancelled.stepsDone());
            CompletionException n = assertThrows(CompletionException.class, () -> neverStarted.latents().join());
            assertInstanceOf(CancelledException.class, n.getCause());
            assertEquals(0, neverStarted.stepsDone());
            assertSameLatents("the sample that was not cancelled", alone(unet, other), kept.latents().join().toFloatArray());
        }
    }

    @Test
    void thePixelBudgetSplitsBatches() {
        List<SampleRequest> requests = List.of(
                request(Sampler.EULER, 3, 7, 21, 64, 0),
                request(Sampler.EULER_A, 3, 7, 22, 64, 1),
                request(Sampler.DDIM, 3, 7, 23, 64, -1),
                request(Sampler.EULER, 3, 1, 24, 64, 0));
        try (UNet unet = unetWithLoras()) {
            List<SampleTicket> tickets = new ArrayList<>();
            int largest;
            // Room for two guided 64 x 64 samples (2 rows each), or three unguided ones.
            try (StepBatcher batcher = new StepBatcher(new Guarded<>(unet), alphas, 8, 4L * 64 * 64,
                    Duration.ofSeconds(5))) {
                for (SampleRequest r : requests) {
                    tickets.add(batcher.submit(r));
                }
                tickets.forEach(t -> t.latents().join());
                largest = batcher.largestBatch();
            }
            assertEquals(2, largest, "no batch over the pixel budget");
            for (int i = 0; i < requests.size(); i++) {
                assertSameLatents("request " + i, alone(unet, requests.get(i)), tickets.get(i).latents().join().toFloatArray());
            }
        }
    }

    @Test
    void sideCallsOfOneKindAndKeyRunAsOneCall() throws Exception {
        try (UNet unet = unetWithLoras()) {
            CountDownLatch started = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            List<List<Integer>> calls = new CopyOnWriteArrayList<>();
            StepBatcher.BatchedCall<Integer, Integer> tenfold = items -> {
                calls.add(List.copyOf(items));
                return items.stream().map(i -> 10 * i).toList();
            };
            StepBatcher.BatchedCall<Integer, Integer> failing = items -> {
                throw new IllegalStateException("this kind fails");
            };
            StepBatcher.BatchedCall<Integer, Integer> blocking = items -> {
                started.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
                return items;
            };
            StepBatcher batcher = new StepBatcher(new Guarded<>(unet), alphas, 2, Long.MAX_VALUE, Duration.ofSeconds(5));
            List<CompletableFuture<Integer>> first;
            List<CompletableFuture<Integer>> second;
            CompletableFuture<Integer> failed;
            try (batcher) {
                CompletableFuture<Integer> blocked = batcher.call(blocking, "k", 0);
                started.await(); // the batching thread is busy: the calls below wait together
                first = List.of(batcher.call(tenfold, "a", 1), batcher.call(tenfold, "a", 2));
                second = List.of(batcher.call(tenfold, "b", 3));
                failed = batcher.call(failing, "a", 4);
                first = new ArrayList<>(first);
                first.add(batcher.call(tenfold, "a", 5));
                release.countDown();
                assertEquals(0, blocked.join());
            }
            assertEquals(List.of(10, 20, 50), first.stream().map(CompletableFuture::join).toList());
            assertEquals(30, second.getFirst().join());
            assertEquals(List.of(List.of(1, 2, 5), List.of(3)), calls, "one call per key, items in arrival order");
            CompletionException e = assertThrows(CompletionException.class, failed::join);
            assertInstanceOf(IllegalStateException.class, e.getCause());
            assertThrows(RuntimeException.class, () -> batcher.call(tenfold, "a", 6), "closed");
        }
    }

    @Test
    void requestsAreChecked() {
        SampleParams two = new SampleParams(Sampler.EULER, false, 4, 7, -1, 1, 64, 64, 2);
        assertThrows(InvalidInputException.class, () -> new SampleRequest(two, context(0), context(3), -1));
        SampleParams guided = new SampleParams(Sampler.EULER, false, 4, 7, -1, 1, 64, 64, 1);
        assertThrows(InvalidInputException.class, () -> new SampleRequest(guided, context(0), null, -1));
        assertThrows(InvalidInputException.class, () -> new SampleRequest(guided, context(0), context(3), -2));
    }
}
