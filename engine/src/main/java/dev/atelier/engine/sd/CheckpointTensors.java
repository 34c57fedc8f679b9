package dev.atelier.engine.sd;

import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.FileAccess;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.names.DiffusersCheckpoint;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.torchfile.TorchFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The tensors of a checkpoint in any supported form, under their original LDM names:
 * a single-file {@code .safetensors}, a {@code .ckpt}/{@code .pt}/{@code .pth} written by
 * {@code torch.save} (tensors only; read without Python), or a diffusers folder (names mapped
 * through {@link dev.atelier.engine.names.NameConverter}). Every view is a view of the
 * memory-mapped file(s), valid until {@link #close()}.
 *
 * @param path    what was opened
 * @param tensors LDM name to tensor view
 * @param owner   the open file(s) behind the views
 */
public record CheckpointTensors(Path path, Map<String, TensorView> tensors, AutoCloseable owner)
        implements AutoCloseable, dev.atelier.engine.core.Retainable {

    public CheckpointTensors {
        tensors = Collections.unmodifiableMap(new LinkedHashMap<>(tensors));
    }

    /** Opens path by its form; a file of another kind is a FormatException naming it. */
    public static CheckpointTensors open(Path path) {
        return open(path, FileAccess.MAP);
    }

    /** {@link #open(Path)}, the file(s) mapped or read into memory as access says. */
    public static CheckpointTensors open(Path path, FileAccess access) {
        if (Files.isDirectory(path)) {
            if (!DiffusersCheckpoint.isDiffusersFolder(path)) {
                throw new FormatException(path + ": a folder but not a diffusers model (no model_index.json or unet/)");
            }
            DiffusersCheckpoint d = DiffusersCheckpoint.open(path, access);
            try {
                Map<String, TensorView> views = new LinkedHashMap<>();
                for (String name : d.tensors().keySet()) {
                    views.put(name, d.view(name));
                }
                return new CheckpointTensors(path, views, d);
            } catch (RuntimeException e) {
                d.close();
                throw e;
            }
        }
        if (!Files.isRegularFile(path)) {
            throw new FormatException(AtelierException.IO, path + ": no such file or folder");
        }
        String name = path.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        if (name.endsWith(".ckpt") || name.endsWith(".pt") || name.endsWith(".pth") || name.endsWith(".bin")) {
            TorchFile t = TorchFile.open(path, false, access);
            return new CheckpointTensors(path, t.stateDict(), t);
        }
        SafeTensorsFile f = SafeTensorsFile.open(path, access);
        Map<String, TensorView> views = new LinkedHashMap<>();
        try {
            for (String n : f.tensors().keySet()) {
                views.put(n, f.view(n));
            }
        } catch (RuntimeException e) {
            f.close();
            throw e;
        }
        return new CheckpointTensors(path, views, f);
    }

    /**
     * Drops the checkpoint's file pages from this process's resident memory (the JDK's
     * {@code MemorySegment.unload}: madvise DONTNEED on the read-only mapping). For after the
     * networks converted the weights into copies of another dtype: the pages read during the
     * conversion would otherwise count in the RSS for as long as the file stays mapped. Views
     * stay valid; a view read again faults its pages back in from the page cache.
     */
    public void dropResidentPages() {
        for (TensorView v : tensors.values()) {
            if (v.data().isMapped() && v.data().byteSize() > 0) {
                v.data().unload();
            }
        }
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    /** Keeps the files mapped for a native object that borrows them, past {@link #close()}. */
    @Override
    public void retain() {
        if (owner instanceof dev.atelier.engine.core.Retainable r) {
            r.retain();
        }
    }

    @Override
    public void release() {
        if (owner instanceof dev.atelier.engine.core.Retainable r) {
            r.release();
        }
    }

    @Override
    public void close() {
        try {
            owner.close();
        } catch (Exception e) {
            throw new IllegalStateException(path + ": close failed: " + e.getMessage(), e);
        }
    }
}
