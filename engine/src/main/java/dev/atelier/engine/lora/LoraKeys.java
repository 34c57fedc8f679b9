package dev.atelier.engine.lora;

import dev.atelier.engine.names.ModelLayout;
import dev.atelier.engine.names.NameConverter;
import dev.atelier.engine.sd.StableDiffusionWeights;
import java.util.Collection;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The one place where a LoRA file's tensor names are mapped to a network and the LDM name of
 * the layer they adapt, through the name table ({@link NameConverter}): kohya names
 * ({@code lora_unet_…}, {@code lora_te_…}, diffusers-style and LDM-style module names), diffusers
 * names ({@code unet.<module>.lora.down.weight}, the older {@code …processor.to_q_lora.down.weight}),
 * and PEFT names ({@code base_model.model.<module>.lora_A.weight}, {@code unet.<module>.lora_A.weight}).
 */
public final class LoraKeys {
    /** Which network a LoRA tensor belongs to. */
    public enum Network {
        UNET(StableDiffusionWeights.UNET_PREFIX),
        TEXT_ENCODER(StableDiffusionWeights.TEXT_PREFIX);

        /** The network's LDM prefix, stripped from layer names handed to the native side. */
        public final String ldmPrefix;

        Network(String ldmPrefix) {
            this.ldmPrefix = ldmPrefix;
        }
    }

    /** The part of an adapter a tensor is. */
    public enum Part {
        DOWN, UP, ALPHA
    }

    /**
     * Where one tensor of a LoRA file goes.
     *
     * @param network the network adapted
     * @param layer   the layer's LDM module name within the network, e.g. {@code input_blocks.1.1.proj_in}
     * @param part    down, up or alpha
     */
    public record Target(Network network, String layer, Part part) {}

    private static final String KOHYA_TE = "lora_te_";
    private static final String KOHYA_UNET = "lora_unet_";
    // module + suffix of each family; group 1 is the module, group 2 the part.
    private static final Pattern KOHYA = Pattern.compile("(lora_(?:unet|te)_\\w+)\\.(lora_down\\.weight|lora_up\\.weight|alpha)");
    private static final Pattern DIFFUSERS = Pattern.compile("(.+)\\.lora\\.(down|up)\\.weight");
    private static final Pattern DIFFUSERS_ALPHA = Pattern.compile("(.+)\\.alpha");
    private static final Pattern PEFT = Pattern.compile("(.+)\\.lora_(A|B)\\.weight");
    private static final Pattern PROCESSOR = Pattern.compile("(.+)\\.processor\\.(to_q|to_k|to_v|to_out)_lora\\.(down|up)\\.weight");

    private final NameConverter names;
    private final Map<String, String> kohya; // kohya module -> LDM module
    private final Set<String> modules; // the model's LDM module names

    /** The keys of a checkpoint's LoRAs: kohya names follow diffusers' blocks, whose numbering depends on the UNet's layout. */
    public static LoraKeys forCheckpoint(Collection<String> ldmTensorNames) {
        return new LoraKeys(new NameConverter(ModelLayout.fromLdmNames(ldmTensorNames)), ldmTensorNames);
    }

    /**
     * @param names          the model's name table
     * @param ldmTensorNames the model's tensor names in the LDM layout (the kohya names are resolved against them)
     */
    public LoraKeys(NameConverter names, Collection<String> ldmTensorNames) {
        this.names = names;
        this.kohya = names.kohyaIndex(ldmTensorNames);
        this.modules = new HashSet<>();
        for (String t : ldmTensorNames) {
            int dot = t.lastIndexOf('.');
            modules.add(dot < 0 ? t : t.substring(0, dot));
        }
    }

    /** Where the LoRA tensor {@code key} goes; empty when it matches no layer of the model. */
    public Optional<Target> map(String key) {
        Matcher m = KOHYA.matcher(key);
        if (m.matches()) {
            Part part = switch (m.group(2)) {
                case "lora_down.weight" -> Part.DOWN;
                case "lora_up.weight" -> Part.UP;
                default -> Part.ALPHA;
            };
            return Optional.ofNullable(kohya.get(m.group(1))).flatMap(ldm -> target(ldm, part));
        }
        m = PROCESSOR.matcher(key);
        if (m.matches()) {
            String module = m.group(1) + "." + (m.group(2).equals("to_out") ? "to_out.0" : m.group(2));
            return diffusers(module, m.group(3).equals("down") ? Part.DOWN : Part.UP);
        }
        m = DIFFUSERS.matcher(key);
        if (m.matches()) {
            return diffusers(m.group(1), m.group(2).equals("down") ? Part.DOWN : Part.UP);
        }
        m = PEFT.matcher(key);
        if (m.matches()) {
            return diffusers(m.group(1), m.group(2).equals("A") ? Part.DOWN : Part.UP);
        }
        m = DIFFUSERS_ALPHA.matcher(key);
        if (m.matches() && !key.startsWith("lora_")) {
            return diffusers(m.group(1), Part.ALPHA);
        }
        return Optional.empty();
    }

    /** True when the name is a kohya name of another architecture's text encoders (SDXL: lora_te1_, lora_te2_). */
    public static boolean isSdxlKey(String key) {
        return key.startsWith("lora_te1_") || key.startsWith("lora_te2_");
    }

    // A diffusers module, with or without its folder ("unet.", "text_encoder.") or PEFT's "base_model.model.".
    private Optional<Target> diffusers(String module, Part part) {
        String m = module.startsWith("base_model.model.") ? module.substring("base_model.model.".length()) : module;
        if (!m.startsWith("unet.") && !m.startsWith("text_encoder.")) {
            m = (m.startsWith("text_model.") ? "text_encoder." : "unet.") + m;
        }
        return names.toLdm(m).flatMap(ldm -> target(ldm.name(), part));
    }

    private Optional<Target> target(String ldmModule, Part part) {
        if (!modules.contains(ldmModule)) {
            return Optional.empty(); // a name of another layout (SDXL's deeper transformers, ...)
        }
        for (Network n : Network.values()) {
            if (ldmModule.startsWith(n.ldmPrefix)) {
                return Optional.of(new Target(n, ldmModule.substring(n.ldmPrefix.length()), part));
            }
        }
        return Optional.empty();
    }

    static boolean isKohyaKey(String key) {
        return key.startsWith(KOHYA_UNET) || key.startsWith(KOHYA_TE);
    }
}
