package dev.atelier.engine.torchfile;

import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.torchfile.Pickled.StorageRef;
import dev.atelier.engine.torchfile.Pickled.TensorRef;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A file written by {@code torch.save} (the zip format of torch 1.6 and later: {@code .pth},
 * {@code .pt}, {@code .ckpt}), read without Python. The file is memory-mapped; {@code data.pkl}
 * is run by a whitelisting pickle machine that builds only dicts, lists and tensor descriptions;
 * each tensor is a no-copy view of its {@code data/<key>} entry (torch stores entries
 * uncompressed), with torch's shape, strides and storage offset.
 *
 * <p>Tensors are named by their dict keys; dicts inside dicts are flattened with dots
 * ({@code {"state_dict": {"a.b": t}}} gives {@code state_dict.a.b}), and {@link #stateDict()}
 * selects the usual {@code state_dict} subtree of a training checkpoint. List items are named by
 * their index. Entries that are not tensors (step counters, hyper-parameters) are skipped.
 *
 * <p>A hostile file is refused before it costs much: the pickle's size and what it builds are
 * bounded ({@link #MAX_PICKLE_BYTES}, {@link PickleReader#MAX_BUILT_BYTES}), and so is the walk
 * over its result: nesting depth, values visited (a value that the pickle's memo shares is visited
 * each time it is reached, so a structure of 2^40 items in a few hundred bytes hits the limit),
 * tensor count and name length; a structure that contains itself is an error. The zip side is
 * checked by {@link ZipArchive}.
 *
 * <p>Errors (a truncated, malformed or foreign file, a class outside the whitelist) are
 * {@link FormatException}s naming the file and the problem. Views are valid until
 * {@link #close()}, and read-only.
 */
public final class TorchFile extends dev.atelier.engine.core.MappedFile {
    private final Path path;
    private final Map<String, TensorView> tensors;

    /**
     * The largest {@code data.pkl} read: an SD 1.5 checkpoint's is well under 1 MiB (about 1,100
     * tensors), a training checkpoint's with optimizer state a few MiB; 64 MiB also bounds the time
     * the pickle machine runs (one step per byte at most).
     */
    static final long MAX_PICKLE_BYTES = 64L << 20;
    /** Nesting deeper than this is refused; state dicts nest a few levels (checkpoint, state_dict, optimizer state). */
    static final int MAX_DEPTH = 100;
    /**
     * Dicts, lists and tensors visited while flattening, a memo-shared one once per time it is
     * reached. A checkpoint visits about as many as it has tensors (a training checkpoint with a
     * long list of logged values, that many more); a million is far past both and bounds the walk.
     */
    static final long MAX_VISITS = 1_000_000;
    /** Tensors in one file: SD 1.5 has about 1,100, with EMA weights and optimizer state a few times that. */
    static final int MAX_TENSORS = 200_000;
    /** The longest flattened tensor name; real ones are under 200 characters. */
    static final int MAX_NAME = 1024;
    /** The {@code byteorder} entry holds "little" or "big". */
    private static final long MAX_BYTEORDER_BYTES = 16;

    private TorchFile(Path path, Arena arena, Map<String, TensorView> tensors) {
        super(path.toString(), arena);
        this.path = path;
        this.tensors = tensors;
    }

    /** Opens path, refusing any pickled class other than dicts, tensors and storages. */
    public static TorchFile open(Path path) {
        return open(path, false);
    }

    /**
     * Opens path; with {@code allowForeignObjects} other pickled classes (Lightning callbacks,
     * numpy scalars in a training checkpoint) are tolerated as inert placeholders and skipped,
     * never imported or run. Tensors are read the same way in both modes.
     */
    public static TorchFile open(Path path, boolean allowForeignObjects) {
        return open(path, allowForeignObjects, dev.atelier.engine.core.FileAccess.MAP);
    }

    /** {@link #open(Path, boolean)}, the file mapped or read into memory as access says. */
    public static TorchFile open(Path path, boolean allowForeignObjects, dev.atelier.engine.core.FileAccess access) {
        Arena arena = Arena.ofShared();
        try {
            MemorySegment mapping;
            try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
                if (channel.size() == 0) {
                    throw new FormatException(path + ": the file is empty");
                }
                mapping = access.contents(path, channel, arena);
            } catch (NoSuchFileException e) {
                throw new FormatException(AtelierException.IO, path + ": no such file");
            } catch (IOException e) {
                throw new FormatException(AtelierException.IO, path + ": cannot read: " + e.getMessage());
            }
            TorchFile file = new TorchFile(path, arena, read(path, mapping, arena, allowForeignObjects));
            arena = null; // owned by file
            return file;
        } finally {
            if (arena != null) {
                arena.close();
            }
        }
    }

    /** The tensors of a torch.save file whose bytes are mapping; memory it inflates or copies comes from arena. */
    static Map<String, TensorView> read(Path path, MemorySegment mapping, Arena arena, boolean lenient) {
        if (mapping.byteSize() >= 2 && mapping.get(ValueLayout.JAVA_BYTE, 0) == (byte) 0x80) {
            throw new FormatException(path + ": a torch.save file in the legacy format of torch before 1.6 (not a zip): "
                    + "load and save it again with a current torch, or convert it to safetensors");
        }
        if (mapping.byteSize() < 4 || mapping.get(ValueLayout.JAVA_INT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 0) != 0x04034b50) {
            throw new FormatException(path + ": not a torch.save file (no zip signature)");
        }
        ZipArchive zip = ZipArchive.read(path, mapping, arena);
        ZipArchive.Entry pickle = null;
        for (ZipArchive.Entry e : zip.entries().values()) {
            // <archive>/data.pkl: the top folder is the file's name at save time ("archive" by default).
            int slash = e.name().indexOf('/');
            if (slash > 0 && e.name().substring(slash + 1).equals("data.pkl")) {
                pickle = e;
                break;
            }
        }
        if (pickle == null) {
            throw new FormatException(path + ": a zip file without <archive>/data.pkl: not written by torch.save");
        }
        String prefix = pickle.name().substring(0, pickle.name().indexOf('/') + 1);
        ZipArchive.Entry byteorder = zip.entries().get(prefix + "byteorder");
        if (byteorder != null) {
            if (byteorder.size() > MAX_BYTEORDER_BYTES) {
                throw new FormatException(path + ": the byteorder entry holds " + byteorder.size() + " bytes, not a byte order");
            }
            String order = new String(zip.data(byteorder, true).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.US_ASCII).strip();
            if (!order.equals("little")) {
                throw new FormatException(path + ": tensors stored in " + order + "-endian byte order are not supported");
            }
        }
        if (pickle.size() > MAX_PICKLE_BYTES) {
            throw new FormatException(path + ": " + pickle.name() + " is " + pickle.size() + " bytes, over the "
                    + (MAX_PICKLE_BYTES >> 20) + " MiB read (a checkpoint's is under a few MiB)");
        }
        Object root = PickleReader.read(path + " (" + pickle.name() + ")", zip.data(pickle, true), lenient);
        Flattener f = new Flattener(path, zip, prefix);
        f.visit(root, "", 0);
        return Collections.unmodifiableMap(f.out);
    }

    /** Names every tensor of the pickled structure, within the limits above. */
    private static final class Flattener {
        final Path path;
        final ZipArchive zip;
        final String prefix;
        final Map<String, TensorView> out = new LinkedHashMap<>();
        final Map<String, MemorySegment> storages = new java.util.HashMap<>();
        final Map<Object, Boolean> onPath = new java.util.IdentityHashMap<>(); // containers being visited
        long visits;

        Flattener(Path path, ZipArchive zip, String prefix) {
            this.path = path;
            this.zip = zip;
            this.prefix = prefix;
        }

        /** name is null once it would pass MAX_NAME: an error only if a tensor gets it. */
        void visit(Object node, String name, int depth) {
            if (!(node instanceof TensorRef || node instanceof Map || node instanceof List)) {
                return; // numbers, strings, opaque objects carry no tensor
            }
            if (++visits > MAX_VISITS) {
                throw new FormatException(path + ": the pickled structure expands to more than " + MAX_VISITS
                        + " dicts, lists and tensors when its shared references are followed (a 'billion laughs' pickle)");
            }
            if (node instanceof TensorRef t) {
                if (name == null) {
                    throw new FormatException(path + ": a tensor's flattened name is longer than " + MAX_NAME + " characters");
                }
                if (out.containsKey(name)) {
                    throw new FormatException(path + ": two tensors are named \"" + name + "\" after flattening");
                }
                if (out.size() >= MAX_TENSORS) {
                    throw new FormatException(path + ": more than " + MAX_TENSORS + " tensors");
                }
                out.put(name, view(path, zip, prefix, t, name, storages));
                return;
            }
            String where = name == null ? "(a name over " + MAX_NAME + " characters)" : name.isEmpty() ? "the top" : "\"" + name + "\"";
            if (depth >= MAX_DEPTH) {
                throw new FormatException(path + ": the pickled structure nests deeper than " + MAX_DEPTH + " levels at " + where);
            }
            if (onPath.put(node, Boolean.TRUE) != null) {
                throw new FormatException(path + ": the pickled structure contains itself at " + where
                        + " (a self-referencing " + (node instanceof Map ? "dict" : "list") + ")");
            }
            if (node instanceof Map<?, ?> m) {
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    visit(e.getValue(), join(name, String.valueOf(e.getKey())), depth + 1);
                }
            } else if (node instanceof List<?> l) {
                for (int i = 0; i < l.size(); i++) {
                    visit(l.get(i), join(name, Integer.toString(i)), depth + 1);
                }
            }
            onPath.remove(node);
        }

        private static String join(String a, String b) {
            if (a == null || a.length() + 1 + b.length() > MAX_NAME) {
                return null;
            }
            return a.isEmpty() ? b : a + "." + b;
        }
    }

    private static TensorView view(Path path, ZipArchive zip, String prefix, TensorRef t, String name,
            Map<String, MemorySegment> storages) {
        StorageRef s = t.storage();
        MemorySegment bytes = storages.computeIfAbsent(s.key(), key -> {
            ZipArchive.Entry entry = zip.entries().get(prefix + "data/" + key);
            if (entry == null) {
                throw new FormatException(path + ": tensor \"" + name + "\" needs storage " + prefix + "data/" + key
                        + ", which the archive does not have");
            }
            return zip.data(entry);
        });
        long itemSize = s.dtype().byteSize();
        if (bytes.address() % itemSize != 0) {
            // torch aligns its entries to 64 bytes; a zip rewritten by another tool may not be, and
            // element access needs natural alignment, so such a storage is copied once.
            MemorySegment aligned = zip.allocate(bytes.byteSize(), "realigning storage " + s.key());
            aligned.copyFrom(bytes);
            storages.put(s.key(), aligned);
            bytes = aligned;
        }
        if (s.numel() < 0 || bytes.byteSize() / itemSize < s.numel()) {
            throw new FormatException(path + ": storage " + s.key() + " holds " + bytes.byteSize() + " bytes, fewer than its "
                    + s.numel() + " " + s.dtype() + " elements");
        }
        long last = 0;
        long numel = 1;
        try {
            for (int i = 0; i < t.shape().length; i++) {
                numel = Math.multiplyExact(numel, t.shape()[i]);
                last = Math.addExact(last, Math.multiplyExact(Math.max(t.shape()[i] - 1, 0), t.stride()[i]));
            }
        } catch (ArithmeticException e) {
            throw new FormatException(path + ": tensor \"" + name + "\" has a size " + java.util.Arrays.toString(t.shape())
                    + " or stride " + java.util.Arrays.toString(t.stride()) + " past 2^63 elements");
        }
        if (numel > 0 && (t.offset() < 0 || t.offset() >= s.numel() || last >= s.numel() - t.offset())) {
            throw new FormatException(path + ": tensor \"" + name + "\" (offset " + t.offset() + ", size "
                    + java.util.Arrays.toString(t.shape()) + ", stride " + java.util.Arrays.toString(t.stride())
                    + ") reaches past its storage of " + s.numel() + " elements");
        }
        MemorySegment data = numel == 0 ? bytes.asSlice(0, 0) : bytes.asSlice(t.offset() * itemSize, (last + 1) * itemSize);
        try {
            return new TensorView(data, s.dtype(), t.shape(), t.stride());
        } catch (InvalidInputException e) {
            throw new FormatException(path + ": tensor \"" + name + "\": " + e.getMessage());
        }
    }

    public Path path() {
        return path;
    }

    /** Every tensor, by flattened name, in pickle order. */
    public Map<String, TensorView> tensors() {
        return tensors;
    }

    /**
     * The tensors below {@code key} (a flattened name prefix such as {@code state_dict}), named
     * relative to it; empty when there are none.
     */
    public Map<String, TensorView> tensors(String key) {
        String p = key + ".";
        Map<String, TensorView> out = new LinkedHashMap<>();
        tensors.forEach((n, v) -> {
            if (n.startsWith(p)) {
                out.put(n.substring(p.length()), v);
            }
        });
        return Collections.unmodifiableMap(out);
    }

    /**
     * The model weights: the {@code state_dict} subtree of a training checkpoint (Lightning,
     * the original SD .ckpt files) when there is one, otherwise all tensors.
     */
    public Map<String, TensorView> stateDict() {
        Map<String, TensorView> sub = tensors("state_dict");
        return sub.isEmpty() ? tensors : sub;
    }

    /** A tensor by flattened name. */
    public TensorView view(String name) {
        TensorView v = tensors.get(name);
        if (v == null) {
            throw new FormatException(path + ": no tensor named \"" + name + "\"");
        }
        return v;
    }

    @Override
    public String toString() {
        return "TorchFile[" + path + ", " + tensors.size() + " tensors]";
    }
}
