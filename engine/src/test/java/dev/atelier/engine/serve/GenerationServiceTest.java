package dev.atelier.engine.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.AtelierException.CancelledException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.Progress;
import dev.atelier.engine.lora.LoraRequest;
import dev.atelier.engine.sd.Generation;
import dev.atelier.engine.sd.GenerationRequest;
import dev.atelier.engine.sd.Pipeline;
import dev.atelier.engine.sd.Sampler;
import dev.atelier.engine.testing.Fixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The serving engine on the sd15-tiny model: concurrent requests with different LoRAs, samplers,
 * guidance and image counts share UNet batches and each gets the latents and images of the same
 * request run alone through the pipeline; cancelling a request stops it; a full queue refuses.
 */
class GenerationServiceTest {
    @TempDir
    Path loraDir;

    private static Pipeline load() {
        Path root = Fixtures.sd15Tiny();
        return Pipeline.load(root.resolve("model/model.safetensors"), Pipeline.Options.defaults()
                .withConfig(root.resolve("model/model.yaml")).withTokenizer(root.resolve("model/tokenizer")));
    }

    private static GenerationRequest request(String prompt, Sampler sampler, int steps, double cfg, long seed, int size,
            int count) {
        return GenerationRequest.of(prompt, "blurry", seed).withSampler(sampler, steps).withCfg(cfg).withSize(64, 64)
                .withBatch(size, count);
    }

    private static void assertSameGeneration(String what, Generation alone, Generation served) {
        float[] e = alone.latents(), a = served.latents();
        assertEquals(e.length, a.length, what);
        double maxRef = 0, maxErr = 0;
        for (int i = 0; i < e.length; i++) {
            maxRef = Math.max(maxRef, Math.abs(e[i]));
            maxErr = Math.max(maxErr, Math.abs(e[i] - a[i]));
        }
        assertTrue(maxErr <= 1e-5 * maxRef, what + ": latents differ by " + maxErr + " against max|ref| " + maxRef);
        assertEquals(alone.images().size(), served.images().size(), what);
        for (int k = 0; k < alone.images().size(); k++) {
            byte[] x = alone.images().get(k).rgb(), y = served.images().get(k).rgb();
            int worst = 0;
            for (int i = 0; i < x.length; i++) {
                worst = Math.max(worst, Math.abs((x[i] & 0xff) - (y[i] & 0xff)));
            }
            assertTrue(worst <= 1, what + " image " + k + ": pixels differ by " + worst + "/255");
            assertEquals(alone.images().get(k).seed(), served.images().get(k).seed());
        }
    }

    @Test
    void concurrentRequestsWithDifferentLorasEqualTheirSoloRuns() throws Exception {
        Files.copy(Fixtures.sd15Tiny().resolve("lora_kohya.safetensors"), loraDir.resolve("style.safetensors"));
        List<GenerationRequest> requests = List.of(
                request("a red jacket <lora:style:0.8>", Sampler.EULER_A, 4, 7, 10, 2, 1),
                request("a blue dress", Sampler.DPMPP_2M_KARRAS, 3, 5, 20, 1, 2),
                request("a coat <lora:style:-1:0.5>", Sampler.HEUN, 3, 7, 30, 1, 1),
                request("a scarf <lora:style:0.8>", Sampler.DDIM, 5, 7.5, 40, 1, 1),
                request("a hat <lora:style:0.8>", Sampler.EULER, 3, 1, 50, 1, 1)); // unguided
        List<Generation> served = new ArrayList<>();
        GenerationService.Stats stats;
        try (Pipeline p = load();
                GenerationService service = new GenerationService(p, loraDir,
                        new GenerationService.Options(4, 16, 1L << 30, Duration.ofSeconds(5)))) {
            List<GenerationJob> jobs = new ArrayList<>();
            for (GenerationRequest r : requests) {
                jobs.add(service.submit(r));
            }
            for (GenerationJob j : jobs) {
                served.add(j.result().get());
                assertEquals(j.stepsTotal(), j.stepsDone());
            }
            stats = service.stats();
            assertEquals(List.of("style"), service.loras().names());
        }
        assertTrue(stats.largestBatch() >= 2, "requests shared batches: largest " + stats.largestBatch());
        assertEquals(0, stats.outstanding());
        assertEquals(2, stats.loras().sets(), "two distinct LoRA sets: style at 0.8, and at -1/0.5");
        try (Pipeline alone = load()) {
            for (int i = 0; i < requests.size(); i++) {
                GenerationRequest r = requests.get(i);
                LoraRequest.FromPrompt tags = LoraRequest.fromPrompt(r.prompt(), loraDir);
                GenerationRequest untagged = new GenerationRequest(tags.prompt(), r.negative(), r.sampler(), r.steps(),
                        r.cfg(), r.seed(), r.width(), r.height(), r.batchSize(), r.batchCount(), r.clipSkip(), r.eta(),
                        null);
                assertSameGeneration("request " + i, alone.generate(untagged, tags.loras(), Progress.NONE),
                        served.get(i));
            }
        }
        String parameters = served.get(0).images().get(1).parameters();
        assertTrue(parameters.startsWith("a red jacket <lora:style:0.8>\n"), parameters);
        assertTrue(parameters.contains("Seed: 11"), parameters);
    }

    @Test
    void cancelStopsARequestAndAFullQueueRefuses() throws Exception {
        try (Pipeline p = load();
                GenerationService service = new GenerationService(p, loraDir,
                        new GenerationService.Options(2, 1, 0, Duration.ofSeconds(5)))) {
            GenerationJob job = service.submit(request("a long one", Sampler.EULER, 500, 7, 1, 1, 1));
            assertThrows(GenerationService.QueueFullException.class,
                    () -> service.submit(request("one too many", Sampler.EULER, 2, 7, 2, 1, 1)));
            while (job.stepsDone() < 2) {
                Thread.sleep(1);
            }
            job.cancel();
            ExecutionException e = assertThrows(ExecutionException.class, () -> job.result().get());
            assertInstanceOf(CancelledException.class, e.getCause());
            assertTrue(job.stepsDone() < 500);
            // The slot is free again once the cancelled request has finished.
            while (service.stats().outstanding() > 0) {
                Thread.sleep(1);
            }
            assertEquals(1, service.submit(request("after", Sampler.EULER, 2, 7, 3, 1, 1)).result().get().images().size());
            assertThrows(InvalidInputException.class,
                    () -> service.submit(request("x <lora:../escape:1>", Sampler.EULER, 2, 7, 3, 1, 1)));
            assertThrows(InvalidInputException.class,
                    () -> service.submit(request("x <lora:missing:1>", Sampler.EULER, 2, 7, 3, 1, 1)));
        }
    }
}
