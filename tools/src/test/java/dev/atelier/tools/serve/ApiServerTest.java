package dev.atelier.tools.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.awt.image.BufferedImage;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The A1111 API over real HTTP on the sd15-tiny model: answers decoded (PNG pixels, parameters
 * chunk, info), listings, metrics, concurrent clients with different LoRAs, interrupt, a full
 * queue, bad requests, the bearer token.
 */
class ApiServerTest {
    @TempDir
    Path dir;

    static String body(String prompt, long seed, String sampler, int steps, int batchSize) {
        return "{\"prompt\": \"" + prompt + "\", \"negative_prompt\": \"blurry\", \"seed\": " + seed
                + ", \"sampler_name\": \"" + sampler + "\", \"steps\": " + steps
                + ", \"width\": 64, \"height\": 64, \"batch_size\": " + batchSize + ", \"unknown_field\": {\"x\": 1}}";
    }

    static List<BufferedImage> images(HttpResponse<String> r) {
        assertEquals(200, r.statusCode(), r.body());
        List<BufferedImage> out = new ArrayList<>();
        for (JsonNode image : TestServer.json(r).get("images")) {
            out.add(Pngs.image(Pngs.bytes(image.asText())));
        }
        return out;
    }

    static void assertError(HttpResponse<String> r, int status, String detailPart) {
        assertEquals(status, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("application/json"), r.headers().toString());
        JsonNode e = TestServer.json(r);
        assertNotNull(e.get("error"), r.body());
        assertTrue(e.get("detail").asText().contains(detailPart), r.body());
        assertFalse(r.body().contains("Exception") || r.body().contains("\tat "), "no stack trace: " + r.body());
    }

    @Test
    void txt2imgAnswersAsA1111WithPngsCarryingTheirParameters() throws Exception {
        try (TestServer s = new TestServer(dir.resolve("loras"), 8, TestServer.options())) {
            HttpResponse<String> r = s.post("/sdapi/v1/txt2img", body("a denim jacket", 7, "Euler", 2, 2)
                    .replace("\"negative_prompt\": \"blurry\", ", ""));
            List<BufferedImage> images = images(r);
            assertEquals(2, images.size());
            assertEquals(64, images.getFirst().getWidth());
            assertEquals(64, images.getFirst().getHeight());
            JsonNode answer = TestServer.json(r);
            JsonNode info = TestServer.JSON.readTree(answer.get("info").asText());
            for (int k = 0; k < 2; k++) {
                String parameters = Pngs.text(Pngs.bytes(answer.get("images").get(k).asText()), "parameters");
                assertNotNull(parameters, "parameters chunk");
                assertTrue(parameters.startsWith("a denim jacket\n"), parameters);
                assertTrue(parameters.contains("Steps: 2, Sampler: Euler, CFG scale: 7"), parameters);
                assertTrue(parameters.contains("Seed: " + (7 + k) + ","), parameters);
                assertTrue(parameters.contains("Size: 64x64"), parameters);
                assertEquals(parameters, info.get("infotexts").get(k).asText());
                assertEquals(7 + k, info.get("all_seeds").get(k).asLong());
            }
            assertEquals(7, info.get("seed").asLong());
            assertEquals("Euler", info.get("sampler_name").asText());
            assertEquals("model", info.get("sd_model_name").asText());
            JsonNode p = answer.get("parameters");
            assertEquals("a denim jacket", p.get("prompt").asText());
            assertEquals("", p.get("negative_prompt").asText(), "A1111's default");
            assertEquals(7.0, p.get("cfg_scale").asDouble(), "A1111's default");
            assertEquals(1, p.get("n_iter").asInt(), "A1111's default");
            assertEquals(2, p.get("batch_size").asInt());
            assertEquals(7, p.get("seed").asLong());

            HttpResponse<String> random = s.post("/sdapi/v1/txt2img", body("a coat", -1, "Euler a", 2, 1));
            JsonNode randomInfo = TestServer.JSON.readTree(TestServer.json(random).get("info").asText());
            long seed = randomInfo.get("seed").asLong();
            assertTrue(seed >= 0, "seed -1 draws one");
            assertEquals(-1, TestServer.json(random).get("parameters").get("seed").asLong());
            assertTrue(randomInfo.get("infotexts").get(0).asText().contains("Seed: " + seed + ","));

            JsonNode models = TestServer.json(s.get("/sdapi/v1/sd-models"));
            assertEquals("model", models.get(0).get("model_name").asText());
            assertTrue(models.get(0).get("title").asText().startsWith("model.safetensors ["));
            JsonNode samplers = TestServer.json(s.get("/sdapi/v1/samplers"));
            List<String> names = new ArrayList<>();
            samplers.forEach(n -> names.add(n.get("name").asText()));
            assertTrue(names.containsAll(List.of("Euler a", "Euler", "DPM++ 2M Karras", "DDIM")), names.toString());
            JsonNode loras = TestServer.json(s.get("/sdapi/v1/loras"));
            assertEquals("other", loras.get(0).get("name").asText());
            assertEquals("style", loras.get(1).get("name").asText());
            assertTrue(loras.get(1).get("path").asText().endsWith("style.safetensors"));

            JsonNode idle = TestServer.json(s.get("/sdapi/v1/progress"));
            assertEquals(0.0, idle.get("progress").asDouble());
            assertEquals(0, idle.get("state").get("job_count").asInt());
            assertEquals(200, s.get("/healthz").statusCode());
            assertEquals(200, s.get("/readyz").statusCode());
            String metrics = s.get("/metrics").body();
            for (String name : new String[] {"atelier_queue_depth ", "atelier_batches_total ", "atelier_batch_size_max ",
                    "atelier_lora_cache_hits_total ", "atelier_lora_cache_misses_total ", "atelier_lora_cache_evictions_total ",
                    "atelier_request_latency_seconds_bucket{outcome=\"ok\"", "atelier_http_answers_total{outcome=\"ok\"}"}) {
                assertTrue(metrics.contains(name), name + " in\n" + metrics);
            }
            assertTrue(metrics.contains("atelier_request_latency_seconds_count{outcome=\"ok\"} 2"), metrics);
        }
    }

