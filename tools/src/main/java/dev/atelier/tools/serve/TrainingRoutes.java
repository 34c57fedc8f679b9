package dev.atelier.tools.serve;

import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.serve.GenerationService;
import dev.atelier.engine.serve.LoraTrainingJobs;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * LoRA training jobs over HTTP ({@link LoraTrainingJobs}): {@code POST /atelier/v1/trainings} with
 * the photos (base64) and settings starts one and answers 202 with its id; {@code GET
 * /atelier/v1/trainings/ID} gives its state, step, loss curve and preview images;
 * {@code DELETE /atelier/v1/trainings/ID} cancels it; {@code GET /atelier/v1/trainings} lists
 * them. A finished job's LoRA is in the served folder under its name.
 */
final class TrainingRoutes {
    /** Retry-After of a 429 when the training queue is full: trainings take minutes. */
    private static final long RETRY_SECONDS = 60;
    private static final int MAX_IMAGES = 1000;

    private final LoraTrainingJobs jobs;
    private final int defaultResolution;
    private final ServerLimits limits;
    private final JsonAnswers answers;

    TrainingRoutes(LoraTrainingJobs jobs, int defaultResolution, ServerLimits limits, JsonAnswers answers) {
        this.jobs = jobs;
        this.defaultResolution = defaultResolution;
        this.limits = limits;
        this.answers = answers;
    }

    void register(RoutesConfig routes) {
        routes.post("/atelier/v1/trainings", this::start);
        routes.get("/atelier/v1/trainings", ctx -> answers.write(ctx, 200,
                Map.of("trainings", jobs.list().stream().map(s -> json(s, false)).toList())));
        routes.get("/atelier/v1/trainings/{id}", ctx -> answers.write(ctx, 200, json(find(ctx), true)));
        routes.delete("/atelier/v1/trainings/{id}", this::cancel);
    }

    private void start(Context ctx) {
        // Photos make these bodies larger than a txt2img request: they get the upload limit.
        JsonFields f = RequestBodies.readFields(ctx, limits.maxLoraBytes(), answers.mapper());
        String name = f.string("name", null);
        if (name == null) {
            throw ApiException.badRequest("name: the LoRA's name is required");
        }
        List<String> encoded = f.strings("images", 1, MAX_IMAGES);
        List<byte[]> images = new ArrayList<>();
        for (int i = 0; i < encoded.size(); i++) {
            images.add(Base64Images.decode(encoded.get(i), "images[" + i + "]"));
        }
        List<String> captions = f.has("captions") ? f.strings("captions", 1, MAX_IMAGES) : List.of();
        String caption = f.string("caption", "");
        int steps = f.integer("steps", 300, 1, 100_000);
        long seed = f.integer("seed", -1L);
        LoraTrainingJobs.Request request = new LoraTrainingJobs.Request(name, images, captions, caption, steps,
                f.integer("rank", 8, 1, 256), (float) f.number("learning_rate", 1e-4),
                f.integer("resolution", defaultResolution, 64, 2048), f.integer("batch_size", 1, 1, 64),
                seed == -1 ? ThreadLocalRandom.current().nextLong(1L << 32) : seed,
                f.integer("sample_every", 0, 0, steps), f.string("sample_prompt", caption));
        LoraTrainingJobs.Status status;
        try {
            status = jobs.submit(request);
        } catch (InvalidInputException e) {
            throw ApiException.badRequest(e.getMessage());
        } catch (GenerationService.QueueFullException e) {
            throw new ApiException(429, "queue full", e.getMessage(), RETRY_SECONDS);
        } catch (AtelierException.CancelledException e) {
            throw new ApiException(503, "shutting down", e.getMessage());
        }
        ctx.header("Location", "/atelier/v1/trainings/" + status.id());
        answers.write(ctx, 202, json(status, false));
    }

    private void cancel(Context ctx) {
        LoraTrainingJobs.Status status = find(ctx);
        if (!jobs.cancel(status.id())) {
            throw new ApiException(409, "finished", "training " + status.id() + " has already finished ("
                    + status.state().name().toLowerCase(Locale.ROOT) + ")");
        }
        answers.write(ctx, 200, Map.of("id", status.id(), "cancelled", true));
    }

    private LoraTrainingJobs.Status find(Context ctx) {
        String id = ctx.pathParam("id");
        return jobs.status(id).orElseThrow(() -> new ApiException(404, "not found", "no training \"" + id + "\""));
    }

    /** A job as JSON; with samples, its preview images as base64 PNGs. */
    private static Map<String, Object> json(LoraTrainingJobs.Status s, boolean samples) {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("id", s.id());
        o.put("name", s.name());
        o.put("state", s.state().name().toLowerCase(Locale.ROOT));
        o.put("step", s.step());
        o.put("total", s.total());
        o.put("loss", s.losses().isEmpty() ? null : s.losses().getLast());
        o.put("losses", s.losses());
        o.put("lora", s.lora().isPresent() ? s.name() : null);
        o.put("error", s.error().orElse(null));
        o.put("created", s.created().toString());
        o.put("started", s.started().map(Object::toString).orElse(null));
        o.put("finished", s.finished().map(Object::toString).orElse(null));
        if (samples) {
            List<Map<String, Object>> list = new ArrayList<>();
            for (LoraTrainingJobs.Sample sample : s.samples()) {
                list.add(Map.of("step", sample.step(), "image", Base64.getEncoder().encodeToString(sample.png())));
            }
            o.put("samples", list);
        } else {
            o.put("samples", s.samples().size());
        }
        return o;
    }

}
