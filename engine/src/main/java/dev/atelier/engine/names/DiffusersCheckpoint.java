package dev.atelier.engine.names;

import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A diffusers model folder ({@code unet/diffusion_pytorch_model.safetensors},
 * {@code vae/diffusion_pytorch_model.safetensors}, {@code text_encoder/model.safetensors},
 * {@code tokenizer/}) presented under LDM single-file names, so the rest of the engine sees one
 * naming. Tensors stay in their memory-mapped files; {@link #view} returns them without a copy,
 * reshaped where the layouts differ (the VAE attention's Linear [c, c] as LDM's conv [c, c, 1, 1]).
 *
 * <p>Only the UNet file is required; a missing VAE or text encoder shows up as missing tensors
 * when a model is built from the names. Tensors whose names have no LDM counterpart are listed in
 * {@link #unmapped()}, never dropped silently.
 */
public final class DiffusersCheckpoint implements AutoCloseable, dev.atelier.engine.core.Retainable {
    /** Where one LDM-named tensor lives. */
    public record Source(SafeTensorsFile file, String tensor, Reshape reshape) {}

    private static final List<String[]> PARTS = List.of(
            new String[] {"unet", "diffusion_pytorch_model"},
            new String[] {"vae", "diffusion_pytorch_model"},
            new String[] {"text_encoder", "model"});

    private final Path dir;
    private final List<SafeTensorsFile> files;
    private final Map<String, Source> tensors;
    private final List<String> unmapped;
    private final ModelLayout layout;

    private DiffusersCheckpoint(Path dir, List<SafeTensorsFile> files, Map<String, Source> tensors,
            List<String> unmapped, ModelLayout layout) {
        this.dir = dir;
        this.files = files;
        this.tensors = tensors;
        this.unmapped = unmapped;
        this.layout = layout;
    }

    /** Whether dir looks like a diffusers folder (it has {@code unet/} with a safetensors file). */
    public static boolean isDiffusersFolder(Path dir) {
        return Files.isDirectory(dir) && weightsFile(dir.resolve("unet"), "diffusion_pytorch_model").isPresent();
    }

    /**
     * The file whose bytes identify a model for its hashes: the checkpoint file itself, or for a
     * diffusers folder its UNet weights ({@code unet/diffusion_pytorch_model.safetensors}, or the
     * fp16 variant where only that exists). A1111 hashes the one checkpoint file and has no rule
     * for folders; the UNet is the part that fine-tunes change and that a folder's VAE or text
     * encoder being swapped leaves alone. A path that is neither is returned as it is (reading it
     * then fails naming it).
     */
    public static Path hashedFile(Path model) {
        return Files.isDirectory(model)
                ? weightsFile(model.resolve("unet"), "diffusion_pytorch_model").orElse(model)
                : model;
    }

    /** Opens (maps) the safetensors files of dir; errors name the folder or file and the problem. */
    public static DiffusersCheckpoint open(Path dir) {
        return open(dir, dev.atelier.engine.core.FileAccess.MAP);
    }

    /** {@link #open(Path)}, the files mapped or read into memory as access says. */
    public static DiffusersCheckpoint open(Path dir, dev.atelier.engine.core.FileAccess access) {
        if (!Files.isDirectory(dir)) {
            throw new FormatException(AtelierException.IO, dir + ": not a folder");
        }
        List<SafeTensorsFile> files = new ArrayList<>();
        try {
            Map<String, SafeTensorsFile> byPrefixedName = new LinkedHashMap<>();
            Map<String, String> tensorOf = new LinkedHashMap<>();
            for (String[] part : PARTS) {
                Optional<Path> file = weightsFile(dir.resolve(part[0]), part[1]);
                if (file.isEmpty()) {
                    if (part[0].equals("unet")) {
                        throw new FormatException(AtelierException.IO, dir + ": not a diffusers folder: no unet/" + part[1]
                                + ".safetensors (a .bin folder must be converted to safetensors first)");
                    }
                    continue;
                }
                SafeTensorsFile f = SafeTensorsFile.open(file.get(), access);
                files.add(f);
                for (String name : f.tensors().keySet()) {
                    byPrefixedName.put(part[0] + "." + name, f);
                    tensorOf.put(part[0] + "." + name, name);
                }
            }
            ModelLayout layout = ModelLayout.fromDiffusersNames(byPrefixedName.keySet());
            NameConverter names = new NameConverter(layout);
            Map<String, Source> tensors = new LinkedHashMap<>();
            List<String> unmapped = new ArrayList<>();
            for (Map.Entry<String, SafeTensorsFile> e : byPrefixedName.entrySet()) {
                Optional<MappedName> ldm = names.toLdm(e.getKey());
                if (ldm.isEmpty()) {
                    unmapped.add(e.getKey());
                    continue;
                }
                Source previous = tensors.put(ldm.get().name(),
                        new Source(e.getValue(), tensorOf.get(e.getKey()), ldm.get().reshape()));
                if (previous != null) {
                    throw new FormatException(dir + ": two tensors map to \"" + ldm.get().name() + "\": "
                            + previous.file().path().getFileName() + ":" + previous.tensor() + " and " + e.getKey());
                }
            }
            DiffusersCheckpoint checkpoint = new DiffusersCheckpoint(dir, List.copyOf(files),
                    Collections.unmodifiableMap(tensors), List.copyOf(unmapped), layout);
            files = null; // owned by checkpoint
            return checkpoint;
        } finally {
            if (files != null) {
                files.forEach(SafeTensorsFile::close);
            }
        }
    }

    // diffusers saves "<name>.safetensors", or "<name>.fp16.safetensors" for its fp16 variant.
    private static Optional<Path> weightsFile(Path folder, String stem) {
        for (String candidate : List.of(stem + ".safetensors", stem + ".fp16.safetensors")) {
            Path p = folder.resolve(candidate);
            if (Files.isRegularFile(p)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    public Path dir() {
        return dir;
    }

    /** The block layout read from the UNet's and VAE's names. */
    public ModelLayout layout() {
        return layout;
    }

    /** LDM name -> where the tensor lives, in file order. */
    public Map<String, Source> tensors() {
        return tensors;
    }

    /** Folder-prefixed diffusers names that have no LDM counterpart. */
    public List<String> unmapped() {
        return unmapped;
    }

    /** The {@code tokenizer/} folder, if the checkpoint has one with {@code vocab.json} and {@code merges.txt}. */
    public Optional<Path> tokenizerDir() {
        Path t = dir.resolve("tokenizer");
        return Files.isRegularFile(t.resolve("vocab.json")) && Files.isRegularFile(t.resolve("merges.txt"))
                ? Optional.of(t) : Optional.empty();
    }

    public boolean contains(String ldmName) {
        return tensors.containsKey(ldmName);
    }

    /** The tensor with LDM name and LDM shape, a view of the mapped file; valid until {@link #close()}. */
    public TensorView view(String ldmName) {
        Source s = tensors.get(ldmName);
        if (s == null) {
            throw new FormatException(dir + ": no tensor maps to \"" + ldmName + "\"");
        }
        TensorView v = s.file().view(s.tensor());
        return s.reshape() == Reshape.NONE ? v : TensorView.of(v.data(), v.dtype(), s.reshape().toLdm(v.shape()));
    }

    /** Keeps every file mapped for a native object that borrows them, past {@link #close()}. */
    @Override
    public void retain() {
        files.forEach(SafeTensorsFile::retain);
    }

    @Override
    public void release() {
        files.forEach(SafeTensorsFile::release);
    }

    @Override
    public void close() {
        files.forEach(SafeTensorsFile::close);
    }

    @Override
    public String toString() {
        return "DiffusersCheckpoint[" + dir + ", " + tensors.size() + " tensors]";
    }
}