    @Test
    void concurrentClientsWithDifferentLorasEachGetTheImagesOfTheirSoloRun() throws Exception {
        List<String> bodies = List.of(body("a red jacket <lora:style:0.8>", 11, "Euler a", 3, 1),
                body("a blue dress <lora:other:-1>", 11, "DPM++ 2M Karras", 3, 2),
                body("a red jacket", 11, "Euler a", 3, 1));
        try (TestServer s = new TestServer(dir.resolve("loras"), 8, TestServer.options())) {
            List<List<BufferedImage>> solo = new ArrayList<>();
            for (String b : bodies) {
                solo.add(images(s.post("/sdapi/v1/txt2img", b)));
            }
            assertTrue(Pngs.maxDifference(solo.get(0).getFirst(), solo.get(2).getFirst()) > 1,
                    "the LoRA changes the image, so a mix-up would show");
            for (int round = 0; round < 2; round++) {
                List<CompletableFuture<HttpResponse<String>>> together = new ArrayList<>();
                for (String b : bodies) {
                    together.add(s.postAsync("/sdapi/v1/txt2img", b));
                }
                for (int i = 0; i < bodies.size(); i++) {
                    List<BufferedImage> served = images(together.get(i).get());
                    assertEquals(solo.get(i).size(), served.size());
                    for (int k = 0; k < served.size(); k++) {
                        int d = Pngs.maxDifference(solo.get(i).get(k), served.get(k));
                        assertTrue(d <= 1, "request " + i + " image " + k + " differs from its solo run by " + d + "/255");
                    }
                }
            }
        }
    }

    @Test
    void interruptStopsTheRunningRequests() throws Exception {
        try (TestServer s = new TestServer(dir.resolve("loras"), 8, TestServer.options())) {
            CompletableFuture<HttpResponse<String>> running = s.postAsync("/sdapi/v1/txt2img",
                    body("a long one", 1, "Euler", 2000, 1));
            s.awaitRunning(1);
            JsonNode progress = TestServer.json(s.get("/sdapi/v1/progress"));
            assertTrue(progress.get("progress").asDouble() > 0 && progress.get("progress").asDouble() < 1, progress.toString());
            assertEquals(2000, progress.get("state").get("sampling_steps").asLong());
            assertEquals(200, s.post("/sdapi/v1/interrupt", "").statusCode());
            assertError(running.get(), 409, "interrupted");
            assertEquals(0, TestServer.json(s.get("/sdapi/v1/progress")).get("state").get("job_count").asInt());
            assertEquals(1, images(s.post("/sdapi/v1/txt2img", body("after", 2, "Euler", 2, 1))).size());
        }
    }

    /** The value of the sample named exactly so (name and labels) in a Prometheus scrape. */
    private static double sample(String metrics, String name) {
        for (String line : metrics.split("\n")) {
            if (line.startsWith(name + " ")) {
                return Double.parseDouble(line.substring(name.length() + 1).trim());
            }
        }
        throw new AssertionError(name + " not in\n" + metrics);
    }

