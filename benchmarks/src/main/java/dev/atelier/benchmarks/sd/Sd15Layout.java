package dev.atelier.benchmarks.sd;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Every tensor of an SD1.x single-file checkpoint in the LDM layout, derived from the
 * architecture (loops over levels and blocks, as LDM's constructors build the modules), never
 * from a hard-coded list.
 *
 * @param unetChannels      model_channels (320)
 * @param unetMult          channel_mult (1, 2, 4, 4)
 * @param unetAttention     per level, whether it has a SpatialTransformer (levels 0-2 for SD1.x)
 * @param unetResBlocks     num_res_blocks (2)
 * @param contextDim        context_dim (768)
 * @param transformerDepth  transformer_depth (1)
 * @param vaeCh             ddconfig.ch (128)
 * @param vaeMult           ddconfig.ch_mult (1, 2, 4, 4)
 * @param vaeResBlocks      ddconfig.num_res_blocks (2)
 * @param zChannels         ddconfig.z_channels = embed_dim (4)
 * @param textWidth         CLIP hidden_size (768)
 * @param textLayers        num_hidden_layers (12)
 * @param textMlp           intermediate_size (3072)
 * @param vocab             vocab_size (49408)
 * @param positions         max_position_embeddings (77)
 */
public record Sd15Layout(int unetChannels, int[] unetMult, boolean[] unetAttention, int unetResBlocks, int contextDim,
        int transformerDepth, int vaeCh, int[] vaeMult, int vaeResBlocks, int zChannels, int textWidth, int textLayers,
        int textMlp, int vocab, int positions) {

    /** How a tensor's values are drawn. */
    public enum Init {
        /** Conv/Linear weight: zero-mean, standard deviation 1/sqrt(fan_in). */
        WEIGHT,
        /** Embedding table: standard deviation 0.02 (CLIP's initializer range). */
        EMBEDDING,
        ZERO,
        ONE,
        /** I64 arange(n) (CLIP's position_ids buffer). */
        ARANGE,
        /** LDM's alphas_cumprod from the scaled-linear betas. */
        ALPHAS_CUMPROD
    }

    /** One tensor: LDM name, shape, init. */
    public record Spec(String name, long[] shape, Init init) {
        public long numel() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }

        /** Inputs per output (shape[1:] product): the fan_in of a Linear or Conv weight. */
        public long fanIn() {
            long n = 1;
            for (int i = 1; i < shape.length; i++) {
                n *= shape[i];
            }
            return n;
        }

        @Override
        public String toString() {
            return name + " " + Arrays.toString(shape);
        }
    }

    public static final String UNET = "model.diffusion_model.";
    public static final String VAE = "first_stage_model.";
    public static final String TEXT = "cond_stage_model.transformer.text_model.";
    /** LDM v1-inference.yaml: timesteps, linear_start, linear_end. */
    public static final int TIMESTEPS = 1000;
    public static final double LINEAR_START = 0.00085;
    public static final double LINEAR_END = 0.012;

    /** SD1.5 (v1-inference.yaml; CLIP ViT-L/14 text model). */
    public static Sd15Layout sd15() {
        return new Sd15Layout(320, new int[] {1, 2, 4, 4}, new boolean[] {true, true, true, false}, 2, 768, 1, 128,
                new int[] {1, 2, 4, 4}, 2, 4, 768, 12, 3072, 49408, 77);
    }

    /** The architecture of the sd15-tiny fixture (its README's spec), to check this layout against its file. */
    public static Sd15Layout fixtureTiny() {
        return new Sd15Layout(32, new int[] {1, 2, 2, 2}, new boolean[] {true, true, true, false}, 2, 32, 1, 32,
                new int[] {1, 2, 2, 2}, 1, 4, 32, 2, 128, 49408, 77);
    }

    /** Every tensor, UNet then VAE then text model then the schedule. */
    public List<Spec> tensors() {
        List<Spec> out = new ArrayList<>();
        unet(out);
        vae(out);
        text(out);
        out.add(new Spec("alphas_cumprod", new long[] {TIMESTEPS}, Init.ALPHAS_CUMPROD));
        return out;
    }

    public long parameterCount() {
        return tensors().stream().filter(s -> s.init() != Init.ARANGE && s.init() != Init.ALPHAS_CUMPROD)
                .mapToLong(Spec::numel).sum();
    }

    // ---- UNet: LDM openaimodel.py UNetModel.__init__ ----

    private void unet(List<Spec> out) {
        String p = UNET;
        int mc = unetChannels;
        int emb = 4 * mc;
        linear(out, p + "time_embed.0", emb, mc, true);
        linear(out, p + "time_embed.2", emb, emb, true);
        conv(out, p + "input_blocks.0.0", mc, 4, 3);
        List<Integer> skips = new ArrayList<>();
        skips.add(mc);
        int ch = mc;
        int block = 1;
        for (int level = 0; level < unetMult.length; level++) {
            for (int r = 0; r < unetResBlocks; r++) {
                String b = p + "input_blocks." + block + ".";
                resBlock(out, b + "0", ch, unetMult[level] * mc, emb);
                ch = unetMult[level] * mc;
                if (unetAttention[level]) {
                    spatialTransformer(out, b + "1", ch);
                }
                skips.add(ch);
                block++;
            }
            if (level != unetMult.length - 1) {
                conv(out, p + "input_blocks." + block + ".0.op", ch, ch, 3); // Downsample, stride 2
                skips.add(ch);
                block++;
            }
        }
        resBlock(out, p + "middle_block.0", ch, ch, emb);
        spatialTransformer(out, p + "middle_block.1", ch);
        resBlock(out, p + "middle_block.2", ch, ch, emb);
        block = 0;
        for (int level = unetMult.length - 1; level >= 0; level--) {
            for (int r = 0; r <= unetResBlocks; r++) {
                String b = p + "output_blocks." + block + ".";
                int skip = skips.remove(skips.size() - 1);
                resBlock(out, b + "0", ch + skip, unetMult[level] * mc, emb);
                ch = unetMult[level] * mc;
                int sub = 1;
                if (unetAttention[level]) {
                    spatialTransformer(out, b + sub, ch);
                    sub++;
                }
                if (level != 0 && r == unetResBlocks) {
                    conv(out, b + sub + ".conv", ch, ch, 3); // Upsample: nearest x2, then conv
                }
                block++;
            }
        }
        norm(out, p + "out.0", mc);
        conv(out, p + "out.2", 4, mc, 3);
    }

    private void resBlock(List<Spec> out, String p, int in, int outCh, int emb) {
        norm(out, p + ".in_layers.0", in);
        conv(out, p + ".in_layers.2", outCh, in, 3);
        linear(out, p + ".emb_layers.1", outCh, emb, true);
        norm(out, p + ".out_layers.0", outCh);
        conv(out, p + ".out_layers.3", outCh, outCh, 3);
        if (in != outCh) {
            conv(out, p + ".skip_connection", outCh, in, 1);
        }
    }

    /** LDM attention.py SpatialTransformer with 1x1-conv proj_in/proj_out (SD1.x). */
    private void spatialTransformer(List<Spec> out, String p, int c) {
        norm(out, p + ".norm", c);
        conv(out, p + ".proj_in", c, c, 1);
        for (int d = 0; d < transformerDepth; d++) {
            String t = p + ".transformer_blocks." + d;
            crossAttention(out, t + ".attn1", c, c);
            linear(out, t + ".ff.net.0.proj", 8 * c, c, true); // GEGLU: 2 x (4c)
            linear(out, t + ".ff.net.2", c, 4 * c, true);
            crossAttention(out, t + ".attn2", c, contextDim);
            norm(out, t + ".norm1", c);
            norm(out, t + ".norm2", c);
            norm(out, t + ".norm3", c);
        }
        conv(out, p + ".proj_out", c, c, 1);
    }

    private void crossAttention(List<Spec> out, String p, int c, int context) {
        linear(out, p + ".to_q", c, c, false);
        linear(out, p + ".to_k", c, context, false);
        linear(out, p + ".to_v", c, context, false);
        linear(out, p + ".to_out.0", c, c, true);
    }

    // ---- VAE: LDM diffusionmodules/model.py Encoder, Decoder; AutoencoderKL ----

    private void vae(List<Spec> out) {
        String e = VAE + "encoder.";
        conv(out, e + "conv_in", vaeCh, 3, 3);
        int blockIn = vaeCh;
        for (int level = 0; level < vaeMult.length; level++) {
            int blockOut = vaeCh * vaeMult[level];
            for (int r = 0; r < vaeResBlocks; r++) {
                resnetBlock(out, e + "down." + level + ".block." + r, blockIn, blockOut);
                blockIn = blockOut;
            }
            if (level != vaeMult.length - 1) {
                conv(out, e + "down." + level + ".downsample.conv", blockIn, blockIn, 3);
            }
        }
        vaeMid(out, e + "mid", blockIn);
        norm(out, e + "norm_out", blockIn);
        conv(out, e + "conv_out", 2 * zChannels, blockIn, 3);

        String d = VAE + "decoder.";
        blockIn = vaeCh * vaeMult[vaeMult.length - 1];
        conv(out, d + "conv_in", blockIn, zChannels, 3);
        vaeMid(out, d + "mid", blockIn);
        for (int level = vaeMult.length - 1; level >= 0; level--) {
            int blockOut = vaeCh * vaeMult[level];
            for (int r = 0; r <= vaeResBlocks; r++) {
                resnetBlock(out, d + "up." + level + ".block." + r, blockIn, blockOut);
                blockIn = blockOut;
            }
            if (level != 0) {
                conv(out, d + "up." + level + ".upsample.conv", blockIn, blockIn, 3);
            }
        }
        norm(out, d + "norm_out", blockIn);
        conv(out, d + "conv_out", 3, blockIn, 3);
        conv(out, VAE + "quant_conv", 2 * zChannels, 2 * zChannels, 1);
        conv(out, VAE + "post_quant_conv", zChannels, zChannels, 1);
    }

    private void vaeMid(List<Spec> out, String p, int c) {
        resnetBlock(out, p + ".block_1", c, c);
        norm(out, p + ".attn_1.norm", c);
        for (String n : new String[] {"q", "k", "v", "proj_out"}) {
            conv(out, p + ".attn_1." + n, c, c, 1);
        }
        resnetBlock(out, p + ".block_2", c, c);
    }

    private void resnetBlock(List<Spec> out, String p, int in, int outCh) {
        norm(out, p + ".norm1", in);
        conv(out, p + ".conv1", outCh, in, 3);
        norm(out, p + ".norm2", outCh);
        conv(out, p + ".conv2", outCh, outCh, 3);
        if (in != outCh) {
            conv(out, p + ".nin_shortcut", outCh, in, 1);
        }
    }

    // ---- CLIP text model: transformers CLIPTextModel state dict ----

    private void text(List<Spec> out) {
        String p = TEXT;
        out.add(new Spec(p + "embeddings.token_embedding.weight", new long[] {vocab, textWidth}, Init.EMBEDDING));
        out.add(new Spec(p + "embeddings.position_embedding.weight", new long[] {positions, textWidth}, Init.EMBEDDING));
        out.add(new Spec(p + "embeddings.position_ids", new long[] {1, positions}, Init.ARANGE));
        for (int l = 0; l < textLayers; l++) {
            String b = p + "encoder.layers." + l + ".";
            for (String n : new String[] {"q_proj", "k_proj", "v_proj", "out_proj"}) {
                linear(out, b + "self_attn." + n, textWidth, textWidth, true);
            }
            norm(out, b + "layer_norm1", textWidth);
            norm(out, b + "layer_norm2", textWidth);
            linear(out, b + "mlp.fc1", textMlp, textWidth, true);
            linear(out, b + "mlp.fc2", textWidth, textMlp, true);
        }
        norm(out, p + "final_layer_norm", textWidth);
    }

    // ---- leaves ----

    private static void linear(List<Spec> out, String p, int outF, int inF, boolean bias) {
        out.add(new Spec(p + ".weight", new long[] {outF, inF}, Init.WEIGHT));
        if (bias) {
            out.add(new Spec(p + ".bias", new long[] {outF}, Init.ZERO));
        }
    }

    private static void conv(List<Spec> out, String p, int outCh, int inCh, int k) {
        out.add(new Spec(p + ".weight", new long[] {outCh, inCh, k, k}, Init.WEIGHT));
        out.add(new Spec(p + ".bias", new long[] {outCh}, Init.ZERO));
    }

    /** GroupNorm or LayerNorm: weight 1, bias 0. */
    private static void norm(List<Spec> out, String p, int c) {
        out.add(new Spec(p + ".weight", new long[] {c}, Init.ONE));
        out.add(new Spec(p + ".bias", new long[] {c}, Init.ZERO));
    }
}
