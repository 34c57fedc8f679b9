package dev.atelier.engine.names;

import java.util.ArrayList;
import java.util.List;

/**
 * The data of the SD1.x name mapping, in one place: which LDM block is which diffusers block
 * (generated for a {@link ModelLayout}), and how the parameters inside each kind of block are
 * renamed. {@link NameConverter} is the engine that applies these tables.
 *
 * <p>Sources of the facts: the CompVis/LDM module trees ({@code openaimodel.py}, {@code model.py}),
 * diffusers' {@code UNet2DConditionModel}/{@code AutoencoderKL} module trees and its
 * {@code convert_original_stable_diffusion_to_diffusers.py} script.
 */
final class NameTables {
    private NameTables() {}

    /** How the parameters below a block are named on each side. */
    enum Kind {
        /** Identical below the block (transformers, plain convs and linears, the text model). */
        SAME(List.of()),
        /** LDM {@code ResBlock} <-> diffusers {@code ResnetBlock2D}. */
        UNET_RESNET(List.of(
                new Leaf("in_layers.0", "norm1"),
                new Leaf("in_layers.2", "conv1"),
                new Leaf("emb_layers.1", "time_emb_proj"),
                new Leaf("out_layers.0", "norm2"),
                new Leaf("out_layers.3", "conv2"),
                new Leaf("skip_connection", "conv_shortcut"))),
        /** LDM VAE {@code ResnetBlock} <-> diffusers {@code ResnetBlock2D}. */
        VAE_RESNET(List.of(
                new Leaf("norm1", "norm1"),
                new Leaf("conv1", "conv1"),
                new Leaf("norm2", "norm2"),
                new Leaf("conv2", "conv2"),
                new Leaf("nin_shortcut", "conv_shortcut"))),
        /**
         * LDM VAE {@code AttnBlock} (1x1 convs) <-> diffusers {@code Attention} (Linears). The
         * {@code query/key/value/proj_attn} names are those of diffusers before 0.14; they are read,
         * never written.
         */
        VAE_ATTENTION(List.of(
                new Leaf("norm", "group_norm"),
                new Leaf("q", "to_q", Reshape.CONV1X1_TO_LINEAR),
                new Leaf("k", "to_k", Reshape.CONV1X1_TO_LINEAR),
                new Leaf("v", "to_v", Reshape.CONV1X1_TO_LINEAR),
                new Leaf("proj_out", "to_out.0", Reshape.CONV1X1_TO_LINEAR),
                new Leaf("q", "query", Reshape.CONV1X1_TO_LINEAR, true),
                new Leaf("k", "key", Reshape.CONV1X1_TO_LINEAR, true),
                new Leaf("v", "value", Reshape.CONV1X1_TO_LINEAR, true),
                new Leaf("proj_out", "proj_attn", Reshape.CONV1X1_TO_LINEAR, true)));

        final List<Leaf> leaves;

        Kind(List<Leaf> leaves) {
            this.leaves = leaves;
        }
    }

    /**
     * One parameter-group rename inside a block.
     *
     * @param readOnly a legacy diffusers name accepted when reading, never produced
     */
    record Leaf(String ldm, String diffusers, Reshape reshape, boolean readOnly) {
        Leaf(String ldm, String diffusers) {
            this(ldm, diffusers, Reshape.NONE, false);
        }

        Leaf(String ldm, String diffusers, Reshape reshape) {
            this(ldm, diffusers, reshape, false);
        }
    }

    /** One block: its path below the component prefix on each side. */
    record Block(String ldm, String diffusers, Kind kind) {}

    /**
     * One model part: the prefixes of its names in an LDM single-file checkpoint and in the
     * diffusers layout (the diffusers prefix is the part's folder name plus a dot).
     */
    record Component(String name, String ldmPrefix, String diffusersPrefix, List<Block> blocks) {}

    static List<Component> components(ModelLayout layout) {
        return List.of(
                new Component("unet", "model.diffusion_model.", "unet.", unet(layout)),
                new Component("vae", "first_stage_model.", "vae.", vae(layout)),
                // The text model's names are the Hugging Face CLIPTextModel's on both sides.
                new Component("text_encoder", "cond_stage_model.transformer.", "text_encoder.",
                        List.of(new Block("", "", Kind.SAME))));
    }

