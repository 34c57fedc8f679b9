package dev.atelier.engine.sd;

import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.Device;
import dev.atelier.engine.util.TextFiles;
import dev.atelier.engine.util.YamlText;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The architecture and noise schedule of an SD1.x model, from an LDM-style YAML (the keys of
 * {@code v1-inference.yaml}) or SD1.5's defaults. Fields the YAML leaves out stay 0, meaning
 * "read from the weights' shapes"; fields it gives must agree with the weights (the native
 * loader reports a disagreement as one error listing every mismatch).
 *
 * @param unet        {@code model.params.unet_config.params}
 * @param vae         {@code model.params.first_stage_config.params} (+ {@code ddconfig})
 * @param text        {@code model.params.cond_stage_config.params} (transformers' CLIPTextConfig keys)
 * @param linearStart {@code linear_start}: first beta of the scaled-linear schedule
 * @param linearEnd   {@code linear_end}: last beta
 * @param timesteps   {@code timesteps}: training steps of the schedule
 * @param scaleFactor {@code scale_factor}: latents = scale_factor * VAE posterior sample
 */
public record LdmConfig(UNetParams unet, VaeParams vae, TextEncoderParams text, double linearStart, double linearEnd,
        int timesteps, double scaleFactor) {

    /** SD1.x: v1-inference.yaml's schedule, 8 UNet heads, 12 text heads, sizes from the weights. */
    public static LdmConfig sd15() {
        return new LdmConfig(UNetParams.defaults(), VaeParams.defaults(), TextEncoderParams.defaults(), 0.00085, 0.0120,
                1000, 0.18215);
    }

    public LdmConfig withComputeDtype(DType dtype) {
        return new LdmConfig(unet.withComputeDtype(dtype), vae.withComputeDtype(dtype), text.withComputeDtype(dtype),
                linearStart, linearEnd, timesteps, scaleFactor);
    }

    /** The same with every network on the given kernels. */
    public LdmConfig withKernels(OpKernel kernels) {
        return new LdmConfig(unet.withKernels(kernels), vae.withKernels(kernels), text.withKernels(kernels), linearStart,
                linearEnd, timesteps, scaleFactor);
    }

    /** The same with every network on the given device (set it before an F16 compute dtype: F16 runs on CUDA only). */
    public LdmConfig withDevice(Device device) {
        return new LdmConfig(unet.withDevice(device), vae.withDevice(device), text.withDevice(device), linearStart,
                linearEnd, timesteps, scaleFactor);
    }

    /** Reads an LDM YAML; a missing file, bad YAML or a wrongly typed key is a FormatException naming the file. */
    public static LdmConfig load(Path yaml) {
        String text;
        try {
            text = TextFiles.readString(yaml);
        } catch (IOException e) {
            throw new FormatException(AtelierException.IO, yaml + ": cannot read: " + e.getMessage());
        }
        Object root = YamlText.parse(text, yaml);
        return new Reader_(yaml).parse(root);
    }

    /** Walks the YAML tree; every error names the file and the key path. */
    private record Reader_(Path file) {
        LdmConfig parse(Object root) {
            Map<?, ?> model = map(map(root, "").get("model"), "model");
            Map<?, ?> params = map(model.get("params"), "model.params");
            LdmConfig d = sd15();
            double linearStart = number(params, "linear_start", "model.params", d.linearStart());
            double linearEnd = number(params, "linear_end", "model.params", d.linearEnd());
            int timesteps = (int) number(params, "timesteps", "model.params", d.timesteps());
            double scaleFactor = number(params, "scale_factor", "model.params", d.scaleFactor());
            Object betaSchedule = params.get("beta_schedule");
            if (betaSchedule != null && !"linear".equals(betaSchedule)) {
                throw new FormatException(file + ": model.params.beta_schedule \"" + betaSchedule
                        + "\" is not supported; only \"linear\" (LDM's scaled-linear betas, SD1.x's schedule)");
            }
            if (!(linearStart > 0 && linearStart <= linearEnd && linearEnd < 1) || timesteps < 2) {
                throw new FormatException(file + ": model.params needs 0 < linear_start <= linear_end < 1 and "
                        + "timesteps >= 2, got " + linearStart + ", " + linearEnd + " and " + timesteps);
            }
            return new LdmConfig(unet(params), vae(params), text(params), linearStart, linearEnd, timesteps, scaleFactor);
        }

        private UNetParams unet(Map<?, ?> params) {
            String at = "model.params.unet_config.params";
            Map<?, ?> u = sub(sub(params, "unet_config"), "params");
            int headChannels = (int) number(u, "num_head_channels", at, -1);
            // openaimodel.py: num_head_channels, when set, wins (heads = channels / num_head_channels);
            // only then is num_heads left at -1. SD1.5's v1-inference.yaml gives num_heads: 8.
            int heads = headChannels != -1 ? -1 : (int) number(u, "num_heads", at, 8);
            int[] channelMult = ints(u, "channel_mult", at);
            boolean[] levels = new boolean[channelMult.length];
            int[] resolutions = ints(u, "attention_resolutions", at);
            for (int level = 0; level < levels.length; level++) {
                int ds = 1 << level; // LDM: attention at level i when its downsampling factor 2^i is listed
                for (int r : resolutions) {
                    levels[level] |= r == ds;
                }
            }
            return new UNetParams(DType.F32, heads, heads == -1 ? headChannels : -1, (int) number(u, "in_channels", at, 0),
                    (int) number(u, "out_channels", at, 0), (int) number(u, "model_channels", at, 0),
                    (int) number(u, "num_res_blocks", at, 0), (int) number(u, "context_dim", at, 0),
                    (int) number(u, "transformer_depth", at, 0), channelMult, levels, OpKernel.AUTO, Device.CPU);
        }

        private VaeParams vae(Map<?, ?> params) {
            String at = "model.params.first_stage_config.params";
            Map<?, ?> v = sub(sub(params, "first_stage_config"), "params");
            Map<?, ?> dd = sub(v, "ddconfig");
            String ddAt = at + ".ddconfig";
            return new VaeParams(DType.F32, (int) number(dd, "in_channels", ddAt, 0), (int) number(dd, "out_ch", ddAt, 0),
                    (int) number(dd, "ch", ddAt, 0), (int) number(dd, "z_channels", ddAt, 0),
                    (int) number(v, "embed_dim", at, 0), (int) number(dd, "num_res_blocks", ddAt, 0),
                    ints(dd, "ch_mult", ddAt), OpKernel.AUTO, Device.CPU);
        }

        private TextEncoderParams text(Map<?, ?> params) {
            String at = "model.params.cond_stage_config.params";
            Map<?, ?> t = sub(sub(params, "cond_stage_config"), "params");
            return new TextEncoderParams(DType.F32, (int) number(t, "num_attention_heads", at, 12),
                    (int) number(t, "vocab_size", at, 0), (int) number(t, "hidden_size", at, 0),
                    (int) number(t, "num_hidden_layers", at, 0), (int) number(t, "intermediate_size", at, 0),
                    (int) number(t, "max_position_embeddings", at, 0), OpKernel.AUTO, Device.CPU);
        }

        private Map<?, ?> map(Object node, String at) {
            if (node instanceof Map<?, ?> m) {
                return m;
            }
            throw new FormatException(file + ": " + (at.isEmpty() ? "the document" : at) + " is not a mapping");
        }

        /** A child mapping, or an empty one when the key is absent (the defaults then apply). */
        private Map<?, ?> sub(Map<?, ?> parent, String key) {
            Object v = parent.get(key);
            return v == null ? Map.of() : map(v, key);
        }

        private double number(Map<?, ?> m, String key, String at, double fallback) {
            Object v = m.get(key);
            if (v == null) {
                return fallback;
            }
            if (v instanceof Number n) {
                return n.doubleValue();
            }
            throw new FormatException(file + ": " + at + "." + key + " must be a number, got \"" + v + "\"");
        }

        private int[] ints(Map<?, ?> m, String key, String at) {
            Object v = m.get(key);
            if (v == null) {
                return new int[0];
            }
            if (v instanceof List<?> list && list.stream().allMatch(x -> x instanceof Integer)) {
                return list.stream().mapToInt(x -> (Integer) x).toArray();
            }
            throw new FormatException(file + ": " + at + "." + key + " must be a list of integers, got " + v);
        }
    }
}
