package dev.atelier.tools.serve;

import static dev.atelier.tools.serve.ApiServerTest.assertError;
import static dev.atelier.tools.serve.ApiServerTest.body;
import static dev.atelier.tools.serve.ApiServerTest.images;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.atelier.engine.synth.Person;
import dev.atelier.engine.synth.Wardrobe;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LoRA training jobs through the HTTP API of a running server (sd15-tiny model): a job trains
 * from uploaded photos, reports its steps, losses and previews, and its LoRA serves prompts at
 * once; bad requests are 400s, a full queue a 429, a running job cancels at its next step.
 */
class TrainingRoutesTest {
    @TempDir
    Path dir;

    private List<String> photos(int count) throws Exception {
        List<String> encoded = new ArrayList<>();
        for (Path p : Wardrobe.write(Person.ANA, dir.resolve("wardrobe"), count, 64, 5)) {
            encoded.add(Base64.getEncoder().encodeToString(Files.readAllBytes(p)));
        }
        return encoded;
    }

    private static String job(String name, List<String> photos, int steps, int sampleEvery) {
        ObjectNode o = TestServer.JSON.createObjectNode();
        o.put("name", name);
        ArrayNode images = o.putArray("images");
        photos.forEach(images::add);
        o.put("caption", "a red jacket");
        o.put("steps", steps);
        o.put("rank", 4);
        o.put("learning_rate", 1e-3);
        o.put("batch_size", 2);
        o.put("seed", 7);
        o.put("sample_every", sampleEvery);
        return o.toString();
    }

    private static JsonNode await(TestServer s, String id, Set<String> states) throws InterruptedException {
        Instant deadline = Instant.now().plus(Duration.ofMinutes(10)); // a guard against a hang, not a speed requirement
        while (Instant.now().isBefore(deadline)) {
            JsonNode status = TestServer.json(s.get("/atelier/v1/trainings/" + id));
            if (states.contains(status.get("state").asText())) {
                return status;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("training " + id + " never reached " + states);
    }

    @Test
    void aTrainedLoraServesPromptsAtOnce() throws Exception {
        try (TestServer s = new TestServer(dir.resolve("loras"), 8, TestServer.options(), null, 2)) {
            HttpResponse<String> started = s.post("/atelier/v1/trainings", job("ana-style", photos(4), 6, 3));
            assertEquals(202, started.statusCode(), started.body());
            String id = TestServer.json(started).get("id").asText();
            assertEquals("/atelier/v1/trainings/" + id, started.headers().firstValue("Location").orElseThrow());

            JsonNode done = await(s, id, Set.of("done", "failed", "cancelled"));
            assertEquals("done", done.get("state").asText(), done.toString());
            assertEquals(6, done.get("step").asInt());
            assertEquals(6, done.get("losses").size());
            done.get("losses").forEach(l -> assertTrue(Double.isFinite(l.asDouble()) && l.asDouble() > 0, l.toString()));
            assertEquals("ana-style", done.get("lora").asText());
            assertEquals(2, done.get("samples").size(), "previews after steps 3 and 6");
            for (JsonNode sample : done.get("samples")) {
                BufferedImage png = ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(sample.get("image").asText())));
                assertNotNull(png, "preview of step " + sample.get("step"));
            }
            assertTrue(TestServer.json(s.get("/atelier/v1/trainings")).get("trainings").size() >= 1);

            // The LoRA is in the served folder and changes what a prompt gives.
            assertTrue(Files.isRegularFile(dir.resolve("loras/ana-style.safetensors")));
            List<String> names = new ArrayList<>();
            TestServer.json(s.get("/sdapi/v1/loras")).forEach(n -> names.add(n.get("name").asText()));
            assertTrue(names.contains("ana-style"), names.toString());
            BufferedImage with = images(s.post("/sdapi/v1/txt2img", body("a red jacket <lora:ana-style:1>", 11, "Euler", 2, 1))).getFirst();
            BufferedImage without = images(s.post("/sdapi/v1/txt2img", body("a red jacket", 11, "Euler", 2, 1))).getFirst();
            assertFalse(java.util.Arrays.equals(with.getRGB(0, 0, with.getWidth(), with.getHeight(), null, 0, with.getWidth()),
                    without.getRGB(0, 0, without.getWidth(), without.getHeight(), null, 0, without.getWidth())));

            assertError(s.send(s.request("/atelier/v1/trainings/" + id).DELETE().build()), 409, "already finished");
            try (Stream<Path> left = Files.list(dir.resolve("loras"))) {
                assertEquals(3, left.count(), "style, other and the trained LoRA: no temporary files");
            }
        }
    }

