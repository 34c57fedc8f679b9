package dev.atelier.engine.sd;

import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.core.Weights;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * An SD1.x checkpoint split into one {@link Weights} per network, with the LDM prefixes
 * stripped. Nothing is copied: every tensor is a view of the memory-mapped file(s).
 *
 * <p>Sources: anything {@link CheckpointTensors} opens (single-file .safetensors or .ckpt in the
 * LDM layout, or a diffusers folder), and optionally a separate VAE file whose tensors are named
 * with or without the {@code first_stage_model.} prefix (A1111's {@code --vae} files carry none).
 *
 * <p>Ownership: the files stay mapped until {@link #close()}. Close this only after every
 * network built from it is closed: a network reads the mapped memory on every forward call.
 */
public final class StableDiffusionWeights implements AutoCloseable {
    /** LDM prefixes of the three networks. */
    public static final String TEXT_PREFIX = "cond_stage_model.transformer.text_model.";
    public static final String UNET_PREFIX = "model.diffusion_model.";
    public static final String VAE_PREFIX = "first_stage_model.";
    /** The noise schedule, stored by LDM checkpoints beside the networks. */
    public static final String ALPHAS_CUMPROD = "alphas_cumprod";

    private final CheckpointTensors checkpoint;
    private final CheckpointTensors vaeFile; // null when the VAE comes from the checkpoint
    private final Weights text;
    private final Weights unet;
    private final Weights vae;

    private StableDiffusionWeights(CheckpointTensors checkpoint, CheckpointTensors vaeFile) {
        this.checkpoint = checkpoint;
        this.vaeFile = vaeFile;
        List<Weights> made = new ArrayList<>();
        try {
            text = add(made, withPrefix(checkpoint, TEXT_PREFIX));
            unet = add(made, withPrefix(checkpoint, UNET_PREFIX));
            vae = add(made, vaeFile == null ? withPrefix(checkpoint, VAE_PREFIX)
                    : withPrefix(vaeFile, hasPrefix(vaeFile, VAE_PREFIX) ? VAE_PREFIX : ""));
        } catch (RuntimeException e) {
            made.forEach(Weights::close);
            throw e;
        }
    }

    private static Weights add(List<Weights> made, Weights w) {
        made.add(w);
        return w;
    }

    /** Opens a checkpoint file or diffusers folder, with its own VAE. */
    public static StableDiffusionWeights open(Path path) {
        return open(path, Optional.empty());
    }

    /**
     * Opens a checkpoint and, when given, a separate VAE file that replaces the checkpoint's.
     * A checkpoint without one of the networks is a FormatException naming the file.
     */
    public static StableDiffusionWeights open(Path path, Optional<Path> vaePath) {
        return open(path, vaePath, dev.atelier.engine.core.FileAccess.MAP);
    }

    /** {@link #open(Path, Optional)}, the files mapped or read into memory as access says. */
    public static StableDiffusionWeights open(Path path, Optional<Path> vaePath, dev.atelier.engine.core.FileAccess access) {
        return open(path, vaePath, access, checkpoint -> { });
    }

    /**
     * {@link #open(Path, Optional, dev.atelier.engine.core.FileAccess)}, running check on the
     * checkpoint once the files are read and found to be SD1.x, before the native library is
     * needed: what can be refused from the files alone is refused without loading it.
     */
    public static StableDiffusionWeights open(Path path, Optional<Path> vaePath, dev.atelier.engine.core.FileAccess access,
            java.util.function.Consumer<CheckpointTensors> check) {
        CheckpointTensors checkpoint = CheckpointTensors.open(path, access);
        CheckpointTensors vae = null;
        try {
            List<String> required = vaePath.isPresent() ? List.of(TEXT_PREFIX, UNET_PREFIX)
                    : List.of(TEXT_PREFIX, UNET_PREFIX, VAE_PREFIX);
            for (String prefix : required) {
                if (!hasPrefix(checkpoint, prefix)) {
                    throw new FormatException(path + ": not an SD1.x checkpoint: no tensor under \"" + prefix + "\"");
                }
            }
            if (vaePath.isPresent()) {
                vae = CheckpointTensors.open(vaePath.get(), access);
                if (!hasPrefix(vae, VAE_PREFIX) && !hasPrefix(vae, "decoder.")) {
                    throw new FormatException(vaePath.get() + ": not a VAE: no tensor under \"decoder.\" or \""
                            + VAE_PREFIX + "decoder.\"");
                }
            }
            check.accept(checkpoint);
            return new StableDiffusionWeights(checkpoint, vae);
        } catch (RuntimeException e) {
            checkpoint.close();
            if (vae != null) {
                vae.close();
            }
            throw e;
        }
    }

    private static boolean hasPrefix(CheckpointTensors c, String prefix) {
        return c.tensors().keySet().stream().anyMatch(n -> n.startsWith(prefix));
    }

    /**
     * The tensors of source whose names start with prefix, with the prefix stripped, as a new
     * {@link Weights} that keeps source reachable. The caller closes the result.
     */
    public static Weights withPrefix(CheckpointTensors source, String prefix) {
        Weights w = new Weights();
        try {
            for (Map.Entry<String, TensorView> e : source.tensors().entrySet()) {
                if (e.getKey().startsWith(prefix)) {
                    w.add(e.getKey().substring(prefix.length()), e.getValue(), source);
                }
            }
            return w;
        } catch (RuntimeException e) {
            w.close();
            throw e;
        }
    }

    /** The opened checkpoint, every tensor under its LDM name. */
    public CheckpointTensors checkpoint() {
        return checkpoint;
    }

    /** The checkpoint's {@code alphas_cumprod} [1000] when it stores one. */
    public Optional<TensorView> alphasCumprod() {
        return Optional.ofNullable(checkpoint.tensors().get(ALPHAS_CUMPROD));
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

    /** {@link CheckpointTensors#dropResidentPages()} on every file. */
    public void dropResidentPages() {
        checkpoint.dropResidentPages();
        if (vaeFile != null) {
            vaeFile.dropResidentPages();
        }
    }

    /** Frees the weight sets and unmaps the files; networks built from them must be closed first. */
    @Override
    public void close() {
        text.close();
        unet.close();
        vae.close();
        checkpoint.close();
        if (vaeFile != null) {
            vaeFile.close();
        }
    }
}
