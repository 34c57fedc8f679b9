package dev.atelier.tools.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.atelier.engine.sd.GeneratedImage;
import dev.atelier.engine.sd.Generation;
import dev.atelier.engine.sd.GenerationRequest;
import dev.atelier.engine.sd.Pipeline;
import dev.atelier.engine.sd.PngFiles;
import java.io.UncheckedIOException;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A1111's txt2img answer: {@code images} (base64 PNGs, each with its {@code parameters} chunk),
 * {@code parameters} (the request's fields) and {@code info} (a JSON object written as a
 * string, as A1111 does: seeds, all_seeds, infotexts, prompts, size, sampler, model).
 */
final class Txt2ImgResponse {
    private static final DateTimeFormatter JOB_TIMESTAMP = DateTimeFormatter.ofPattern("yyyyMMddHHmmss");

    private Txt2ImgResponse() {}

    static Map<String, Object> of(Txt2ImgRequest asked, Generation done, Pipeline.Parts model, ObjectMapper json) {
        List<String> images = new ArrayList<>();
        List<Long> seeds = new ArrayList<>();
        List<String> infotexts = new ArrayList<>();
        for (GeneratedImage image : done.images()) {
            byte[] png = PngFiles.encode(image.rgb(), image.width(), image.height(), "parameters", image.parameters());
            images.add(Base64.getEncoder().encodeToString(png));
            seeds.add(image.seed());
            infotexts.add(image.parameters());
        }
        GenerationRequest r = asked.generation();
        int n = images.size();
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("prompt", r.prompt());
        info.put("all_prompts", Collections.nCopies(n, r.prompt()));
        info.put("negative_prompt", r.negative());
        info.put("all_negative_prompts", Collections.nCopies(n, r.negative()));
        info.put("seed", r.seed());
        info.put("all_seeds", seeds);
        info.put("subseed", -1);
        info.put("all_subseeds", Collections.nCopies(n, -1));
        info.put("subseed_strength", 0);
        info.put("width", r.width());
        info.put("height", r.height());
        info.put("sampler_name", r.sampler().displayName());
        info.put("cfg_scale", r.cfg());
        info.put("steps", r.steps());
        info.put("batch_size", r.batchSize());
        info.put("restore_faces", false);
        info.put("sd_model_name", model.modelName());
        info.put("sd_model_hash", model.modelHash());
        info.put("seed_resize_from_w", -1);
        info.put("seed_resize_from_h", -1);
        info.put("denoising_strength", null);
        info.put("extra_generation_params", Map.of());
        info.put("index_of_first_image", 0);
        info.put("infotexts", infotexts);
        info.put("styles", List.of());
        info.put("job_timestamp", LocalDateTime.now().format(JOB_TIMESTAMP));
        info.put("clip_skip", r.clipSkip());
        info.put("is_using_inpainting_conditioning", false);
        info.put("version", "atelier");
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("images", images);
        body.put("parameters", asked.parameters());
        try {
            body.put("info", json.writeValueAsString(info));
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
        return body;
    }
}
