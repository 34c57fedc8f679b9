package dev.atelier.engine.index;

import dev.atelier.engine.util.Sha256;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.atelier.engine.catalog.CatalogItem;
import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.util.AtomicFiles;
import dev.atelier.engine.util.FolderLock;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The on-disk form of a {@link CatalogIndex}: a folder holding
 * <ul>
 *   <li>{@code index-G.faiss}: the FAISS index (faiss::write_index),</li>
 *   <li>{@code pca-G.bin}: the PCA (faiss::write_VectorTransform), when the index has one,</li>
 *   <li>{@code items-G.json}: the items in id order, each {@code [path, itemId, category]},</li>
 *   <li>{@code manifest.json}: format name and version, dimensions, count, and for each file
 *       its name, size and SHA-256.</li>
 * </ul>
 * G is a generation number that grows with each save. Atomicity: a save writes the new
 * generation's files under new names (each through {@link AtomicFiles}), leaving the files the
 * current manifest names untouched, and replaces the manifest last, by one rename. An
 * interrupted save therefore leaves the previous manifest and all its files in place; files of
 * other generations are deleted after the new manifest is in place. A save holds the folder's
 * {@link FolderLock} (waiting up to {@link #SAVE_PATIENCE} for another writer), so that two saves
 * never pick the same generation; a writer that reads, changes and saves an index ({@code index
 * add}) holds it from the read on.
 */
final class CatalogIndexStore {
    static final String FORMAT = "atelier-catalog-index";
    static final int VERSION = 1;
    static final String MANIFEST = "manifest.json";
    static final long MAX_MANIFEST_BYTES = 1 << 20;
    private static final Pattern DATA_FILE = Pattern.compile("(index|pca|items)-\\d+\\.(faiss|bin|json)");
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
            .enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    /** How long a save waits for another writer of the same folder before it fails. */
    static final java.time.Duration SAVE_PATIENCE = java.time.Duration.ofMinutes(1);

    /** Called after each data file of a save is written; tests use it to interrupt a save. */
    @FunctionalInterface
    interface SaveHook {
        SaveHook NONE = name -> {};

        void afterFile(String name) throws IOException;
    }

    record FileEntry(String name, long size, String sha256) {}

    record Manifest(String format, int version, long generation, String factory, int inputDimension, int dimension,
                    long count, FileEntry index, FileEntry pca, FileEntry items) {}

    private CatalogIndexStore() {}

    static void save(CatalogIndex catalog, Path dir, SaveHook hook) {
        // Searches may go on while saving; adds wait.
        catalog.lock().readLock().lock();
        try (FolderLock folder = FolderLock.acquire(dir, "saving a catalog index", SAVE_PATIENCE)) {
            AtomicFiles.removeStale(dir); // an earlier save's, killed while writing
            long generation = previousGeneration(dir) + 1;
            FileEntry index = NativeBytes.withBlob(out -> dev.atelier.bindings.atelier_h.atl_index_write(
                    catalog.vectorIndex().pointer(), out), bytes -> writeFile(dir, "index-" + generation + ".faiss", bytes));
            hook.afterFile(index.name());
            FileEntry pca = null;
            if (catalog.pca() != null) {
                pca = NativeBytes.withBlob(out -> dev.atelier.bindings.atelier_h.atl_pca_write(catalog.pca().pointer(), out),
                        bytes -> writeFile(dir, "pca-" + generation + ".bin", bytes));
                hook.afterFile(pca.name());
            }
            List<CatalogItem> items = catalog.itemsUnderLock();
            List<String[]> rows = new ArrayList<>(items.size());
            for (CatalogItem item : items) {
                rows.add(new String[] {item.path(), item.itemId(), item.category()});
            }
            byte[] itemBytes = new ObjectMapper().writeValueAsBytes(rows);
            FileEntry itemsEntry = writeFile(dir, "items-" + generation + ".json", MemorySegment.ofArray(itemBytes));
            hook.afterFile(itemsEntry.name());
            Manifest manifest = new Manifest(FORMAT, VERSION, generation, catalog.factory(), catalog.inputDimension(),
                    catalog.dimension(), items.size(), index, pca, itemsEntry);
            AtomicFiles.write(dir.resolve(MANIFEST), JSON.writeValueAsBytes(manifest));
            deleteOtherGenerations(dir, manifest);
        } catch (IOException e) {
            throw new FormatException(AtelierException.IO, dir + ": cannot save the catalog index: " + e.getMessage());
        } finally {
            catalog.lock().readLock().unlock();
        }
    }

    /** Loads attempted by a reader whose files a concurrent save keeps replacing, before it gives up. */
    static final int LOAD_ATTEMPTS = 5;

    static CatalogIndex load(Path dir) {
        return load(dir, () -> {});
    }

    /**
     * Loads the index the manifest names. A save that completes while this reads deletes the files
     * of the generation being read (readers take no lock, so that searches never wait for a save):
     * when reading fails and the manifest meanwhile names another generation, the load starts again
     * from the new manifest, as Lucene's readers do when a commit replaces the segments they were
     * opening. afterManifest runs once the manifest is read (tests save from it).
     */
    static CatalogIndex load(Path dir, Runnable afterManifest) {
        for (int attempt = 1; ; attempt++) {
            Manifest m = readManifest(dir);
            afterManifest.run();
            try {
                return load(dir, m);
            } catch (FormatException e) {
                long now;
                try {
                    now = readManifest(dir).generation();
                } catch (FormatException unreadable) {
                    throw e;
                }
                if (now == m.generation()) {
                    throw e;
                }
                if (attempt == LOAD_ATTEMPTS) {
                    throw new FormatException(AtelierException.IO, dir + ": the catalog index was replaced "
                            + LOAD_ATTEMPTS + " times while it was being read; last error: " + e.getMessage());
                }
            }
        }
    }

    private static Manifest readManifest(Path dir) {
        Path manifestPath = dir.resolve(MANIFEST);
        Manifest m;
        try {
            // A manifest is a few hundred bytes: a larger file is not read into memory.
            long size = Files.size(manifestPath);
            if (size > MAX_MANIFEST_BYTES) {
                throw new FormatException(manifestPath + ": " + size + " bytes; a catalog index manifest is at most "
                        + MAX_MANIFEST_BYTES);
            }
            m = JSON.readValue(Files.readAllBytes(manifestPath), Manifest.class);
        } catch (NoSuchFileException e) {
            throw new FormatException(AtelierException.IO, manifestPath + ": not found; " + dir + " holds no saved catalog index");
        } catch (IOException e) {
            throw new FormatException(manifestPath + ": unreadable catalog index manifest: " + e.getMessage());
        }
        if (m == null) {
            throw new FormatException(manifestPath + ": holds JSON null, not a catalog index manifest");
        }
        if (!FORMAT.equals(m.format())) {
            throw new FormatException(manifestPath + ": format is \"" + m.format() + "\", expected \"" + FORMAT + "\"");
        }
        if (m.version() != VERSION) {
            throw new FormatException(manifestPath + ": format version " + m.version() + "; this Atelier reads version " + VERSION);
        }
        if (m.index() == null || m.items() == null) {
            throw new FormatException(manifestPath + ": names no index or items file");
        }
        return m;
    }

    private static CatalogIndex load(Path dir, Manifest m) {
        Path manifestPath = dir.resolve(MANIFEST);
        List<CatalogItem> items = readItems(dir, m.items());
        VectorIndex index = null;
        Pca pca = null;
        try (Arena arena = Arena.ofConfined()) {
            index = VectorIndex.fromBytes(readChecked(dir, m.index(), arena), dir.resolve(m.index().name()));
            if (m.pca() != null) {
                pca = Pca.fromBytes(readChecked(dir, m.pca(), arena), dir.resolve(m.pca().name()));
            }
            check(index.size() == m.count() && items.size() == m.count(), manifestPath,
                    "manifest says " + m.count() + " items; the index holds " + index.size() + " vectors and the items file "
                            + items.size());
            int indexInput = pca == null ? index.dimension() : pca.inputDimension();
            int indexDim = pca == null ? index.dimension() : pca.outputDimension();
            check(indexInput == m.inputDimension() && indexDim == index.dimension() && index.dimension() == m.dimension(),
                    manifestPath, "dimensions of the manifest, PCA and index disagree");
            return new CatalogIndex(index, pca, m.inputDimension(), m.factory(), items);
        } catch (RuntimeException e) {
            if (index != null) index.close();
            if (pca != null) pca.close();
            throw e;
        }
    }

    private static List<CatalogItem> readItems(Path dir, FileEntry entry) {
        Path path = dir.resolve(entry.name());
        try (Arena arena = Arena.ofConfined()) {
            byte[] bytes = readChecked(dir, entry, arena).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            String[][] rows = new ObjectMapper().readValue(bytes, String[][].class);
            List<CatalogItem> items = new ArrayList<>(rows.length);
            for (int i = 0; i < rows.length; i++) {
                check(rows[i] != null && rows[i].length == 3 && rows[i][0] != null, path, "item " + i + " is malformed");
                items.add(new CatalogItem(rows[i][0], rows[i][1], rows[i][2]));
            }
            return items;
        } catch (IOException e) {
            throw new FormatException(path + ": malformed items file: " + e.getMessage());
        }
    }

    /** Maps the file into arena after checking its size and SHA-256 against the manifest. */
    private static MemorySegment readChecked(Path dir, FileEntry entry, Arena arena) {
        check(entry.name() != null && DATA_FILE.matcher(entry.name()).matches(), dir.resolve(MANIFEST),
                "names an unexpected file \"" + entry.name() + "\"");
        Path path = dir.resolve(entry.name());
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size != entry.size()) {
                throw new FormatException(path + ": " + (size < entry.size() ? "truncated" : "too long") + ": " + size
                        + " bytes, the manifest says " + entry.size());
            }
            MemorySegment data = size == 0 ? MemorySegment.NULL : channel.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            String digest = Sha256.hex(data);
            if (!digest.equalsIgnoreCase(entry.sha256())) {
                throw new FormatException(path + ": checksum mismatch (SHA-256 " + digest + ", the manifest says "
                        + entry.sha256() + "): the file was altered or damaged");
            }
            return data;
        } catch (NoSuchFileException e) {
            throw new FormatException(AtelierException.IO, path + ": missing (named by " + MANIFEST + ")");
        } catch (IOException e) {
            throw new FormatException(AtelierException.IO, path + ": cannot read: " + e.getMessage());
        }
    }

    /** Writes bytes to dir/name through AtomicFiles and returns its manifest entry. */
    private static FileEntry writeFile(Path dir, String name, MemorySegment bytes) {
        AtomicFiles.write(dir.resolve(name), channel -> {
            long chunk = 1L << 26;
            for (long at = 0; at < bytes.byteSize(); at += chunk) {
                ByteBuffer buffer = bytes.asSlice(at, Math.min(chunk, bytes.byteSize() - at)).asByteBuffer();
                while (buffer.hasRemaining()) {
                    channel.write(buffer);
                }
            }
        });
        return new FileEntry(name, bytes.byteSize(), Sha256.hex(bytes));
    }

    /** The generation of the current manifest; 0 when there is none or it is unreadable. */
    private static long previousGeneration(Path dir) {
        long max = 0;
        try {
            max = JSON.readValue(Files.readAllBytes(dir.resolve(MANIFEST)), Manifest.class).generation();
        } catch (IOException | RuntimeException e) {
            // no readable manifest: start above any data file left behind
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path p : files) {
                String name = p.getFileName().toString();
                if (DATA_FILE.matcher(name).matches()) {
                    max = Math.max(max, Long.parseLong(name.substring(name.indexOf('-') + 1, name.indexOf('.'))));
                }
            }
        } catch (IOException | NumberFormatException e) {
            // listing is best effort: names of a higher generation are only overwritten atomically
        }
        return max;
    }

    private static void deleteOtherGenerations(Path dir, Manifest kept) throws IOException {
        Set<String> keep = new java.util.HashSet<>();
        keep.add(kept.index().name());
        keep.add(kept.items().name());
        if (kept.pca() != null) {
            keep.add(kept.pca().name());
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path p : files) {
                String name = p.getFileName().toString();
                if (DATA_FILE.matcher(name).matches() && !keep.contains(name)) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    private static void check(boolean ok, Path file, String message) {
        if (!ok) {
            throw new FormatException(file + ": " + message);
        }
    }
}
