package dev.atelier.engine.names;

import dev.atelier.engine.names.NameTables.Block;
import dev.atelier.engine.names.NameTables.Component;
import dev.atelier.engine.names.NameTables.Leaf;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Converts SD1.x tensor and module names between the LDM single-file layout
 * ({@code model.diffusion_model.input_blocks.1.1.proj_in.weight}), the diffusers layout with its
 * folder as prefix ({@code unet.down_blocks.0.attentions.0.proj_in.weight}) and kohya LoRA module
 * names ({@code lora_unet_down_blocks_0_attentions_0_proj_in}). The facts live in
 * {@link NameTables}; this class only looks them up.
 *
 * <p>Names work with or without the parameter suffix: a module name converts the same way as the
 * names of its tensors. Names that have no counterpart (LDM's {@code alphas_cumprod}, EMA copies,
 * anything unknown) convert to an empty Optional, never to a guess.
 */
public final class NameConverter {
    private static final String KOHYA_UNET = "lora_unet_";
    private static final String KOHYA_TEXT = "lora_te_";

    private final ModelLayout layout;
    private final List<Component> components;
    private final List<Map<String, Block>> byLdm;
    private final List<Map<String, Block>> byDiffusers;

    public NameConverter(ModelLayout layout) {
        this.layout = layout;
        this.components = NameTables.components(layout);
        this.byLdm = components.stream().map(c -> index(c, true)).toList();
        this.byDiffusers = components.stream().map(c -> index(c, false)).toList();
    }

    /** The converter for SD1.5's block layout. */
    public static NameConverter sd15() {
        return new NameConverter(ModelLayout.SD15);
    }

    private static Map<String, Block> index(Component c, boolean ldm) {
        Map<String, Block> m = new HashMap<>();
        for (Block b : c.blocks()) {
            m.put(ldm ? b.ldm() : b.diffusers(), b);
        }
        return m;
    }

    public ModelLayout layout() {
        return layout;
    }

    /** The diffusers name (folder-prefixed: {@code unet.}, {@code vae.}, {@code text_encoder.}) of an LDM name. */
    public Optional<MappedName> toDiffusers(String ldmName) {
        return convert(ldmName, true);
    }

    /** The LDM name of a folder-prefixed diffusers name; diffusers' pre-0.14 VAE attention names are accepted. */
    public Optional<MappedName> toLdm(String diffusersName) {
        return convert(diffusersName, false);
    }

    private Optional<MappedName> convert(String name, boolean fromLdm) {
        for (int c = 0; c < components.size(); c++) {
            Component component = components.get(c);
            String from = fromLdm ? component.ldmPrefix() : component.diffusersPrefix();
            String to = fromLdm ? component.diffusersPrefix() : component.ldmPrefix();
            if (!name.startsWith(from)) {
                continue;
            }
            Map<String, Block> blocks = (fromLdm ? byLdm : byDiffusers).get(c);
            String rest = name.substring(from.length());
            // Longest block path first: the whole name, then cut at each dot from the right,
            // finally the empty path (a component that is one block).
            int cut = rest.length();
            while (true) {
                Block block = blocks.get(rest.substring(0, cut));
                if (block != null) {
                    String below = cut == rest.length() ? "" : rest.substring(cut == 0 ? 0 : cut + 1);
                    String target = fromLdm ? block.diffusers() : block.ldm();
                    return convertBelow(block, below, fromLdm)
                            .map(m -> new MappedName(to + join(target, m.name()), m.reshape()));
                }
                if (cut == 0) {
                    break;
                }
                cut = Math.max(rest.lastIndexOf('.', cut - 1), 0);
            }
            return Optional.empty();
        }
        return Optional.empty();
    }

    private static Optional<MappedName> convertBelow(Block block, String below, boolean fromLdm) {
        if (block.kind().leaves.isEmpty() || below.isEmpty()) {
            return Optional.of(new MappedName(below, Reshape.NONE));
        }
        for (Leaf leaf : block.kind().leaves) {
            if (fromLdm && leaf.readOnly()) {
                continue;
            }
            String from = fromLdm ? leaf.ldm() : leaf.diffusers();
            String to = fromLdm ? leaf.diffusers() : leaf.ldm();
            if (below.equals(from) || below.startsWith(from + ".")) {
                String suffix = below.substring(from.length());
                Reshape reshape = suffix.isEmpty() || suffix.equals(".weight") ? leaf.reshape() : Reshape.NONE;
                return Optional.of(new MappedName(to + suffix, reshape));
            }
        }
        return Optional.empty();
    }

    private static String join(String a, String b) {
        return a.isEmpty() ? b : b.isEmpty() ? a : a + "." + b;
    }

    /**
     * The kohya LoRA module name of an LDM module (or tensor: the parameter suffix is dropped),
     * e.g. {@code lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q}: the
     * diffusers name with dots as underscores. VAE modules have none.
     */
    public Optional<String> kohyaName(String ldmModule) {
        String module = stripParameter(ldmModule);
        return toDiffusers(module).flatMap(m -> kohyaOfDiffusers(m.name()));
    }

    private static Optional<String> kohyaOfDiffusers(String diffusersModule) {
        if (diffusersModule.startsWith("unet.")) {
            return Optional.of(KOHYA_UNET + diffusersModule.substring("unet.".length()).replace('.', '_'));
        }
        if (diffusersModule.startsWith("text_encoder.")) {
            return Optional.of(KOHYA_TEXT + diffusersModule.substring("text_encoder.".length()).replace('.', '_'));
        }
        return Optional.empty();
    }

    /**
     * kohya module name -> LDM module name for every module of a model, given its LDM tensor
     * names. Kohya names cannot be split back at the right underscores on their own, so they are
     * resolved against the model's modules. Both spellings kohya tools write are indexed: from
     * diffusers names (the usual one) and from LDM names ({@code lora_unet_input_blocks_1_1_proj_in}).
     */
    public Map<String, String> kohyaIndex(Collection<String> ldmTensorNames) {
        Map<String, String> index = new LinkedHashMap<>();
        for (String tensor : ldmTensorNames) {
            String module = stripParameter(tensor);
            kohyaName(module).ifPresent(k -> index.putIfAbsent(k, module));
            Component unet = components.get(0);
            if (module.startsWith(unet.ldmPrefix())) {
                index.putIfAbsent(KOHYA_UNET + module.substring(unet.ldmPrefix().length()).replace('.', '_'), module);
            }
        }
        return index;
    }

    private static String stripParameter(String name) {
        int dot = name.lastIndexOf('.');
        if (dot < 0) {
            return name;
        }
        String last = name.substring(dot + 1);
        return last.equals("weight") || last.equals("bias") ? name.substring(0, dot) : name;
    }
}