    @Test
    void metricsCountImagesPerBatchStepTimesAndQueueWaits() throws Exception {
        try (TestServer s = new TestServer(dir.resolve("loras"), 8, TestServer.options())) {
            // One request at a time, one image each: every UNet batch holds one image, one per step.
            assertEquals(1, images(s.post("/sdapi/v1/txt2img", body("a coat", 1, "Euler", 3, 1))).size());
            assertEquals(1, images(s.post("/sdapi/v1/txt2img", body("a hat <lora:style:0.5>", 2, "Euler", 2, 1))).size());
            String m = s.get("/metrics").body();
            assertEquals(5, sample(m, "atelier_batch_samples_count"), m);
            assertEquals(5, sample(m, "atelier_batch_samples_sum"), m);
            assertEquals(5, sample(m, "atelier_batch_samples_bucket{le=\"1.0\"}"), m);
            assertEquals(5, sample(m, "atelier_unet_batch_time_seconds_count"), m);
            assertTrue(sample(m, "atelier_unet_batch_time_seconds_sum") > 0, m);
            assertEquals(2, sample(m, "atelier_queue_wait_seconds_count"), m);

            // Two images of one request may share batches: 4 image steps in 2 to 4 batches of at most 2.
            assertEquals(2, images(s.post("/sdapi/v1/txt2img", body("a scarf", 3, "Euler", 2, 2))).size());
            m = s.get("/metrics").body();
            double batches = sample(m, "atelier_batch_samples_count");
            assertEquals(sample(m, "atelier_batches_total"), batches, m);
            assertTrue(batches >= 7 && batches <= 9, m);
            assertEquals(9, sample(m, "atelier_batch_samples_sum"), m);
            assertEquals(batches, sample(m, "atelier_batch_samples_bucket{le=\"2.0\"}"), m);
            // 9 - batches batches held two images, the others one.
            assertEquals(2 * batches - 9, sample(m, "atelier_batch_samples_bucket{le=\"1.0\"}"), m);
            assertEquals(batches, sample(m, "atelier_unet_batch_time_seconds_count"), m);
            assertEquals(4, sample(m, "atelier_queue_wait_seconds_count"), m);
        }
    }

    @Test
    void aFullQueueAnswers429WithRetryAfter() throws Exception {
        try (TestServer s = new TestServer(dir.resolve("loras"), 1, TestServer.options())) {
            CompletableFuture<HttpResponse<String>> running = s.postAsync("/sdapi/v1/txt2img",
                    body("a long one", 1, "Euler", 2000, 1));
            s.awaitRunning(1);
            HttpResponse<String> refused = s.post("/sdapi/v1/txt2img", body("one too many", 2, "Euler", 2, 1));
            assertError(refused, 429, "queue is full");
            long retry = Long.parseLong(refused.headers().firstValue("Retry-After").orElseThrow());
            assertTrue(retry >= 1, "Retry-After " + retry);
            s.post("/sdapi/v1/interrupt", "");
            assertEquals(409, running.get().statusCode());
            assertTrue(s.get("/metrics").body().contains("atelier_http_answers_total{outcome=\"queue_full\"} 1.0"));
        }
    }

    @Test
    void badRequestsGetAJsonErrorAndNoStackTrace() {
        try (TestServer s = new TestServer(dir.resolve("loras"), 8, TestServer.options())) {
            assertError(s.post("/sdapi/v1/txt2img", "{\"prompt\": "), 400, "malformed JSON");
            assertError(s.post("/sdapi/v1/txt2img", "{\"steps\": \"four\"}"), 400, "\"steps\" must be an integer");
            assertError(s.post("/sdapi/v1/txt2img", "{\"sampler_name\": \"PLMS\"}"), 400, "unknown sampler");
            assertError(s.post("/sdapi/v1/txt2img", "{\"width\": 100, \"height\": 64}"), 400, "multiples of 8");
            assertError(s.post("/sdapi/v1/txt2img", "{\"steps\": 5000}"), 400, "between 1 and 2000");
            assertError(s.post("/sdapi/v1/txt2img", "{\"prompt\": \"x <lora:missing:1>\", \"steps\": 2}"), 400,
                    "no missing.safetensors");
            assertError(s.post("/sdapi/v1/txt2img", "{\"prompt\": \"x <lora:../escape:1>\", \"steps\": 2}"), 400,
                    "leaves the LoRA folder");
            String huge = "{\"prompt\": \"" + "x".repeat(100_000) + "\"}";
            assertError(s.post("/sdapi/v1/txt2img", huge), 413, "at most 65536 bytes");
            assertError(s.get("/sdapi/v1/nothing-here"), 404, "/sdapi/v1/nothing-here");
            assertEquals(200, s.get("/healthz").statusCode(), "the server is still up");
        }
    }

    @Test
    void aTokenIsRequiredWhenSet() {
        try (TestServer s = new TestServer(dir.resolve("loras"), 8, TestServer.options().withToken("s3cret"))) {
            HttpRequest bare = HttpRequest.newBuilder(s.uri("/sdapi/v1/samplers")).GET().build();
            HttpResponse<String> none = s.send(bare);
            assertError(none, 401, "Bearer");
            assertEquals("Bearer", none.headers().firstValue("WWW-Authenticate").orElse(""));
            HttpRequest wrong = HttpRequest.newBuilder(s.uri("/sdapi/v1/txt2img")).header("Authorization", "Bearer guess")
                    .POST(HttpRequest.BodyPublishers.ofString("{}")).build();
            assertError(s.send(wrong), 401, "Bearer");
            assertEquals(200, s.get("/sdapi/v1/samplers").statusCode(), "with the token");
            assertEquals(200, s.send(HttpRequest.newBuilder(s.uri("/healthz")).GET().build()).statusCode(),
                    "probes need no token");
            assertNotEquals(401, s.send(HttpRequest.newBuilder(s.uri("/readyz")).GET().build()).statusCode());
        }
    }
}
