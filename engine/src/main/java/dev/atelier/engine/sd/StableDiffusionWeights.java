package dev.atelier.engine.sd;

import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.Weights;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

/**
 * A single-file SD1.x checkpoint in the original LDM layout (.safetensors), split into one
 * {@link Weights} per network with the checkpoint prefix stripped. Nothing is copied: every
 * tensor is a view of the memory-mapped file.
 *
 * <p>Ownership: the file stays mapped until {@link #close()}. Close this only after every
 * network built from it is closed: a network reads the mapped memory on every forward call.
 * Other tensors of the checkpoint (alphas_cumprod, EMA copies) are left to the caller.
 */
public final class StableDiffusionWeights implements AutoCloseable {
    /** LDM prefixes of the three networks. */
    public static final String TEXT_PREFIX = "cond_stage_model.transformer.text_model.";
    public static final String UNET_PREFIX = "model.diffusion_model.";
    public static final String VAE_PREFIX = "first_stage_model.";

    private final SafeTensorsFile file;
    private final Weights text;
    private final Weights unet;
    private final Weights vae;

    private StableDiffusionWeights(SafeTensorsFile file) {
        this.file = file;
        List<Weights> made = new ArrayList<>();
        try {
            text = add(made, withPrefix(file, TEXT_PREFIX));
            unet = add(made, withPrefix(file, UNET_PREFIX));
            vae = add(made, withPrefix(file, VAE_PREFIX));
        } catch (RuntimeException e) {
            made.forEach(Weights::close);
            throw e;
        }
    }

    private static Weights add(List<Weights> made, Weights w) {
        made.add(w);
        return w;
    }

    /** Maps path and splits it; a file without one of the three networks is a FormatException. */
    public static StableDiffusionWeights open(Path path) {
        SafeTensorsFile file = SafeTensorsFile.open(path);
        try {
            for (String prefix : List.of(TEXT_PREFIX, UNET_PREFIX, VAE_PREFIX)) {
                if (file.tensors().keySet().stream().noneMatch(n -> n.startsWith(prefix))) {
                    throw new FormatException(path + ": not an SD1.x LDM checkpoint: no tensor under \"" + prefix + "\"");
                }
            }
            return new StableDiffusionWeights(file);
        } catch (RuntimeException e) {
            file.close();
            throw e;
        }
    }

    /**
     * The tensors of file whose names start with prefix, with the prefix stripped, as a new
     * {@link Weights} that keeps file reachable. The caller closes the result.
     */
    public static Weights withPrefix(SafeTensorsFile file, String prefix) {
        return select(file, n -> n.startsWith(prefix), prefix.length());
    }

    private static Weights select(SafeTensorsFile file, Predicate<String> keep, int strip) {
        Weights w = new Weights();
        try {
            for (String name : file.tensors().keySet()) {
                if (keep.test(name)) {
                    w.add(name.substring(strip), file.view(name), file);
                }
            }
            return w;
        } catch (RuntimeException e) {
            w.close();
            throw e;
        }
    }

    public SafeTensorsFile file() {
        return file;
    }

    /** The text model's tensors, named as under {@link #TEXT_PREFIX}. Owned by this object. */
    public Weights textEncoder() {
        return text;
    }

    /** The UNet's tensors, named as under {@link #UNET_PREFIX}. Owned by this object. */
    public Weights unet() {
        return unet;
    }

    /** The VAE's tensors, named as under {@link #VAE_PREFIX}. Owned by this object. */
    public Weights vae() {
        return vae;
    }

    /** Frees the weight sets and unmaps the file; networks built from them must be closed first. */
    @Override
    public void close() {
        text.close();
        unet.close();
        vae.close();
        file.close();
    }
}
