package dev.atelier.engine.lora;

import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.core.Weights;
import dev.atelier.engine.lora.LoraKeys.Network;
import dev.atelier.engine.lora.LoraKeys.Part;
import dev.atelier.engine.lora.LoraKeys.Target;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.util.Sha256;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.concurrent.ConcurrentHashMap;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A LoRA file (kohya, diffusers or PEFT naming; LoRA or LoCon) read against one model: every
 * tensor is mapped through {@link LoraKeys} to a network and layer and handed to native
 * {@link Lora} adapters without a copy. Tensors that match no layer of the model are listed in
 * {@link #unmatchedKeys()} and logged as a warning, never dropped silently. A file for another
 * architecture (SDXL names, or nothing that fits this model) is a {@link FormatException};
 * shapes that do not fit are refused when the LoRA is applied.
 *
 * <p>Ownership: the file stays mapped until {@link #close()} and its LoRAs are closed (each
 * retains the mapping); close it after the LoRAs are applied or no longer needed (applying copies
 * the adapters into the network).
 */
public final class LoraFile implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(LoraFile.class);
    /** {@link #shortHash} by real path, size and modification time. */
    private static final Map<String, String> SHORT_HASHES = new ConcurrentHashMap<>();

    private final SafeTensorsFile file;
    private final Map<Network, Lora> loras;
    private final List<String> unmatched;

    private LoraFile(SafeTensorsFile file, Map<Network, Lora> loras, List<String> unmatched) {
        this.file = file;
        this.loras = loras;
        this.unmatched = List.copyOf(unmatched);
    }

    /**
     * Opens and maps path against a model.
     *
     * @param path the LoRA {@code .safetensors}
     * @param keys the model's key table ({@code new LoraKeys(new NameConverter(layout), checkpoint tensor names)})
     */
    public static LoraFile open(Path path, LoraKeys keys) {
        SafeTensorsFile file = SafeTensorsFile.open(path);
        Map<Network, Lora> loras = new EnumMap<>(Network.class);
        try {
            Matched matched = match(file, keys);
            for (Map.Entry<Network, Map<String, String>> e : matched.names().entrySet()) {
                try (Weights w = new Weights()) {
                    for (Map.Entry<String, String> n : e.getValue().entrySet()) {
                        w.add(n.getKey(), file.view(n.getValue()), file);
                    }
                    try {
                        loras.put(e.getKey(), Lora.create(e.getKey(), w));
                    } catch (FormatException bad) {
                        // The native message names the tensors (NaN values, missing halves): add the file.
                        throw new FormatException(path + ": " + bad.getMessage(), bad);
                    }
                }
            }
            return new LoraFile(file, loras, matched.unmatched());
        } catch (RuntimeException e) {
            loras.values().forEach(Lora::close);
            file.close();
            throw e;
        }
    }

    /**
     * Checks path against a model as {@link #open} does, without the native library: its names
     * must map onto the model's layers, and every value of a matched tensor must be finite. A
     * command can so refuse a bad LoRA before it loads anything else. Shapes are checked when a
     * LoRA is applied.
     */
    public static void check(Path path, LoraKeys keys) {
        try (SafeTensorsFile file = SafeTensorsFile.open(path)) {
            for (Map<String, String> byName : match(file, keys).names().values()) {
                for (String key : byName.values()) {
                    TensorView view = file.view(key);
                    long bad = view.countNonFinite();
                    if (bad > 0) {
                        throw new FormatException(path + ": " + key + ": " + bad + " of " + view.numel()
                                + " values are NaN or infinite");
                    }
                }
            }
        }
    }

    /** A file's tensors by network, native layer name to file key, and the keys that match no layer. */
    private record Matched(Map<Network, Map<String, String>> names, List<String> unmatched) {}

    private static Matched match(SafeTensorsFile file, LoraKeys keys) {
        Path path = file.path();
        List<String> unmatched = new ArrayList<>();
        List<String> sdxl = new ArrayList<>();
        Map<Network, Map<String, String>> names = new EnumMap<>(Network.class); // native name -> file key
        for (String key : file.tensors().keySet()) {
            if (LoraKeys.isSdxlKey(key)) {
                sdxl.add(key);
                continue;
            }
            Optional<Target> t = keys.map(key);
            if (t.isEmpty()) {
                unmatched.add(key);
                continue;
            }
            String name = t.get().layer() + suffix(t.get().part());
            String previous = names.computeIfAbsent(t.get().network(), n -> new HashMap<>()).put(name, key);
            if (previous != null) {
                throw new FormatException(path + ": \"" + previous + "\" and \"" + key + "\" both map to " + name);
            }
        }
        if (!sdxl.isEmpty()) {
            throw new FormatException(path + ": a LoRA for SDXL (two text encoders: " + sdxl.getFirst()
                    + ", ...), not for this SD1.x model");
        }
        if (names.isEmpty()) {
            throw new FormatException(path + ": no tensor matches a layer of this model (another architecture?); "
                    + unmatched.size() + " unmatched, e.g. " + (unmatched.isEmpty() ? "none" : unmatched.getFirst()));
        }
        if (!unmatched.isEmpty()) {
            LOG.warn("{}: {} tensor(s) match no layer of the model and are not applied: {}", path,
                    unmatched.size(), unmatched.size() > 10 ? unmatched.subList(0, 10) + " ..." : unmatched);
        }
        return new Matched(names, unmatched);
    }

    /**
     * A1111's short LoRA hash, as its infotext's {@code Lora hashes} names it: the first 12 hex
     * digits of the SHA-256 of the file after its safetensors header (kohya's "addnet" hash, which
     * metadata edits do not change). Computed once per file, size and modification time.
     */
    public static String shortHash(Path path) {
        try {
            Path real = path.toRealPath();
            BasicFileAttributes a = Files.readAttributes(real, BasicFileAttributes.class);
            String key = real + "\u0000" + a.size() + "\u0000" + a.lastModifiedTime().toMillis();
            String known = SHORT_HASHES.get(key);
            if (known != null) {
                return known;
            }
            String hash;
            try (FileChannel channel = FileChannel.open(real, StandardOpenOption.READ)) {
                ByteBuffer header = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
                channel.read(header, 0); // a regular file fills the buffer unless it is shorter
                long size = channel.size();
                long headerLength = header.position() == 8 ? header.getLong(0) : -1;
                if (headerLength < 0 || headerLength > size - 8) {
                    throw new FormatException(path + ": not a safetensors file (header length "
                            + headerLength + " in " + size + " bytes)");
                }
                MessageDigest digest = Sha256.newDigest();
                ByteBuffer buffer = ByteBuffer.allocate(1 << 20);
                channel.position(8 + headerLength);
                while (channel.read(buffer.clear()) > 0) {
                    digest.update(buffer.flip());
                }
                hash = HexFormat.of().formatHex(digest.digest()).substring(0, 12);
            }
            // Files are few (a LoRA folder); entries for replaced files are dropped by size.
            if (SHORT_HASHES.size() > 4096) {
                SHORT_HASHES.clear();
            }
            SHORT_HASHES.put(key, hash);
            return hash;
        } catch (IOException e) {
            throw new FormatException(AtelierException.IO, path + ": cannot read: " + e.getMessage());
        }
    }

    private static String suffix(Part p) {
        return switch (p) {
            case DOWN -> ".lora_down.weight";
            case UP -> ".lora_up.weight";
            case ALPHA -> ".alpha";
        };
    }

    public Path path() {
        return file.path();
    }

    /** The file's {@code __metadata__} (kohya's {@code ss_*} entries). */
    public Map<String, String> metadata() {
        return file.metadata();
    }

    /** The adapters for network; empty when the file has none for it. Owned by this object. */
    public Optional<Lora> lora(Network network) {
        return Optional.ofNullable(loras.get(network));
    }

    /** Tensor names of the file that match no layer of the model (not applied). */
    public List<String> unmatchedKeys() {
        return unmatched;
    }

    @Override
    public void close() {
        loras.values().forEach(Lora::close);
        file.close();
    }
}
