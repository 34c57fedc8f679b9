package dev.atelier.tools.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.atelier.engine.sd.GenerationRequest;
import dev.atelier.engine.sd.Sampler;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** A1111's txt2img fields, defaults and refusals, without a model. */
class Txt2ImgRequestTest {
    private static final ServerLimits LIMITS = new ServerLimits(1 << 20, 1024L * 1024, 150, 16, 1 << 20);

    private static Txt2ImgRequest parse(String body) {
        return Txt2ImgRequest.parse(body.getBytes(StandardCharsets.UTF_8), new ObjectMapper(), LIMITS);
    }

    private static String refusal(String body) {
        ApiException e = assertThrows(ApiException.class, () -> parse(body), body);
        assertEquals(400, e.status(), body);
        return e.detail();
    }

    @Test
    void missingFieldsTakeA1111sApiDefaults() {
        Txt2ImgRequest r = parse("{}");
        GenerationRequest g = r.generation();
        assertEquals("", g.prompt());
        assertEquals("", g.negative());
        assertEquals(20, g.steps());
        assertEquals(7.0, g.cfg());
        assertEquals(512, g.width());
        assertEquals(512, g.height());
        assertEquals(Sampler.EULER, g.sampler(), "the API model's sampler_index default");
        assertEquals(1, g.batchSize());
        assertEquals(1, g.batchCount());
        assertEquals(1, g.clipSkip());
        assertTrue(g.seed() >= 0 && g.seed() < 0xFFFFFFFFL, "seed -1 draws one: " + g.seed());
        assertEquals(-1L, r.parameters().get("seed"), "parameters echo the seed asked for");
        assertNull(r.parameters().get("eta"));
    }

    @Test
    void a1111FieldNamesAreRead() {
        Txt2ImgRequest r = parse("""
                {"prompt": "a jacket <lora:style:0.5>", "negative_prompt": "blurry", "steps": 4, "cfg_scale": 5.5,
                 "width": 64, "height": 128, "seed": 42, "sampler_name": "DPM++ 2M Karras", "sampler_index": "Euler",
                 "batch_size": 2, "n_iter": 3, "eta": 0.5, "override_settings": {"CLIP_stop_at_last_layers": 2},
                 "restore_faces": false, "styles": [], "script_args": [], "send_images": true}""");
        GenerationRequest g = r.generation();
        assertEquals("a jacket <lora:style:0.5>", g.prompt());
        assertEquals("blurry", g.negative());
        assertEquals(4, g.steps());
        assertEquals(5.5, g.cfg());
        assertEquals(64, g.width());
        assertEquals(128, g.height());
        assertEquals(42, g.seed());
        assertEquals(Sampler.DPMPP_2M_KARRAS, g.sampler(), "sampler_name wins over sampler_index");
        assertEquals(2, g.batchSize());
        assertEquals(3, g.batchCount());
        assertEquals(0.5, g.eta());
        assertEquals(2, g.clipSkip());
        assertEquals("DPM++ 2M Karras", r.parameters().get("sampler_name"));
        assertEquals(42L, r.parameters().get("seed"));
        assertEquals(Sampler.EULER_A, parse("{\"sampler_index\": \"Euler a\"}").generation().sampler());
        assertEquals(Sampler.EULER_A, parse("{\"sampler_name\": \"euler_a\"}").generation().sampler(), "Atelier's ids too");
        assertEquals(Sampler.values()[2], parse("{\"sampler_index\": 2}").generation().sampler(), "an index, as old clients send");
        assertEquals(20, parse("{\"steps\": 20.0}").generation().steps(), "an integral number is an integer");
    }

    @Test
    void badFieldsAreRefusedWithTheirName() {
        assertTrue(refusal("{").startsWith("malformed JSON"), refusal("{"));
        assertTrue(refusal("[1, 2]").contains("JSON object"));
        assertTrue(refusal("{\"steps\": \"many\"}").contains("\"steps\" must be an integer, got a string"));
        assertTrue(refusal("{\"steps\": 2.5}").contains("\"steps\""));
        assertTrue(refusal("{\"prompt\": 7}").contains("\"prompt\" must be a string"));
        assertTrue(refusal("{\"cfg_scale\": true}").contains("\"cfg_scale\" must be a number"));
        assertTrue(refusal("{\"sampler_name\": \"PLMS\"}").contains("unknown sampler \"PLMS\""));
        assertTrue(refusal("{\"sampler_name\": \"PLMS\"}").contains("\"Euler a\""), "lists the known names");
        assertTrue(refusal("{\"width\": 65}").contains("multiples of 8"));
        assertTrue(refusal("{\"width\": 2048, \"height\": 1024}").contains("at most 1048576 pixels"));
        assertTrue(refusal("{\"steps\": 151}").contains("between 1 and 150"));
        assertTrue(refusal("{\"steps\": 0}").contains("between 1 and 150"));
        assertTrue(refusal("{\"batch_size\": 4, \"n_iter\": 5}").contains("batch_size x n_iter must be at most 16"));
        assertTrue(refusal("{\"seed\": -2}").contains("\"seed\""));
        assertTrue(refusal("{\"override_settings\": 3}").contains("\"override_settings\" must be an object"));
    }
}
