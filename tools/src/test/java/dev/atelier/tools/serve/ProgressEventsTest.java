package dev.atelier.tools.serve;

import static dev.atelier.tools.serve.ApiServerTest.body;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The progress event stream over real HTTP, while a request runs on the sd15-tiny model. */
class ProgressEventsTest {
    @TempDir
    Path dir;

    private static JsonNode json(String text) {
        try {
            return TestServer.JSON.readTree(text);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("not JSON: " + text, e);
        }
    }

    private static void await(List<JsonNode> events, Predicate<List<JsonNode>> done, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
        while (!done.test(events)) {
            assertTrue(System.nanoTime() < deadline, "no " + what + " in " + events);
            Thread.sleep(20);
        }
    }

    @Test
    void theStreamFollowsARequestStepByStepAndEndsIdle() throws Exception {
        try (TestServer s = new TestServer(dir.resolve("loras"), 8, TestServer.options())) {
            HttpResponse<Stream<String>> stream = s.client.send(s.request("/atelier/v1/progress/stream")
                    .header("Accept", "text/event-stream").GET().build(),
                    HttpResponse.BodyHandlers.ofLines());
            assertEquals(200, stream.statusCode());
            assertTrue(stream.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"),
                    stream.headers().toString());
            List<JsonNode> events = new CopyOnWriteArrayList<>();
            List<String> names = new CopyOnWriteArrayList<>();
            Thread reader = Thread.ofVirtual().start(() -> stream.body().forEach(line -> {
                if (line.startsWith("event: ")) {
                    names.add(line.substring("event: ".length()));
                } else if (line.startsWith("data: ")) {
                    events.add(json(line.substring("data: ".length())));
                }
            }));
            await(events, e -> !e.isEmpty(), "first event");
            assertEquals(0, events.getFirst().get("state").get("job_count").asInt(), "idle when connected");

            HttpResponse<String> done = s.post("/sdapi/v1/txt2img", body("a wool coat", 5, "Euler", 150, 1));
            assertEquals(200, done.statusCode(), done.body());
            await(events, e -> e.getLast().get("state").get("job_count").asInt() == 0 && e.size() > 2, "idle event after it");

            List<JsonNode> running = events.stream().filter(e -> e.get("state").get("job_count").asInt() == 1).toList();
            assertTrue(running.size() >= 2, "several events while it ran: " + events);
            long previous = -1;
            for (JsonNode e : running) {
                long step = e.get("state").get("sampling_step").asLong();
                assertTrue(step >= previous, "steps only go forward: " + running);
                assertTrue(e.get("progress").asDouble() >= 0 && e.get("progress").asDouble() <= 1, e.toString());
                previous = step;
            }
            assertTrue(running.stream().anyMatch(e -> e.get("progress").asDouble() > 0 && e.get("progress").asDouble() < 1),
                    "a step between the first and the last: " + running);
            assertTrue(names.stream().allMatch("progress"::equals), names.toString());
            stream.body().close();
            reader.join(TimeUnit.SECONDS.toMillis(30));
        }
    }
}
