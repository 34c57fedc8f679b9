package dev.atelier.benchmarks.serve;

import dev.atelier.engine.core.Progress;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.demo.DefaultModel;
import dev.atelier.engine.lora.Lora;
import dev.atelier.engine.lora.LoraFile;
import dev.atelier.engine.lora.LoraKeys;
import dev.atelier.engine.lora.LoraMode;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.safetensors.TensorInfo;
import dev.atelier.engine.sd.GenerationRequest;
import dev.atelier.engine.sd.Pipeline;
import dev.atelier.engine.sd.SampleParams;
import dev.atelier.engine.sd.Sampler;
import dev.atelier.engine.sd.Sampling;
import dev.atelier.engine.serve.BatchListener;
import dev.atelier.engine.serve.GenerationJob;
import dev.atelier.engine.serve.GenerationService;
import dev.atelier.engine.text.PromptPair;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * Serving throughput: C clients send N one-image requests, request i with LoRA i mod K from a
 * pool of K random kohya LoRAs, to a {@link GenerationService} (per-sample LoRAs in shared UNet
 * batches), for each K given; then the same traffic one request at a time with its LoRA merged
 * into the weights before it runs and removed after (what A1111 does). Prints images/s and the
 * p50/p99 latency of each run as {@code atelier serve ...} lines. Not a test.
 *
 * <p>{@code --mode open}: the capacity first (images/s with 2 x max-batch closed-loop clients for
 * --capacity-s seconds), then Poisson arrivals at --load (default 0.7) of it for --duration-s
 * seconds (default 120), each request with a LoRA drawn at random from the pool of the largest K:
 * p50/p95/p99 latency and throughput. {@code --mode soak}: the same at 0.8 of the capacity for 600
 * seconds, with latency percentiles per minute and the process's resident memory, threads and open
 * file descriptors every minute ({@link LoadRuns}).
 *
 * <pre>
 *   java ... ServeBenchmark [--model PATH --config YAML --tokenizer DIR] [--requests 48] [--clients 8]
 *       [--steps 10] [--size 64] [--max-batch 8] [--loras 1,8,64] [--rank 8]
 *       [--mode closed|open|soak] [--load 0.7] [--duration-s 120] [--capacity-s 60] [--capacity IMAGES_PER_S]
 * </pre>
 * Without --model: the embedded default model.
 */
