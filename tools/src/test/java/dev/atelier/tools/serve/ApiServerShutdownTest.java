package dev.atelier.tools.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.UncheckedIOException;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Graceful shutdown over HTTP: new requests get 503 while accepted ones finish, requests still
 * running at the deadline are cancelled, and every accepted request gets an answer before the
 * server stops listening.
 */
class ApiServerShutdownTest {
    @TempDir
    Path dir;

    private static String body(String prompt, int steps) {
        return "{\"prompt\": \"" + prompt + "\", \"seed\": 3, \"steps\": " + steps + ", \"width\": 64, \"height\": 64}";
    }

    private static void assertJson(HttpResponse<String> r, int status) {
        assertEquals(status, r.statusCode(), r.body());
        assertTrue(TestServer.json(r).isObject(), r.body());
    }

    @Test
    void shutdownUnderLoadFinishesAcceptedRequestsAndRefusesNewOnes() throws Exception {
        TestServer s = new TestServer(dir.resolve("loras"), 16, TestServer.options().withShutdownDeadline(Duration.ofMinutes(5)));
        try {
            CompletableFuture<HttpResponse<String>> longOne = s.postAsync("/sdapi/v1/txt2img", body("a long one", 2000));
            s.awaitRunning(1);
            List<CompletableFuture<HttpResponse<String>>> short_ = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                short_.add(s.postAsync("/sdapi/v1/txt2img", body("short " + i, 20)));
            }
            // All four accepted (or the short ones already answered) before shutdown starts.
            while (TestServer.json(s.get("/sdapi/v1/progress")).get("state").get("job_count").asInt()
                    + short_.stream().filter(CompletableFuture::isDone).count() < 4) {
                Thread.sleep(5);
            }
            Thread closing = Thread.ofPlatform().start(s.server::close);
            while (s.get("/readyz").statusCode() != 503) {
                Thread.sleep(5);
            }
            HttpResponse<String> refused = s.post("/sdapi/v1/txt2img", body("too late", 2));
            assertJson(refused, 503);
            assertTrue(refused.body().contains("shutting down"), refused.body());
            for (CompletableFuture<HttpResponse<String>> f : short_) {
                HttpResponse<String> r = f.get();
                assertJson(r, 200);
                assertEquals(1, TestServer.json(r).get("images").size());
            }
            assertTrue(closing.isAlive(), "the long request keeps the server up until it is answered");
            s.post("/sdapi/v1/interrupt", "");
            closing.join();
            HttpResponse<String> cancelled = longOne.get();
            assertJson(cancelled, 503);
            assertThrows(UncheckedIOException.class, () -> s.get("/healthz"), "the server has stopped listening");
        } finally {
            s.close();
        }
    }

    @Test
    void requestsRunningAtTheDeadlineAreCancelledAndAnswered() throws Exception {
        try (TestServer s = new TestServer(dir.resolve("loras"), 16, TestServer.options().withShutdownDeadline(Duration.ZERO))) {
            List<CompletableFuture<HttpResponse<String>>> running = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                running.add(s.postAsync("/sdapi/v1/txt2img", body("a long one " + i, 2000)));
            }
            s.awaitRunning(3);
            s.server.close();
            for (CompletableFuture<HttpResponse<String>> f : running) {
                HttpResponse<String> r = f.get();
                assertJson(r, 503);
                assertTrue(r.body().contains("shut down before the request finished"), r.body());
            }
        }
    }
}
