package dev.atelier.tools;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.embed.Backend;
import dev.atelier.engine.embed.EmbedderOptions;
import dev.atelier.engine.embed.ImageEmbedder;
import dev.atelier.engine.index.CatalogSearch;
import dev.atelier.engine.index.CatalogSearches;
import dev.atelier.engine.sd.Pipeline;
import dev.atelier.engine.sd.LdmConfig;
import dev.atelier.engine.serve.GenerationService;
import dev.atelier.engine.serve.LoraTrainingJobs;
import dev.atelier.tools.serve.ApiServer;
import dev.atelier.tools.serve.ServerLimits;
import dev.atelier.tools.serve.ServerOptions;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code atelier serve}: one loaded model behind the A1111 txt2img API, every request with its own LoRAs. */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Serve txt2img over HTTP with the Automatic1111 API (/sdapi/v1/txt2img, progress, interrupt, "
                + "sd-models, samplers, loras), /metrics (Prometheus), /healthz and /readyz. Requests with different "
                + "LoRAs (<lora:NAME:WEIGHT> in the prompt) share UNet batches. Atelier's own: PUT/DELETE "
                + "/atelier/v1/loras/NAME (LoRA upload), /atelier/v1/progress/stream (server-sent events), and with "
                + "--catalog POST /atelier/v1/search (catalog items similar to an image) and /atelier/v1/evaluate (generated "
                + "images against a wardrobe), and /atelier/v1/trainings (LoRA training jobs from uploaded photos: start, "
                + "status with loss and previews, cancel; one at a time beside generation).",
                "Without --model it serves the embedded default model, and the demo's LoRAs (work/demo) when the demo "
                        + "has run. Ctrl-C or SIGTERM shuts down gracefully."},
        footer = {"", "Examples:",
            "  atelier serve",
            "  atelier serve --model rv6.safetensors --loras loras/ --max-batch 8 --queue 64",
            "  atelier serve --listen --port 7860 --token \"$TOKEN\"   # all interfaces, bearer token",
            "  atelier serve --catalog catalog.idx --embedder mnv3.pth   # also search the catalog by image",
            "  curl -s localhost:7860/sdapi/v1/txt2img -H 'Content-Type: application/json' \\",
            "      -d '{\"prompt\": \"jacket <lora:anna:0.8>\", \"steps\": 20}'"})
final class ServeCommand extends CliCommand {
    private static final Logger LOG = LoggerFactory.getLogger(ServeCommand.class);

    @Option(names = "--port", defaultValue = "7860", paramLabel = "N", description = "TCP port (A1111's). Default: ${DEFAULT-VALUE}.")
    int port;

    @Option(names = "--listen", arity = "0..1", fallbackValue = "0.0.0.0", paramLabel = "HOST",
            description = "Listen on HOST, or on every interface when no HOST is given (default: 127.0.0.1, this machine only).")
    String listen;

    @Option(names = "--queue", defaultValue = "64", paramLabel = "N",
            description = "Requests accepted and not finished at most; more get 429 with Retry-After. Default: ${DEFAULT-VALUE}.")
    int queue;

    @Option(names = "--token", paramLabel = "TOKEN",
            description = "Require Authorization: Bearer TOKEN on every request except /healthz and /readyz.")
    String token;

    @Option(names = "--max-steps", defaultValue = "150", paramLabel = "N", description = "Steps per request at most. Default: ${DEFAULT-VALUE}.")
    int maxSteps;

    @Option(names = "--max-images", defaultValue = "64", paramLabel = "N",
            description = "batch_size x n_iter per request at most. Default: ${DEFAULT-VALUE}.")
    int maxImages;

    @Option(names = "--max-pixels", defaultValue = "4194304", paramLabel = "N",
            description = "width x height at most. Default: ${DEFAULT-VALUE} (2048x2048).")
    long maxPixels;

    @Option(names = "--max-body-kb", defaultValue = "1024", paramLabel = "KB", description = "Request body size at most. Default: ${DEFAULT-VALUE}.")
    long maxBodyKb;

    @Option(names = "--max-lora-mb", defaultValue = "256", paramLabel = "MB",
            description = "Size of a LoRA uploaded through PUT /atelier/v1/loras/NAME at most. Default: ${DEFAULT-VALUE}.")
    long maxLoraMb;

