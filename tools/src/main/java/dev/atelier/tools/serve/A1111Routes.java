package dev.atelier.tools.serve;

import dev.atelier.engine.core.AtelierException.CancelledException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.sd.Generation;
import dev.atelier.engine.serve.GenerationService;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Automatic1111 API subset: txt2img (answered when its images are done, without holding a
 * server thread meanwhile), progress, interrupt, and the model, sampler and LoRA listings.
 */
final class A1111Routes {
    private static final Logger LOG = LoggerFactory.getLogger(A1111Routes.class);

    private final GenerationService service;
    private final Path modelFile;
    private final ServerLimits limits;
    private final ActiveJobs active;
    private final ServerMetrics metrics;
    private final JsonAnswers answers;

    A1111Routes(GenerationService service, Path modelFile, ServerLimits limits, ActiveJobs active, ServerMetrics metrics,
            JsonAnswers answers) {
        this.service = service;
        this.modelFile = modelFile;
        this.limits = limits;
        this.active = active;
        this.metrics = metrics;
        this.answers = answers;
    }

    void register(RoutesConfig routes) {
        routes.post("/sdapi/v1/txt2img", this::txt2img);
        routes.get("/sdapi/v1/progress", ctx -> answers.write(ctx, 200, active.progress()));
        routes.post("/sdapi/v1/interrupt", ctx -> {
            active.cancelAll();
            answers.write(ctx, 200, Map.of());
        });
        routes.get("/sdapi/v1/sd-models", ctx -> answers.write(ctx, 200, A1111Listings.sdModels(service.model(), modelFile)));
        routes.get("/sdapi/v1/samplers", ctx -> answers.write(ctx, 200, A1111Listings.samplers()));
        routes.get("/sdapi/v1/loras", ctx -> answers.write(ctx, 200, A1111Listings.loras(service.loras().folder())));
    }

    private void txt2img(Context ctx) {
        if (active.closed()) { // before reading the body: refuse at once
            throw new ApiException(503, "shutting down", "the server is shutting down and takes no new requests");
        }
        Txt2ImgRequest request = Txt2ImgRequest.parse(RequestBodies.read(ctx, limits.maxBodyBytes()), answers.mapper(), limits);
        ActiveJobs.Entry entry = active.admit(() -> {
            try {
                return service.submit(request.generation());
            } catch (GenerationService.QueueFullException e) {
                long wait = Math.max(1, (metrics.meanLatency().toMillis() + 999) / 1000);
                throw new ApiException(429, "queue full", e.getMessage(), wait);
            } catch (InvalidInputException e) {
                throw ApiException.badRequest(e.getMessage());
            }
        });
        CompletableFuture<Void> answered = entry.job().result().handle((done, failure) -> {
            try {
                answer(ctx, request, done, failure);
            } finally {
                metrics.requestDone(entry.startNanos(), failure == null);
                active.remove(entry);
            }
            return null;
        });
        ctx.future(() -> answered);
    }

    private void answer(Context ctx, Txt2ImgRequest request, Generation done, Throwable failure) {
        try {
            if (failure == null) {
                answers.write(ctx, 200, Txt2ImgResponse.of(request, done, service.model(), answers.mapper()));
                return;
            }
            Throwable cause = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
            if (cause instanceof CancelledException) {
                answers.error(ctx, active.closed()
                        ? new ApiException(503, "shutting down", "the server shut down before the request finished")
                        : new ApiException(409, "interrupted", "the request was interrupted (POST /sdapi/v1/interrupt)"));
            } else if (cause instanceof InvalidInputException) {
                answers.error(ctx, ApiException.badRequest(cause.getMessage()));
            } else {
                LOG.error("txt2img failed", cause);
                answers.error(ctx, new ApiException(500, "internal error", String.valueOf(cause.getMessage())));
            }
        } catch (RuntimeException e) {
            LOG.error("txt2img answer failed", e);
            answers.error(ctx, new ApiException(500, "internal error", "the answer could not be written"));
        }
    }
}