    private static long step(TestServer s, String id) {
        return TestServer.json(s.get("/atelier/v1/trainings/" + id)).get("step").asLong();
    }

    /**
     * Generation comes first: while a request is queued or running, a training waits at its next
     * step boundary, so it takes at most the step it was in (and one it may have begun as the
     * request arrived); once the request is answered it goes on.
     */
    @Test
    void aTrainingWaitsWhileGenerationRuns() throws Exception {
        try (TestServer s = new TestServer(dir.resolve("loras"), 8, TestServer.options(), null, 1)) {
            String id = TestServer.json(s.post("/atelier/v1/trainings", job("long", photos(2), 100_000, 0))).get("id").asText();
            await(s, id, Set.of("running"));
            while (step(s, id) < 2) {
                Thread.sleep(20);
            }
            for (int request = 0; request < 2; request++) {
                long before = step(s, id);
                HttpResponse<String> image = s.post("/sdapi/v1/txt2img",
                        "{\"prompt\": \"a red jacket\", \"steps\": 40, \"width\": 64, \"height\": 64, \"seed\": " + request + "}");
                long after = step(s, id);
                assertEquals(200, image.statusCode(), image.body());
                assertTrue(after - before <= 2, "the training took " + (after - before) + " steps while a 40-step image was made");
                long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos(); // a guard against a hang
                while (step(s, id) == after) {
                    assertTrue(System.nanoTime() < deadline, "the training did not go on after the request");
                    Thread.sleep(20);
                }
            }
            assertEquals(200, s.send(s.request("/atelier/v1/trainings/" + id).DELETE().build()).statusCode());
            await(s, id, Set.of("cancelled"));
        }
    }

    @Test
    void badRequestsFullQueueAndCancellation() throws Exception {
        try (TestServer s = new TestServer(dir.resolve("loras"), 8, TestServer.options(), null, 2)) {
            List<String> photos = photos(2);
            assertError(s.post("/atelier/v1/trainings", job("../escape", photos, 4, 0)), 400, "LoRA name");
            assertError(s.post("/atelier/v1/trainings", job("x", List.of(), 4, 0)), 400, "images");
            assertError(s.post("/atelier/v1/trainings", job("x", List.of(photos.get(0), "bm90IGFuIGltYWdl"), 4, 0)), 400, "images[1]");
            assertError(s.post("/atelier/v1/trainings", job("x", List.of("%%%"), 4, 0)), 400, "not base64");
            assertError(s.post("/atelier/v1/trainings", job("x", photos, 0, 0)), 400, "steps");
            ObjectNode captions = (ObjectNode) TestServer.JSON.readTree(job("x", photos, 4, 0));
            captions.putArray("captions").add("only one");
            assertError(s.post("/atelier/v1/trainings", captions.toString()), 400, "captions");
            assertError(s.get("/atelier/v1/trainings/nope"), 404, "nope");

            // A long job runs, a second waits: the queue (2) is full and a third gets 429.
            String running = TestServer.json(s.post("/atelier/v1/trainings", job("long", photos, 100_000, 0))).get("id").asText();
            await(s, running, Set.of("running"));
            String queued = TestServer.json(s.post("/atelier/v1/trainings", job("queued", photos, 4, 0))).get("id").asText();
            HttpResponse<String> full = s.post("/atelier/v1/trainings", job("third", photos, 4, 0));
            assertError(full, 429, "training queue full");
            assertTrue(full.headers().firstValue("Retry-After").isPresent());

            HttpResponse<String> cancelled = s.send(s.request("/atelier/v1/trainings/" + queued).DELETE().build());
            assertEquals(200, cancelled.statusCode(), cancelled.body());
            assertEquals("cancelled", TestServer.json(s.get("/atelier/v1/trainings/" + queued)).get("state").asText());
            assertEquals(200, s.send(s.request("/atelier/v1/trainings/" + running).DELETE().build()).statusCode());
            JsonNode stopped = await(s, running, Set.of("cancelled", "done", "failed"));
            assertEquals("cancelled", stopped.get("state").asText(), stopped.toString());
            assertTrue(stopped.get("step").asLong() < 100_000);
            assertTrue(stopped.get("lora").isNull());
            assertFalse(Files.exists(dir.resolve("loras/long.safetensors")), "a cancelled training adds no LoRA");
        }
    }
}
