package dev.atelier.tools.serve;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.atelier.engine.core.NativeLibrary;
import dev.atelier.engine.embed.ImageEmbedder;
import dev.atelier.engine.index.CatalogSearch;
import dev.atelier.engine.serve.GenerationService;
import dev.atelier.engine.serve.LoraTrainingJobs;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.http.HttpResponseException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Map;
import org.eclipse.jetty.server.handler.GracefulHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP server (Javalin on Jetty) in front of a {@link GenerationService}: the A1111 subset
 * ({@link A1111Routes}), LoRA uploads ({@link LoraRoutes}), progress as server-sent events
 * ({@link ProgressEvents}), catalog search by image and style evaluation when given a catalog ({@link CatalogRoutes}),
 * LoRA training jobs when given them ({@link TrainingRoutes}),
 * /metrics in Prometheus format, /healthz and /readyz, an optional bearer
 * token, and errors as JSON without stack traces. {@link #close()} shuts down gracefully:
 * new txt2img requests get 503, accepted ones get until the deadline to finish and are then
 * cancelled, and every accepted request is answered before the server stops.
 */
public final class ApiServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ApiServer.class);
    /** How long cancelled requests get to reach their next step and be answered. */
    private static final Duration CANCEL_GRACE = Duration.ofSeconds(30);

    private final ServerOptions options;
    private final GenerationService service;
    private final ActiveJobs active = new ActiveJobs();
    private final ServerMetrics metrics;
    private final JsonAnswers answers = new JsonAnswers(new ObjectMapper());
    private final ProgressEvents events;
    private final Javalin app;
    private final int port;
    private boolean closed; // guarded by this

    /** Starts listening on options' host and port. The service stays the caller's to close. */
    public static ApiServer start(GenerationService service, Path modelFile, ServerOptions options) {
        return start(service, modelFile, options, Extras.NONE);
    }

    /**
     * What a server may answer beyond generation and LoRA uploads; each part stays the caller's to close.
     *
     * @param embedder          with catalog: catalog search by image and style evaluation ({@link CatalogRoutes}); or null
     * @param catalog           the catalog those search; or null
     * @param trainings         LoRA training jobs ({@link TrainingRoutes}); or null
     * @param trainingResolution the training resolution when a request gives none (the model's native size)
     */
    public record Extras(ImageEmbedder embedder, CatalogSearch catalog, LoraTrainingJobs trainings, int trainingResolution) {
        public static final Extras NONE = new Extras(null, null, null, 512);
    }

    /** Starts listening, with the extras given. */
    public static ApiServer start(GenerationService service, Path modelFile, ServerOptions options, Extras extras) {
        return new ApiServer(service, modelFile, options, extras);
    }

    /**
     * The same, also answering catalog searches by image and style evaluations ({@link CatalogRoutes}) with embedder and
     * catalog, which stay the caller's to close.
     */
    public static ApiServer start(GenerationService service, Path modelFile, ServerOptions options, ImageEmbedder embedder,
            CatalogSearch catalog) {
        return start(service, modelFile, options, new Extras(embedder, catalog, null, 512));
    }

    private ApiServer(GenerationService service, Path modelFile, ServerOptions options, Extras extras) {
        this.options = options;
        this.service = service;
        this.metrics = new ServerMetrics(service, active);
        service.addListener(metrics);
        A1111Routes a1111 = new A1111Routes(service, modelFile, options.limits(), active, metrics, answers);
        LoraRoutes loraRoutes = new LoraRoutes(service.loras(), options.limits(), answers);
        this.events = new ProgressEvents(active, answers);
        CatalogRoutes search = extras.catalog() == null ? null
                : new CatalogRoutes(new CatalogRoutes.Catalog(extras.embedder(), extras.catalog()), options.limits(), answers);
        TrainingRoutes trainings = extras.trainings() == null ? null
                : new TrainingRoutes(extras.trainings(), extras.trainingResolution(), options.limits(), answers);
        byte[] expected = options.token() == null ? null
                : ("Bearer " + options.token()).getBytes(StandardCharsets.UTF_8);
        this.app = Javalin.create(config -> {
            config.startup.showJavalinBanner = false;
            config.startup.showOldJavalinVersionWarning = false;
            config.http.maxRequestSize = options.limits().maxBodyBytes();
            config.jetty.host = options.host();
            config.jetty.port = options.port();
            // Jetty waits for requests in progress (answers being written) when it stops.
            config.jetty.modifyServer(server -> server.setStopTimeout(CANCEL_GRACE.toMillis()));
            config.jetty.modifyServletContextHandler(handler -> handler.insertHandler(new GracefulHandler()));
            config.routes.before(ctx -> authorize(ctx, expected));
            a1111.register(config.routes);
            loraRoutes.register(config.routes);
            events.register(config.routes);
            if (search != null) {
                search.register(config.routes);
            }
            if (trainings != null) {
                trainings.register(config.routes);
            }
            config.routes.get("/metrics", ctx -> ctx.contentType("text/plain; version=0.0.4; charset=utf-8")
                    .result(metrics.scrape()));
            config.routes.get("/healthz", ctx -> answers.write(ctx, 200, Map.of("status", "ok")));
            config.routes.get("/readyz", ctx -> {
                if (active.closed()) {
                    throw new ApiException(503, "shutting down", "the server is shutting down");
                }
                answers.write(ctx, 200, Map.of("status", "ready"));
            });
            config.routes.exception(ApiException.class, (e, ctx) -> answers.error(ctx, e));
            config.routes.exception(HttpResponseException.class, (e, ctx) -> answers.error(ctx,
                    new ApiException(e.getStatus(), httpReason(e.getStatus()), e.getMessage() + ": " + ctx.method() + " "
                            + ctx.path())));
            config.routes.exception(Exception.class, (e, ctx) -> {
                LOG.error("{} {} failed", ctx.method(), ctx.path(), e);
                answers.error(ctx, new ApiException(500, "internal error", "the server failed on this request"));
            });
            config.routes.after(ctx -> metrics.answered(ctx.statusCode()));
            // A handler thread that ran native work at the library's count (a catalog search, an
            // evaluation) keeps idle OpenMP workers, which would slow every later UNet batch.
            config.routes.after(ctx -> NativeLibrary.releaseThreads());
        });
        try {
            app.start();
        } catch (RuntimeException e) {
            service.removeListener(metrics);
            events.close();
            throw e;
        }
        this.port = app.port(); // Javalin answers -2 once stopped
    }

    /** The port listened on (the one picked when options asked for 0). */
    public int port() {
        return port;
    }

    private void authorize(Context ctx, byte[] expected) {
        if (expected == null || ctx.path().equals("/healthz") || ctx.path().equals("/readyz")) {
            return;
        }
        String header = ctx.header("Authorization");
        if (header == null || !MessageDigest.isEqual(expected, header.getBytes(StandardCharsets.UTF_8))) {
            throw new ApiException(401, "unauthorized", "this server needs the header Authorization: Bearer <token>");
        }
    }

    private static String httpReason(int status) {
        return switch (status) {
            case 404 -> "not found";
            case 405 -> "method not allowed";
            case 413 -> "body too large";
            default -> status >= 500 ? "internal error" : "bad request";
        };
    }

    /**
     * Refuses new txt2img requests (503), lets accepted ones finish until the shutdown deadline,
     * cancels those still running then, and stops the server once every accepted request is answered.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        active.close();
        try {
            if (!active.awaitEmpty(options.shutdownDeadline())) {
                LOG.warn("shutdown deadline {} passed: cancelling {} running requests", options.shutdownDeadline(),
                        active.cancelAll());
                if (!active.awaitEmpty(CANCEL_GRACE)) {
                    LOG.warn("{} requests still unanswered after cancelling", active.count());
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        events.close(); // open event streams would hold the server's stop
        app.stop();
        service.removeListener(metrics);
    }
}
