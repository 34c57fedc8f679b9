package dev.atelier.tools.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.javalin.http.Context;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.Map;

/** Writes answers as JSON through the server's ObjectMapper; errors as {"error": ..., "detail": ...}. */
final class JsonAnswers {
    private final ObjectMapper json;

    JsonAnswers(ObjectMapper json) {
        this.json = json;
    }

    ObjectMapper mapper() {
        return json;
    }

    void write(Context ctx, int status, Object body) {
        byte[] bytes;
        try {
            bytes = json.writeValueAsBytes(body);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
        ctx.status(status).contentType("application/json").result(bytes);
    }

    void error(Context ctx, ApiException e) {
        if (e.retryAfterSeconds() >= 0) {
            ctx.header("Retry-After", Long.toString(e.retryAfterSeconds()));
        }
        if (e.status() == 401) {
            ctx.header("WWW-Authenticate", "Bearer");
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("error", e.error());
        body.put("detail", e.detail());
        write(ctx, e.status(), body);
    }
}
