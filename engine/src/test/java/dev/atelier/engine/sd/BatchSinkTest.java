package dev.atelier.engine.sd;

import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.testing.Fixtures;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Pipeline.generate hands each batch over as soon as it is decoded, and refuses sizes that cannot fit first. */
class BatchSinkTest {
    @Test
    void eachBatchIsHandedOverBeforeTheNextOneStartsAndMatchesTheCollectedRun() {
        Path root = Fixtures.sd15Tiny();
        try (Pipeline pipeline = Pipeline.load(root.resolve("model/model.safetensors"), Pipeline.Options.defaults()
                .withConfig(root.resolve("model/model.yaml")).withTokenizer(root.resolve("model/tokenizer")))) {
            GenerationRequest request = GenerationRequest.of("a jacket", "", 11).withSampler(Sampler.EULER, 2)
                    .withSize(64, 64).withBatch(2, 3);
            AtomicInteger handed = new AtomicInteger();
            List<Integer> handedAtStep = new ArrayList<>();
            List<Integer> firsts = new ArrayList<>();
            List<GeneratedImage> images = new ArrayList<>();
            pipeline.generate(request, List.of(), (done, total) -> {
                handedAtStep.add(handed.get());
                return true;
            }, (first, batch, latents) -> {
                firsts.add(first);
                images.addAll(batch);
                assertEquals(2 * 4 * 8 * 8, latents.length);
                handed.incrementAndGet();
            });
            assertEquals(List.of(0, 2, 4), firsts);
            // Steps 1-2 run batch 0, 3-4 batch 1, 5-6 batch 2: batch k was handed over before batch k+1's steps.
            assertEquals(List.of(0, 0, 1, 1, 2, 2), handedAtStep);
            Generation collected = pipeline.generate(request, List.of(), null);
            assertEquals(6, images.size());
            for (int k = 0; k < 6; k++) {
                assertEquals(11 + k, images.get(k).seed());
                assertArrayEquals(collected.images().get(k).rgb(), images.get(k).rgb(), "image " + k);
                assertEquals(collected.images().get(k).parameters(), images.get(k).parameters());
            }

            InvalidInputException e = assertThrows(InvalidInputException.class, () -> pipeline.generate(
                    request.withSize(8192, 8192).withBatch(64, 1), List.of(), null, (f, b, l) -> fail("nothing runs")));
            assertTrue(e.getMessage().contains("activation memory"), e.getMessage());
        }
    }
}