    @Option(names = "--catalog", paramLabel = "DIR|es://HOST:PORT/NAME",
            description = "Also answer POST /atelier/v1/search (catalog items most similar to an image) and "
                    + "/atelier/v1/evaluate (generated images against a wardrobe) from this catalog index; needs --embedder.")
    String catalogLocation;

    @Option(names = "--embedder", paramLabel = "PATH",
            description = "The MobileNetV3-Large weights (torchvision .pth or .safetensors) that embedded --catalog's "
                    + "images, with atelier embed's defaults (torch backend, pooled features, v1 preprocessing unless the file "
                    + "declares its own).")
    Path embedderModel;

    @Option(names = "--max-trainings", defaultValue = "4", paramLabel = "N",
            description = "LoRA training jobs (POST /atelier/v1/trainings) waiting or running at most; they run one at a time. "
                    + "Default: ${DEFAULT-VALUE}.")
    int maxTrainings;

    @Option(names = "--shutdown-seconds", defaultValue = "60", paramLabel = "S",
            description = "On shutdown, how long running requests may take before they are cancelled. Default: ${DEFAULT-VALUE}.")
    long shutdownSeconds;

    @Mixin
    ServedModelOptions served;

    @Override
    public Integer call() throws InterruptedException {
        if (port < 0 || port > 65535 || queue < 1 || shutdownSeconds < 0 || maxTrainings < 1) {
            throw new InvalidInputException("--port must be 0..65535, --queue and --max-trainings >= 1 and --shutdown-seconds >= 0");
        }
        if (maxBodyKb < 1 || maxBodyKb > (1L << 40) || maxLoraMb < 1 || maxLoraMb > (1L << 30)) {
            throw new InvalidInputException("--max-body-kb must be 1.." + (1L << 40) + " and --max-lora-mb 1.." + (1L << 30));
        }
        ServerOptions options = new ServerOptions(listen == null ? "127.0.0.1" : listen, port, token,
                new ServerLimits(maxBodyKb * 1024, maxPixels, maxSteps, maxImages, maxLoraMb << 20),
                Duration.ofSeconds(shutdownSeconds));
        if ((catalogLocation == null) != (embedderModel == null)) {
            throw new InvalidInputException("--catalog and --embedder go together: the catalog's features come from that embedder");
        }
        ServedModelOptions.Resolved m = served.resolve();
        Path checkpoint = m.checkpoint(), loraDir = m.loraDir();
        served.threads.apply();
        CountDownLatch stop = new CountDownLatch(1), stopped = new CountDownLatch(1);
        try (ImageEmbedder embedder = embedderModel == null ? null
                        : ImageEmbedder.open(embedderModel, Backend.TORCH, EmbedderOptions.defaults());
                CatalogSearch catalog = catalogLocation == null ? null : CatalogSearches.open(catalogLocation);
                Pipeline pipeline = Pipeline.load(checkpoint, m.pipeline());
                GenerationService service = new GenerationService(pipeline, loraDir, served.service(queue));
                LoraTrainingJobs trainings = new LoraTrainingJobs(new LoraTrainingJobs.Model(checkpoint,
                        m.pipeline().config().map(LdmConfig::load).orElseGet(LdmConfig::sd15), m.pipeline().tokenizer()),
                        service.loras(), trainingFolder(), maxTrainings, service::busy);
                ApiServer server = ApiServer.start(service, checkpoint, options,
                        new ApiServer.Extras(embedder, catalog, trainings, m.trainingResolution()))) {
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                stop.countDown();
                try {
                    stopped.await(); // the JVM exits once the server has answered what it accepted
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "atelier-serve-shutdown"));
            String url = "http://" + (options.host().contains(":") ? "[" + options.host() + "]" : options.host()) + ":"
                    + server.port();
            if (json()) {
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("url", url);
                r.put("model", checkpoint.toString());
                r.put("loras", loraDir.toString());
                printJson(r);
            } else {
                System.err.println("atelier serve: " + url + " (model " + checkpoint.getFileName() + ", LoRAs from "
                        + loraDir + ")" + (token == null ? "" : ", bearer token required"));
            }
            stop.await();
            LOG.info("shutting down: finishing accepted requests (up to {} s)", shutdownSeconds);
        } finally {
            stopped.countDown();
        }
        return 0;
    }

    private static Path trainingFolder() {
        try {
            Path dir = java.nio.file.Files.createTempDirectory("atelier-training");
            dir.toFile().deleteOnExit();
            return dir;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("cannot make a folder for LoRA trainings: " + e.getMessage(), e);
        }
    }
}
