package dev.atelier.engine.sd;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.testing.FuzzSeeds;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the LDM YAML reader ({@link LdmConfig#load}): any bytes either give a config or fail
 * with a {@link FormatException} naming the file; anything else (SnakeYAML's own exceptions, a
 * ClassCastException from an unexpected node type, a stack overflow on deep nesting, a hang on
 * aliases that expand) is a finding. Seeds: {@code LdmConfigFuzzTestInputs/yaml/}, made by
 * {@link #seeds()}. A longer run, as for the other fuzz tests:
 *
 * <pre>JAZZER_FUZZ=1 JAZZER_MAX_DURATION=10m JAZZER_INSTRUMENTATION_INCLUDES='org.yaml.**:dev.atelier.**' \
 *     mvn -pl engine -am test -Dtest='LdmConfigFuzzTest#yaml' -Dsurefire.failIfNoSpecifiedTests=false</pre>
 */
class LdmConfigFuzzTest {
    private static final Path FILE;

    static {
        try {
            FILE = Files.createTempFile("atelier-fuzz", ".yaml");
            FILE.toFile().deleteOnExit();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @FuzzTest(maxDuration = "60s")
    void yaml(byte[] bytes) throws IOException {
        Files.write(FILE, bytes);
        try {
            LdmConfig config = LdmConfig.load(FILE);
            if (config.unet() == null || config.vae() == null || config.text() == null) {
                throw new AssertionError("a config without a network's parameters: " + config);
            }
        } catch (FormatException expected) {
            // the one way a bad file may fail
        }
    }

    static Map<String, byte[]> seeds() {
        Map<String, byte[]> s = new LinkedHashMap<>();
        s.put("small-sd15", """
                model:
                  params:
                    linear_start: 0.001
                    linear_end: 0.015
                    timesteps: 500
                    scale_factor: 0.2
                    unet_config:
                      params: {in_channels: 4, out_channels: 4, model_channels: 16, attention_resolutions: [2, 1],
                               num_res_blocks: 1, channel_mult: [1, 2], num_heads: 2, context_dim: 16}
                    first_stage_config:
                      params:
                        embed_dim: 4
                        ddconfig: {z_channels: 4, ch: 16, ch_mult: [1, 2], num_res_blocks: 1, attn_resolutions: []}
                    cond_stage_config:
                      params: {hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32}
                """.getBytes(StandardCharsets.UTF_8));
        s.put("defaults-only", "model:\n  params: {}\n".getBytes(StandardCharsets.UTF_8));
        s.put("anchors-and-aliases", "a: &x [1, 2]\nmodel:\n  params:\n    unet_config: *x\n".getBytes(StandardCharsets.UTF_8));
        // Found by the fuzzer: a tag that URL-decodes to a space made SnakeYAML throw IllegalArgumentException.
        s.put("tag-decoding-to-a-space", "!!%2".getBytes(StandardCharsets.UTF_8));
        s.put("wrong-types", "model:\n  params:\n    timesteps: many\n    linear_start: [0.1]\n".getBytes(StandardCharsets.UTF_8));
        return s;
    }

    @Test
    void committedSeedsAreGenerated() {
        FuzzSeeds.check(LdmConfigFuzzTest.class, "yaml", seeds());
    }
}
