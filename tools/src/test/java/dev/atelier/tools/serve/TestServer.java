package dev.atelier.tools.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.atelier.engine.core.NativeInfo;
import dev.atelier.engine.sd.Pipeline;
import dev.atelier.engine.sd.LdmConfig;
import dev.atelier.engine.serve.GenerationService;
import dev.atelier.engine.serve.LoraTrainingJobs;
import java.util.Optional;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * The sd15-tiny fixture model behind an {@link ApiServer} on a free port of 127.0.0.1, with two
 * LoRAs in its folder ("style" and "other", the fixture's kohya LoRA under two names), and a
 * real HTTP client to call it.
 */
final class TestServer implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();

    final Pipeline pipeline;
    final GenerationService service;
    final ApiServer server;
    final LoraTrainingJobs trainings;
    final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final String token;

    TestServer(Path loraDir, int maxQueue, ServerOptions options) {
        this(loraDir, maxQueue, options, null);
    }

    /** With catalog (or null): also answering catalog searches by image. */
    TestServer(Path loraDir, int maxQueue, ServerOptions options, CatalogRoutes.Catalog catalog) {
        this(loraDir, maxQueue, options, catalog, 0);
    }

    /** With catalog (or null) and, when maxTrainings > 0, LoRA training jobs on the model (64 px by default). */
    TestServer(Path loraDir, int maxQueue, ServerOptions options, CatalogRoutes.Catalog catalog, int maxTrainings) {
        Path root = fixtures();
        try {
            Files.createDirectories(loraDir);
            for (String name : new String[] {"style", "other"}) {
                Path target = loraDir.resolve(name + ".safetensors");
                if (!Files.exists(target)) {
                    Files.copy(root.resolve("lora_kohya.safetensors"), target);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        // One intra-op thread, as the CLI tests run: on a shared, busy machine more threads wait
        // on each other at every barrier.
        NativeInfo.setThreads(1);
        this.pipeline = Pipeline.load(modelFile(), Pipeline.Options.defaults()
                .withConfig(root.resolve("model/model.yaml")).withTokenizer(root.resolve("model/tokenizer")));
        this.service = new GenerationService(pipeline, loraDir,
                new GenerationService.Options(4, maxQueue, 1L << 30, Duration.ofMillis(50)));
        try {
            this.trainings = maxTrainings == 0 ? null : new LoraTrainingJobs(new LoraTrainingJobs.Model(modelFile(),
                    LdmConfig.load(root.resolve("model/model.yaml")), Optional.of(root.resolve("model/tokenizer"))),
                    service.loras(), Files.createTempDirectory("atelier-test-training"), maxTrainings,
                    service::busy);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        this.server = ApiServer.start(service, modelFile(), options, new ApiServer.Extras(
                catalog == null ? null : catalog.embedder(), catalog == null ? null : catalog.search(), trainings, 64));
        this.token = options.token();
    }

    /** Default limits, except 2000 steps so that a request can run long enough to be interrupted. */
    static ServerOptions options() {
        return ServerOptions.local(0).withLimits(new ServerLimits(64 * 1024, 2048L * 2048, 2000, 16, 4L << 20));
    }

    static Path fixtures() {
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            Path p = d.resolve("shared/fixtures/sd15-tiny");
            if (Files.isDirectory(p)) {
                return p;
            }
        }
        throw new IllegalStateException("fixtures not found: expected ../shared/fixtures beside the repository");
    }

    static Path modelFile() {
        return fixtures().resolve("model/model.safetensors");
    }

    URI uri(String path) {
        return URI.create("http://127.0.0.1:" + server.port() + path);
    }

    HttpRequest.Builder request(String path) {
        // A guard against a hang, not a speed requirement: a starved test machine is slow.
        HttpRequest.Builder b = HttpRequest.newBuilder(uri(path)).timeout(Duration.ofMinutes(20));
        return token == null ? b : b.header("Authorization", "Bearer " + token);
    }

    HttpResponse<String> get(String path) {
        return send(request(path).GET().build());
    }

    HttpResponse<String> post(String path, String body) {
        return send(postRequest(path, body));
    }

    CompletableFuture<HttpResponse<String>> postAsync(String path, String body) {
        return client.sendAsync(postRequest(path, body), HttpResponse.BodyHandlers.ofString());
    }

    HttpRequest postRequest(String path, String body) {
        return request(path).header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body))
                .build();
    }

    HttpResponse<String> send(HttpRequest r) {
        try {
            return client.send(r, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    static JsonNode json(HttpResponse<String> r) {
        try {
            return JSON.readTree(r.body());
        } catch (IOException e) {
            throw new UncheckedIOException("not JSON (" + r.statusCode() + "): " + r.body(), e);
        }
    }

    /** Waits until the accepted requests have done at least one step between them. */
    void awaitRunning(int jobs) throws InterruptedException {
        while (true) {
            JsonNode p = json(get("/sdapi/v1/progress"));
            if (p.get("state").get("job_count").asInt() >= jobs && p.get("state").get("sampling_step").asLong() > 0) {
                return;
            }
            Thread.sleep(5);
        }
    }

    @Override
    public void close() {
        server.close();
        if (trainings != null) {
            trainings.close();
        }
        service.close();
        pipeline.close();
    }
}
