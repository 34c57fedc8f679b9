package dev.atelier.engine.sd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.testing.Fixtures;
import dev.atelier.engine.text.LongPromptMode;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * A bf16 load must not keep the fp32 file's pages resident (it once took 5.2 GiB RSS after loading a
 * 4 GiB SD1.5 file in bf16). Measured through /proc/self/smaps: the resident kB of the mappings
 * of the checkpoint file.
 */
class ResidentPagesTest {
    private static final Path MODEL = Fixtures.sd15Tiny().resolve("model/model.safetensors");

    @Test
    void droppingPagesEmptiesTheMappingAndViewsStillRead() throws IOException {
        try (StableDiffusionWeights w = StableDiffusionWeights.open(MODEL)) {
            long checksum = touchAll(w);
            long before = residentKb(MODEL);
            assertTrue(before > Files.size(MODEL) / 1024 / 2, "every page read is resident: " + before + " kB");
            w.dropResidentPages();
            long after = residentKb(MODEL);
            assertTrue(after < before / 10, "after dropping: " + after + " kB of " + before + " kB");
            assertEquals(checksum, touchAll(w), "views read the same bytes again");
        }
    }

    @Test
    void aBf16PipelineDoesNotKeepTheFileResident() throws IOException {
        Path root = Fixtures.sd15Tiny();
        Pipeline.Options options = new Pipeline.Options(Optional.of(root.resolve("model/tokenizer")),
                Optional.of(root.resolve("model/model.yaml")), Optional.empty(), DType.BF16, LongPromptMode.CHUNKED,
                OpKernel.AUTO, ScheduleSource.CONFIG);
        try (Pipeline sd = Pipeline.load(MODEL, options)) {
            long resident = residentKb(MODEL);
            assertTrue(resident < Files.size(MODEL) / 1024 / 10, "resident after a bf16 load: " + resident + " kB");
            Generation g = sd.generate(new GenerationRequest("a jacket", "", Sampler.fromName("euler"), 2, 5.0, 1,
                    64, 64, 1, 1, 1, -1, null), dev.atelier.engine.core.Progress.NONE);
            for (float v : g.latents()) {
                assertTrue(Float.isFinite(v), "the converted networks still run");
            }
        }
    }

    /** Reads one long per 4 KiB page of every tensor; returns their sum. */
    private static long touchAll(StableDiffusionWeights w) {
        long sum = 0;
        for (TensorView v : w.checkpoint().tensors().values()) {
            for (long o = 0; o + 8 <= v.data().byteSize(); o += 4096) {
                sum += v.data().get(ValueLayout.JAVA_LONG_UNALIGNED, o);
            }
        }
        return sum;
    }

    /** Resident kB of this process's mappings of file (summed over /proc/self/smaps). */
    static long residentKb(Path file) throws IOException {
        String target = file.toRealPath().toString();
        long total = 0;
        boolean inTarget = false;
        for (String line : Files.readAllLines(Path.of("/proc/self/smaps"))) {
            if (!line.isEmpty() && Character.digit(line.charAt(0), 16) >= 0 && line.contains("-") && !line.contains(":  ")
                    && line.split("\\s+").length >= 5 && line.split("\\s+")[0].contains("-")) {
                inTarget = line.endsWith(" " + target);
            } else if (inTarget && line.startsWith("Rss:")) {
                total += Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return total;
    }
}