public final class ServeBenchmark {
    private ServeBenchmark() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> a = new LinkedHashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            a.put(args[i], args[i + 1]);
        }
        DefaultModel def = a.containsKey("--model") ? null : DefaultModel.locate();
        Path model = def != null ? def.checkpoint() : Path.of(a.get("--model"));
        Pipeline.Options options = Pipeline.Options.defaults();
        Optional<Path> config = def != null ? Optional.of(def.config()) : Optional.ofNullable(a.get("--config")).map(Path::of);
        Optional<Path> tokenizer = def != null ? Optional.of(def.tokenizer()) : Optional.ofNullable(a.get("--tokenizer")).map(Path::of);
        if (config.isPresent()) {
            options = options.withConfig(config.get());
        }
        if (tokenizer.isPresent()) {
            options = options.withTokenizer(tokenizer.get());
        }
        int requests = Integer.parseInt(a.getOrDefault("--requests", "48"));
        int clients = Integer.parseInt(a.getOrDefault("--clients", "8"));
        int steps = Integer.parseInt(a.getOrDefault("--steps", "10"));
        int size = Integer.parseInt(a.getOrDefault("--size", "64"));
        int maxBatch = Integer.parseInt(a.getOrDefault("--max-batch", "8"));
        int rank = Integer.parseInt(a.getOrDefault("--rank", "8"));
        int[] pools = Arrays.stream(a.getOrDefault("--loras", "1,8,64").split(",")).mapToInt(Integer::parseInt).toArray();
        int most = Arrays.stream(pools).max().orElse(1);

        Path loraDir = Files.createTempDirectory("atelier-serve-bench");
        try (Pipeline pipeline = Pipeline.load(model, options)) {
            Map<String, long[]> shapes = new LinkedHashMap<>();
            try (SafeTensorsFile f = SafeTensorsFile.open(model)) {
                for (TensorInfo t : f.tensors().values()) {
                    shapes.put(t.name(), t.shape());
                }
            }
            for (int k = 0; k < most; k++) {
                RandomLoras.write(loraDir.resolve("l" + k + ".safetensors"), shapes, rank, k);
            }
            System.out.printf(Locale.ROOT, "atelier serve_setup model=%s requests=%d clients=%d steps=%d size=%d max_batch=%d rank=%d lora_mib=%.2f%n",
                    model.getFileName(), requests, clients, steps, size, maxBatch, rank,
                    Files.size(loraDir.resolve("l0.safetensors")) / 1048576.0);
            String mode = a.getOrDefault("--mode", "closed");
            switch (mode) {
                case "closed" -> {
                    for (int k : pools) {
                        served(pipeline, loraDir, k, requests, clients, steps, size, maxBatch);
                    }
                    mergedOneAtATime(pipeline, loraDir, most, requests, steps, size);
                }
                case "open", "soak" -> {
                    boolean soak = mode.equals("soak");
                    double load = Double.parseDouble(a.getOrDefault("--load", soak ? "0.8" : "0.7"));
                    Duration duration = Duration.ofSeconds(Long.parseLong(a.getOrDefault("--duration-s", soak ? "600" : "120")));
                    Duration capacityTime = Duration.ofSeconds(Long.parseLong(a.getOrDefault("--capacity-s", "60")));
                    String given = a.get("--capacity");
                    openLoop(pipeline, loraDir, mode, most, steps, size, maxBatch, load, duration, capacityTime,
                            given == null ? Double.NaN : Double.parseDouble(given));
                }
                default -> throw new IllegalArgumentException("--mode closed, open or soak, got " + mode);
            }
        } finally {
            try (var s = Files.list(loraDir)) {
                for (Path p : s.toList()) {
                    Files.deleteIfExists(p);
                }
            }
            Files.deleteIfExists(loraDir);
        }
    }

    private static GenerationRequest request(int i, int pool, int steps, int size) {
        return withLora(i, i % pool, steps, size);
    }

    private static GenerationRequest withLora(int i, int lora, int steps, int size) {
        return GenerationRequest.of("a jacket <lora:l" + lora + ":0.8>", "blurry", 1000 + i)
                .withSampler(Sampler.EULER_A, steps).withSize(size, size);
    }

    /**
     * Capacity (unless given), then an open loop at load x capacity, on one service whose queue
     * never refuses: every LoRA set is applied before.
     */
    private static void openLoop(Pipeline pipeline, Path loraDir, String mode, int pool, int steps, int size,
            int maxBatch, double load, Duration duration, Duration capacityTime, double givenCapacity)
            throws InterruptedException {
        try (GenerationService service = new GenerationService(pipeline, loraDir,
                new GenerationService.Options(maxBatch, 1 << 16, 1L << 34, Duration.ofMillis(50)))) {
            List<GenerationJob> warm = new ArrayList<>();
            for (int i = 0; i < pool; i++) {
                warm.add(service.submit(withLora(i, i, 1, size)));
            }
            warm.forEach(j -> j.result().join());
            double capacity = givenCapacity;
            if (Double.isNaN(capacity)) {
                capacity = LoadRuns.capacity(service, (i, lora) -> withLora(i, lora, steps, size), pool, 2 * maxBatch,
                        capacityTime);
                System.out.printf(Locale.ROOT, "atelier serve mode=capacity loras=%d clients=%d seconds=%d images_per_s=%.3f%n",
                        pool, 2 * maxBatch, capacityTime.toSeconds(), capacity);
            }
            LoadRuns.OpenRun run = LoadRuns.open(service, (i, lora) -> withLora(1_000_000 + i, lora, steps, size), pool,
                    load * capacity, duration, 42);
            LoadRuns.report(mode, pool, run, capacity);
        }
    }

    private static void served(Pipeline pipeline, Path loraDir, int pool, int n, int clients, int steps, int size,
            int maxBatch) throws InterruptedException {
        try (GenerationService service = new GenerationService(pipeline, loraDir,
                new GenerationService.Options(maxBatch, Math.max(n, pool) + clients, 1L << 34, Duration.ofMillis(50)))) {
            // Every LoRA set applied before timing: loading is a one-time cost per set.
            List<GenerationJob> warm = new ArrayList<>();
            for (int i = 0; i < pool; i++) {
                warm.add(service.submit(request(i, pool, 1, size)));
            }
            warm.forEach(j -> j.result().join());
            int batchesBefore = service.stats().batches();
            UNetBusy busy = new UNetBusy();
            service.addListener(busy);
            double[] latency = new double[n];
            AtomicInteger next = new AtomicInteger();
            long start = System.nanoTime();
            List<Thread> threads = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                threads.add(Thread.ofPlatform().start(() -> {
                    for (int i; (i = next.getAndIncrement()) < n;) {
                        long t0 = System.nanoTime();
                        service.submit(request(i, pool, steps, size)).result().join();
                        latency[i] = (System.nanoTime() - t0) / 1e9;
                    }
                }));
            }
            for (Thread t : threads) {
                t.join();
            }
            double wall = (System.nanoTime() - start) / 1e9;
            GenerationService.Stats stats = service.stats();
            service.removeListener(busy);
            report("batched", pool, n, clients, wall, latency, String.format(Locale.ROOT,
                    " unet_batches=%d largest_batch=%d mean_rows=%.1f unet_busy=%.2f unet_ms_per_row=%.3f lora_sets=%d",
                    stats.batches() - batchesBefore, stats.largestBatch(), busy.meanRows(), busy.seconds() / wall,
                    busy.msPerRow(), stats.loras().sets()));
        }
    }

    /** The UNet's share of a run: its calls' time and rows, summed over the batches. */
    private static final class UNetBusy implements BatchListener {
        private final LongAdder nanos = new LongAdder();
        private final LongAdder rows = new LongAdder();
        private final LongAdder batches = new LongAdder();

        @Override
        public void batchRun(int samples, int batchRows, Duration unetTime) {
            nanos.add(unetTime.toNanos());
            rows.add(batchRows);
            batches.increment();
        }

        @Override
        public void sampleStarted(Duration queueWait) {}

        double seconds() {
            return nanos.sum() / 1e9;
        }

        double meanRows() {
            return batches.sum() == 0 ? 0 : (double) rows.sum() / batches.sum();
        }

        double msPerRow() {
            return rows.sum() == 0 ? 0 : nanos.sum() / 1e6 / rows.sum();
        }
    }

    /** One request at a time: its LoRA merged into the weights, the request run, the LoRA removed. */
    private static void mergedOneAtATime(Pipeline pipeline, Path loraDir, int pool, int n, int steps, int size) {
        Pipeline.Parts p = pipeline.parts();
        LoraKeys keys = LoraKeys.forCheckpoint(p.checkpointNames());
        double[] latency = new double[n];
        long start = System.nanoTime();
        for (int i = 0; i < n; i++) {
            GenerationRequest r = request(i, pool, steps, size);
            try (LoraFile f = LoraFile.open(loraDir.resolve("l" + (i % pool) + ".safetensors"), keys);
                    Arena arena = Arena.ofConfined()) {
                Optional<Lora> u = f.lora(LoraKeys.Network.UNET);
                Optional<Lora> t = f.lora(LoraKeys.Network.TEXT_ENCODER);
                u.ifPresent(l -> p.unet().applyLora(l, 0.8f, LoraMode.MERGED));
                t.ifPresent(l -> p.textEncoder().applyLora(l, 0.8f, LoraMode.MERGED));
                PromptPair pair = p.tokenizer().encode("a jacket", r.negative(), p.longPrompt());
                TensorView cond = p.textEncoder().forward(pair.positive().flat(), 1, arena);
                TensorView uncond = p.textEncoder().forward(pair.negative().flat(), 1, arena);
                SampleParams sp = SampleParams.of(r, 0);
                TensorView z = Sampling.generate(p.unet(), p.alphasCumprod(), sp, cond, uncond, null, Progress.NONE, arena);
                p.vae().decode(z, p.scaleFactor(), arena).toFloatArray();
                p.unet().clearLora();
                p.textEncoder().clearLora();
            }
            // All requests arrive at the start: each waits for the ones before it.
            latency[i] = (System.nanoTime() - start) / 1e9;
        }
        report("merged_one_at_a_time", pool, n, 1, (System.nanoTime() - start) / 1e9, latency, "");
    }

    private static void report(String mode, int pool, int n, int clients, double wall, double[] latency, String extra) {
        double[] sorted = latency.clone();
        Arrays.sort(sorted);
        System.out.printf(Locale.ROOT, "atelier serve mode=%s loras=%d requests=%d clients=%d wall_s=%.3f images_per_s=%.3f p50_s=%.3f p99_s=%.3f%s%n",
                mode, pool, n, clients, wall, n / wall, sorted[n / 2], sorted[Math.min(n - 1, (int) Math.ceil(0.99 * n) - 1)], extra);
    }
}
