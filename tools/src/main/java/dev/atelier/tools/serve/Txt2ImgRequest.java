package dev.atelier.tools.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.sd.GenerationRequest;
import dev.atelier.engine.sd.Sampler;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The body of A1111's {@code POST /sdapi/v1/txt2img}, read into a {@link GenerationRequest}.
 * Fields and defaults are A1111's API model (StableDiffusionProcessingTxt2Img): prompt "",
 * negative_prompt "", steps 20, cfg_scale 7, width and height 512, seed -1 (random),
 * sampler_name or else sampler_index ("Euler" when both are missing: the API model's default
 * for sampler_index), batch_size 1, n_iter 1, eta, and override_settings.CLIP_stop_at_last_layers
 * for clip skip. Fields Atelier does not know are ignored, as A1111's clients send many.
 *
 * @param generation the request for the engine, its seed drawn when -1 was asked
 * @param parameters the fields as A1111 echoes them in its answer's {@code parameters}
 */
public record Txt2ImgRequest(GenerationRequest generation, Map<String, Object> parameters) {
    /** A1111's API default when neither sampler_name nor sampler_index is given. */
    static final Sampler DEFAULT_SAMPLER = Sampler.EULER;

    /** Reads body; anything wrong with it is an ApiException (400). */
    public static Txt2ImgRequest parse(byte[] body, ObjectMapper json, ServerLimits limits) {
        return parse(JsonFields.readObject(body, json), limits);
    }

    /** Reads a body already parsed as JSON (one line of a batch file); anything wrong is an ApiException. */
    public static Txt2ImgRequest parse(JsonNode root, ServerLimits limits) {
        JsonFields f = new JsonFields(JsonFields.requireObject(root));
        String prompt = f.string("prompt", "");
        String negative = f.string("negative_prompt", "");
        int steps = f.integer("steps", 20, 1, limits.maxSteps());
        double cfg = f.number("cfg_scale", 7.0);
        int width = f.integer("width", 512, 8, 1 << 16);
        int height = f.integer("height", 512, 8, 1 << 16);
        if (width % 8 != 0 || height % 8 != 0) {
            throw ApiException.badRequest("width and height must be multiples of 8, got " + width + "x" + height);
        }
        if ((long) width * height > limits.maxPixels()) {
            throw ApiException.badRequest("width x height must be at most " + limits.maxPixels() + " pixels, got "
                    + width + "x" + height);
        }
        long askedSeed = f.integer("seed", -1);
        if (askedSeed < -1 || askedSeed > 0xFFFFFFFFL) {
            throw ApiException.badRequest("field \"seed\" must be -1 (random) or between 0 and 4294967295, got " + askedSeed);
        }
        long seed = askedSeed == -1 ? ThreadLocalRandom.current().nextLong(0xFFFFFFFFL) : askedSeed;
        int batchSize = f.integer("batch_size", 1, 1, limits.maxImages());
        int iterations = f.integer("n_iter", 1, 1, limits.maxImages());
        if ((long) batchSize * iterations > limits.maxImages()) {
            throw ApiException.badRequest("batch_size x n_iter must be at most " + limits.maxImages() + ", got "
                    + batchSize + " x " + iterations);
        }
        double eta = f.number("eta", -1);
        int clipSkip = f.object("override_settings").integer("CLIP_stop_at_last_layers", 1, 1, 12);
        Sampler sampler = sampler(f);
        GenerationRequest g;
        try {
            g = new GenerationRequest(prompt, negative, sampler, steps, cfg, seed, width, height, batchSize, iterations,
                    clipSkip, eta, null);
        } catch (InvalidInputException e) {
            throw ApiException.badRequest(e.getMessage());
        }
        Map<String, Object> echo = new LinkedHashMap<>();
        echo.put("prompt", prompt);
        echo.put("negative_prompt", negative);
        echo.put("seed", askedSeed);
        echo.put("sampler_name", sampler.displayName());
        echo.put("sampler_index", sampler.displayName());
        echo.put("batch_size", batchSize);
        echo.put("n_iter", iterations);
        echo.put("steps", steps);
        echo.put("cfg_scale", cfg);
        echo.put("width", width);
        echo.put("height", height);
        echo.put("eta", f.has("eta") ? eta : null);
        echo.put("override_settings", clipSkip == 1 ? Map.of() : Map.of("CLIP_stop_at_last_layers", clipSkip));
        return new Txt2ImgRequest(g, echo);
    }

    /** sampler_name, else sampler_index: an A1111 name, or (older clients) an index into /sdapi/v1/samplers. */
    private static Sampler sampler(JsonFields f) {
        String field = f.has("sampler_name") ? "sampler_name" : "sampler_index";
        if (!f.has(field)) {
            return DEFAULT_SAMPLER;
        }
        try {
            return Sampler.fromName(f.string(field, null));
        } catch (ApiException notAString) {
            int i = f.integer(field, 0, 0, Sampler.values().length - 1);
            return Sampler.values()[i];
        } catch (InvalidInputException e) {
            throw ApiException.badRequest("unknown sampler \"" + f.string(field, null) + "\" in " + field
                    + "; known: " + A1111Listings.samplerNames());
        }
    }
}
