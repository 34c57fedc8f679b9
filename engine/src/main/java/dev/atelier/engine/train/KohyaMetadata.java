package dev.atelier.engine.train;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.nio.file.Path;
import java.time.Instant;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The {@code ss_*} metadata kohya sd-scripts' train_network.py writes into a LoRA, for a run of
 * Atelier's trainer. Values that are JSON in kohya's files (network args, tag frequencies) are
 * written as Python's {@code json.dumps} writes them: {@code {"a": 1, "b": {}}}.
 */
final class KohyaMetadata {
    /** One line, with a space after ':' and ',' as json.dumps' default separators. */
    private static final ObjectWriter JSON = JsonMapper.builder().build().writer(new DefaultPrettyPrinter()
            .withSeparators(Separators.createDefaultInstance()
                    .withObjectFieldValueSpacing(Separators.Spacing.AFTER)
                    .withObjectEntrySpacing(Separators.Spacing.AFTER)
                    .withObjectEmptySeparator("")
                    .withArrayValueSpacing(Separators.Spacing.AFTER)
                    .withArrayEmptySeparator(""))
            .withObjectIndenter(new DefaultPrettyPrinter.NopIndenter())
            .withArrayIndenter(new DefaultPrettyPrinter.NopIndenter()));

    private KohyaMetadata() {}

    /**
     * The metadata of the LoRA after step of total updates.
     *
     * @param batchesPerEpoch batches in one epoch (for ss_epoch)
     * @param started         when the run started (ss_training_started_at)
     */
    static Map<String, String> of(LoraTrainingConfig c, List<TrainingImages.Image> images, List<LoraModule> modules,
            int batchesPerEpoch, long step, long total, ModelHash hash, Instant started) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("ss_network_module", "networks.lora");
        m.put("ss_network_dim", Integer.toString(c.rank()));
        m.put("ss_network_alpha", trim(c.alpha()));
        if (c.convRank() > 0) {
            Map<String, String> args = new LinkedHashMap<>();
            args.put("conv_dim", Integer.toString(c.convRank()));
            args.put("conv_alpha", trim(c.convAlpha()));
            m.put("ss_network_args", json(args));
        }
        m.put("ss_network_train_unet_only", c.trainTextEncoder() ? "False" : "True");
        m.put("ss_base_model_version", "sd_v1");
        m.put("ss_v2", "False");
        m.put("ss_sd_model_name", c.model().getFileName().toString());
        m.put("ss_sd_model_hash", hash.legacy());
        m.put("ss_new_sd_model_hash", hash.sha256());
        m.put("ss_resolution", "(" + c.resolution() + ", " + c.resolution() + ")");
        m.put("ss_enable_bucket", c.buckets() ? "True" : "False");
        m.put("ss_flip_aug", c.flip() ? "True" : "False");
        m.put("ss_num_train_images", Integer.toString(images.size() * c.repeats()));
        m.put("ss_batch_size_per_device", Integer.toString(c.batchSize()));
        m.put("ss_gradient_accumulation_steps", Integer.toString(c.gradAccum()));
        m.put("ss_max_train_steps", Long.toString(total));
        m.put("ss_steps", Long.toString(step));
        m.put("ss_epoch", Long.toString(step * c.gradAccum() / Math.max(1, batchesPerEpoch)));
        m.put("ss_learning_rate", trim(c.unetLr()));
        m.put("ss_unet_lr", trim(c.unetLr()));
        m.put("ss_text_encoder_lr", trim(c.trainTextEncoder() ? c.textLr() : 0f));
        m.put("ss_lr_scheduler", c.schedule().displayName());
        m.put("ss_lr_warmup_steps", Integer.toString(c.warmupSteps()));
        LoraTrainer.StepOptions o = c.step();
        m.put("ss_optimizer", "torch.optim.AdamW(weight_decay=" + trim(o.weightDecay()) + ",betas=(" + trim(o.beta1()) + ", "
                + trim(o.beta2()) + "),eps=" + o.eps() + ")");
        m.put("ss_min_snr_gamma", o.minSnrGamma() > 0 ? trim(o.minSnrGamma()) : "None");
        m.put("ss_noise_offset", o.noiseOffset() > 0 ? trim(o.noiseOffset()) : "None");
        m.put("ss_seed", Long.toString(o.seed()));
        m.put("ss_clip_skip", Integer.toString(o.clipSkip()));
        m.put("ss_mixed_precision", c.bf16() ? "bf16" : "no");
        m.put("ss_gradient_checkpointing", o.gradientCheckpointing() ? "True" : "False");
        m.put("ss_cache_latents", "True");
        m.put("ss_caption_summary", captionSummary(images));
        m.put("ss_tag_frequency", tagFrequency(c.images(), images));
        m.put("ss_training_started_at", Long.toString(started.getEpochSecond()));
        m.put("ss_training_finished_at", Long.toString(Instant.now().getEpochSecond()));
        m.put("ss_output_name", c.output().getFileName().toString().replaceFirst("\\.safetensors$", ""));
        m.put("ss_num_modules", Integer.toString(modules.size()));
        return m;
    }

    /** Whole numbers without a fraction ("1"), others as Java prints floats ("1.0E-4"). */
    private static String trim(float v) {
        return v == Math.rint(v) && Math.abs(v) < 1e7 ? Integer.toString((int) v) : Float.toString(v);
    }

    /** kohya's ss_tag_frequency: {folder: {tag: count}}, tags split at commas, sorted. */
    private static String tagFrequency(Path folder, List<TrainingImages.Image> images) {
        Map<String, Integer> counts = new TreeMap<>();
        for (TrainingImages.Image img : images) {
            for (String tag : img.caption().split(",")) {
                String t = tag.strip();
                if (!t.isEmpty()) {
                    counts.merge(t, 1, Integer::sum);
                }
            }
        }
        Path name = folder.toAbsolutePath().getFileName();
        return json(Map.of(name == null ? "images" : name.toString(), counts));
    }

    /** The distinct captions with how many photos use each, most used first. */
    private static String captionSummary(List<TrainingImages.Image> images) {
        Map<String, Integer> counts = new HashMap<>();
        images.forEach(i -> counts.merge(i.caption(), 1, Integer::sum));
        StringBuilder s = new StringBuilder();
        counts.entrySet().stream()
                .sorted(Map.Entry.<String, Integer>comparingByValue().reversed().thenComparing(Map.Entry.comparingByKey()))
                .forEach(e -> s.append(s.isEmpty() ? "" : " | ").append(e.getValue()).append("x ").append(e.getKey()));
        return s.toString();
    }

    static String json(Object value) {
        try {
            return JSON.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("maps of strings and numbers always serialise", e);
        }
    }
}
