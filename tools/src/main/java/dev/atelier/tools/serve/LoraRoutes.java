package dev.atelier.tools.serve;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.serve.LoraRegistry;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
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
        long max = limits.maxLoraBytes();
        if (ctx.req().getContentLengthLong() > max) {
            throw tooLarge(max);
        }
        Path file;
        try (InputStream in = ctx.req().getInputStream()) {
            file = loras.add(name, channel -> {
                byte[] buffer = new byte[1 << 16];
                long total = 0;
                for (int n; (n = in.read(buffer)) > 0;) {
                    total += n;
                    if (total > max) {
                        throw tooLarge(max);
                    }
                    ByteBuffer b = ByteBuffer.wrap(buffer, 0, n);
                    while (b.hasRemaining()) {
                        channel.write(b);
                    }
                }
            });
        } catch (InvalidInputException e) {
            throw ApiException.badRequest(e.getMessage());
        } catch (IOException e) {
            throw ApiException.badRequest("the body could not be read: " + e.getMessage());
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

    private static ApiException tooLarge(long max) {
        return new ApiException(413, "body too large", "a LoRA upload may have at most " + max + " bytes");
    }

    private static long size(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            return -1;
        }
    }
}
