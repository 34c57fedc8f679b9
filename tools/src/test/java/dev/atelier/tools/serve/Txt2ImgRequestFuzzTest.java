package dev.atelier.tools.serve;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.atelier.engine.testing.FuzzSeeds;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the txt2img request body, what any client of {@code atelier serve} sends: any bytes
 * either make a request within the server's limits or fail with an {@link ApiException} of status
 * 400 (answered as JSON); anything else (Jackson's exceptions, an arithmetic overflow, a request
 * past a limit) is a finding. Seeds: {@code Txt2ImgRequestFuzzTestInputs/body/}, made by
 * {@link #seeds()}. A longer run:
 *
 * <pre>JAZZER_FUZZ=1 JAZZER_MAX_DURATION=10m JAZZER_INSTRUMENTATION_INCLUDES='com.fasterxml.jackson.**:dev.atelier.**' \
 *     mvn -pl tools test -Dtest='Txt2ImgRequestFuzzTest#body' -Dsurefire.failIfNoSpecifiedTests=false</pre>
 */
class Txt2ImgRequestFuzzTest {
    private static final ServerLimits LIMITS = new ServerLimits(1 << 20, 1024L * 1024, 150, 16, 1 << 20);
    private static final ObjectMapper JSON = new ObjectMapper();

    @FuzzTest(maxDuration = "60s")
    void body(byte[] bytes) {
        try {
            Txt2ImgRequest r = Txt2ImgRequest.parse(bytes, JSON, LIMITS);
            var g = r.generation();
            if (g.steps() < 1 || g.steps() > LIMITS.maxSteps() || (long) g.width() * g.height() > LIMITS.maxPixels()
                    || (long) g.batchSize() * g.batchCount() > LIMITS.maxImages()) {
                throw new AssertionError("a request past the limits: " + g);
            }
        } catch (ApiException e) {
            if (e.status() != 400) {
                throw new AssertionError("status " + e.status() + " for a bad body: " + e.detail(), e);
            }
        }
    }

    static Map<String, byte[]> seeds() {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("a1111-client", "{\"prompt\": \"a denim jacket <lora:anna:0.8>\", \"negative_prompt\": \"blurry\", \"steps\": 20,"
                + " \"cfg_scale\": 7, \"width\": 512, \"height\": 512, \"seed\": -1, \"sampler_name\": \"DPM++ 2M Karras\","
                + " \"batch_size\": 2, \"n_iter\": 1, \"override_settings\": {\"sd_model_checkpoint\": \"x\"}}");
        s.put("empty-object", "{}");
        s.put("sampler-index-and-floats", "{\"sampler_index\": \"Euler a\", \"steps\": 20.0, \"cfg_scale\": 1e308, \"seed\": 1e19}");
        s.put("wrong-types", "{\"prompt\": 5, \"width\": \"512\", \"batch_size\": [2]}");
        s.put("not-an-object", "[1, 2, 3]");
        Map<String, byte[]> out = new LinkedHashMap<>();
        s.forEach((k, v) -> out.put(k, v.getBytes(StandardCharsets.UTF_8)));
        return out;
    }

    @Test
    void committedSeedsAreGenerated() {
        FuzzSeeds.check(Txt2ImgRequestFuzzTest.class, "body", seeds());
    }
}
