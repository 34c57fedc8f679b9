package dev.atelier.tools.serve;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.serve.LoraRegistry;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Atelier's LoRA management, beside A1111's read-only listing: {@code PUT /atelier/v1/loras/NAME}
 * with the .safetensors file as the raw body adds (or replaces) NAME in the LoRA folder once the
 * file proves to be a LoRA for the served model ({@link LoraRegistry#add}), so a shop hands a
 * customer's freshly trained LoRA to a running server; {@code DELETE /atelier/v1/loras/NAME}
 * removes it. A refused upload leaves the folder as it was.
 */
final class LoraRoutes {
    private final LoraRegistry loras;
    private final ServerLimits limits;
    private final JsonAnswers answers;

    LoraRoutes(LoraRegistry loras, ServerLimits limits, JsonAnswers answers) {
        this.loras = loras;
        this.limits = limits;
        this.answers = answers;
    }

    void register(RoutesConfig routes) {
        routes.put("/atelier/v1/loras/{name}", this::upload);
        routes.delete("/atelier/v1/loras/{name}", this::delete);
    }

    private void upload(Context ctx) {
        String name = ctx.pathParam("name");
        Path file;
        try {
            file = loras.add(name, channel -> RequestBodies.copy(ctx, limits.maxLoraBytes(), channel));
        } catch (InvalidInputException e) {
            RequestBodies.drain(ctx); // a refused name or file: the body may be partly unread
            throw ApiException.badRequest(e.getMessage());
        }
        Map<String, Object> answer = new LinkedHashMap<>();
        answer.put("name", name);
        answer.put("path", file.toString());
        answer.put("bytes", size(file));
        answers.write(ctx, 201, answer);
    }

    private void delete(Context ctx) {
        String name = ctx.pathParam("name");
        boolean removed;
        try {
            removed = loras.remove(name);
        } catch (InvalidInputException e) {
            throw ApiException.badRequest(e.getMessage());
        }
        if (!removed) {
            throw new ApiException(404, "not found", "no LoRA \"" + name + "\" in the LoRA folder");
        }
        answers.write(ctx, 200, Map.of("name", name, "deleted", true));
    }

    private static long size(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            return -1;
        }
    }
}
