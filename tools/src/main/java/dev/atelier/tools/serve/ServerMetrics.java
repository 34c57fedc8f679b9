package dev.atelier.tools.serve;

import dev.atelier.engine.serve.BatchListener;
import dev.atelier.engine.serve.GenerationService;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.function.ToDoubleFunction;

/**
 * The server's Prometheus metrics (Micrometer): queue depth, UNet batches and the largest batch,
 * LoRA cache hits, misses (loads), evictions and bytes, all read from the service's counters at
 * scrape time; as histograms, told by the service as they happen (it is a {@link BatchListener}):
 * images per UNet batch, the UNet call's time per batch (one denoising step of every image in it)
 * and each image's wait for a place in the running batch; txt2img latency as a histogram, and
 * answers by outcome.
 */
final class ServerMetrics implements BatchListener {
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final Timer latencyOk;
    private final Timer latencyFailed;
    private final DistributionSummary batchSamples = DistributionSummary.builder("atelier.batch.samples")
            .description("Images per UNet batch").publishPercentileHistogram()
            .minimumExpectedValue(1.0).maximumExpectedValue(1024.0).register(registry);
    private final Timer stepTime = timer("atelier.unet.batch.time",
            "UNet call time per batch: one denoising step of every image in it");
    private final Timer queueWait = timer("atelier.queue.wait",
            "Time an image waited for a place among the running images");

    ServerMetrics(GenerationService service, ActiveJobs active) {
        gauge("atelier.queue.depth", "Requests accepted by the engine and not finished", service,
                s -> s.stats().outstanding());
        gauge("atelier.http.active", "txt2img requests accepted over HTTP and not yet answered", active, ActiveJobs::count);
        gauge("atelier.batch.size.max", "The most images one UNet batch has held", service, s -> s.stats().largestBatch());
        counter("atelier.batches", "UNet batches run", service, s -> s.stats().batches());
        counter("atelier.lora.cache.hits", "LoRA sets found applied", service, s -> s.stats().loras().hits());
        counter("atelier.lora.cache.misses", "LoRA sets loaded and applied", service, s -> s.stats().loras().misses());
        counter("atelier.lora.cache.evictions", "LoRA sets removed for the byte budget", service,
                s -> s.stats().loras().evictions());
        gauge("atelier.lora.cache.bytes", "LoRA file bytes kept applied", service, s -> s.stats().loras().bytes());
        gauge("atelier.lora.cache.sets", "LoRA sets kept applied", service, s -> s.stats().loras().sets());
        latencyOk = latency("ok");
        latencyFailed = latency("failed");
    }

    private Timer timer(String name, String help) {
        return Timer.builder(name).description(help).publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofMinutes(10))
                .register(registry);
    }

    @Override
    public void batchRun(int samples, int rows, Duration unetTime) {
        batchSamples.record(samples);
        stepTime.record(unetTime);
    }

    @Override
    public void sampleStarted(Duration waited) {
        queueWait.record(waited);
    }

    private Timer latency(String outcome) {
        return Timer.builder("atelier.request.latency").description("txt2img time from acceptance to answer")
                .tag("outcome", outcome).publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(10)).maximumExpectedValue(Duration.ofMinutes(10))
                .register(registry);
    }

    private <T> void gauge(String name, String help, T source, ToDoubleFunction<T> f) {
        Gauge.builder(name, source, f).description(help).register(registry);
    }

    private <T> void counter(String name, String help, T source, ToDoubleFunction<T> f) {
        FunctionCounter.builder(name, source, f).description(help).register(registry);
    }

    void requestDone(long startNanos, boolean ok) {
        (ok ? latencyOk : latencyFailed).record(Duration.ofNanos(System.nanoTime() - startNanos));
    }

    /** Counts an answer by its status class: ok, bad_request, unauthorized, queue_full, unavailable, ... */
    void answered(int status) {
        String outcome = switch (status) {
            case 200 -> "ok";
            case 400, 404, 405, 413 -> "bad_request";
            case 401 -> "unauthorized";
            case 409 -> "interrupted";
            case 429 -> "queue_full";
            case 503 -> "unavailable";
            default -> status >= 500 ? "error" : "other";
        };
        Counter.builder("atelier.http.answers").description("HTTP answers by outcome").tag("outcome", outcome)
                .register(registry).increment();
    }

    /** Mean txt2img latency so far, for Retry-After; 0 before the first answer. */
    Duration meanLatency() {
        return latencyOk.count() == 0 ? Duration.ZERO : Duration.ofNanos((long) latencyOk.mean(java.util.concurrent.TimeUnit.NANOSECONDS));
    }

    String scrape() {
        return registry.scrape();
    }
}