    // openaimodel.py UNetModel: input_blocks = [conv_in] + per level (R x [ResBlock, SpatialTransformer?])
    // + Downsample except at the last level; output_blocks mirror it with R+1 blocks per level.
    private static List<Block> unet(ModelLayout l) {
        List<Block> b = new ArrayList<>();
        int r = l.unetResBlocks();
        b.add(new Block("time_embed.0", "time_embedding.linear_1", Kind.SAME));
        b.add(new Block("time_embed.2", "time_embedding.linear_2", Kind.SAME));
        b.add(new Block("input_blocks.0.0", "conv_in", Kind.SAME));
        for (int i = 0; i < l.unetLevels(); i++) {
            for (int j = 0; j < r; j++) {
                int n = (r + 1) * i + j + 1;
                b.add(new Block("input_blocks." + n + ".0", "down_blocks." + i + ".resnets." + j, Kind.UNET_RESNET));
                if (l.unetAttentionAt(i)) {
                    b.add(new Block("input_blocks." + n + ".1", "down_blocks." + i + ".attentions." + j, Kind.SAME));
                }
            }
            if (i < l.unetLevels() - 1) {
                b.add(new Block("input_blocks." + (r + 1) * (i + 1) + ".0.op", "down_blocks." + i + ".downsamplers.0.conv",
                        Kind.SAME));
            }
        }
        b.add(new Block("middle_block.0", "mid_block.resnets.0", Kind.UNET_RESNET));
        b.add(new Block("middle_block.1", "mid_block.attentions.0", Kind.SAME));
        b.add(new Block("middle_block.2", "mid_block.resnets.1", Kind.UNET_RESNET));
        for (int i = 0; i < l.unetLevels(); i++) {
            boolean attention = l.unetAttentionAt(l.unetLevels() - 1 - i); // up_blocks run from the lowest resolution
            for (int j = 0; j <= r; j++) {
                int n = (r + 1) * i + j;
                b.add(new Block("output_blocks." + n + ".0", "up_blocks." + i + ".resnets." + j, Kind.UNET_RESNET));
                if (attention) {
                    b.add(new Block("output_blocks." + n + ".1", "up_blocks." + i + ".attentions." + j, Kind.SAME));
                }
            }
            if (i < l.unetLevels() - 1) {
                b.add(new Block("output_blocks." + ((r + 1) * i + r) + "." + (attention ? 2 : 1) + ".conv",
                        "up_blocks." + i + ".upsamplers.0.conv", Kind.SAME));
            }
        }
        b.add(new Block("out.0", "conv_norm_out", Kind.SAME));
        b.add(new Block("out.2", "conv_out", Kind.SAME));
        return b;
    }

    // ldm/modules/diffusionmodules/model.py Encoder/Decoder; the decoder's up list is stored in
    // reverse (up[n-1] runs first), diffusers' up_blocks in run order.
    private static List<Block> vae(ModelLayout l) {
        List<Block> b = new ArrayList<>();
        int n = l.vaeLevels();
        b.add(new Block("quant_conv", "quant_conv", Kind.SAME));
        b.add(new Block("post_quant_conv", "post_quant_conv", Kind.SAME));
        for (String part : List.of("encoder", "decoder")) {
            b.add(new Block(part + ".conv_in", part + ".conv_in", Kind.SAME));
            b.add(new Block(part + ".conv_out", part + ".conv_out", Kind.SAME));
            b.add(new Block(part + ".norm_out", part + ".conv_norm_out", Kind.SAME));
            b.add(new Block(part + ".mid.block_1", part + ".mid_block.resnets.0", Kind.VAE_RESNET));
            b.add(new Block(part + ".mid.attn_1", part + ".mid_block.attentions.0", Kind.VAE_ATTENTION));
            b.add(new Block(part + ".mid.block_2", part + ".mid_block.resnets.1", Kind.VAE_RESNET));
        }
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < l.vaeResBlocks(); j++) {
                b.add(new Block("encoder.down." + i + ".block." + j, "encoder.down_blocks." + i + ".resnets." + j,
                        Kind.VAE_RESNET));
            }
            if (i < n - 1) {
                b.add(new Block("encoder.down." + i + ".downsample.conv", "encoder.down_blocks." + i + ".downsamplers.0.conv",
                        Kind.SAME));
            }
            int up = n - 1 - i;
            for (int j = 0; j <= l.vaeResBlocks(); j++) {
                b.add(new Block("decoder.up." + up + ".block." + j, "decoder.up_blocks." + i + ".resnets." + j,
                        Kind.VAE_RESNET));
            }
            if (i < n - 1) {
                b.add(new Block("decoder.up." + up + ".upsample.conv", "decoder.up_blocks." + i + ".upsamplers.0.conv",
                        Kind.SAME));
            }
        }
        return b;
    }
}
