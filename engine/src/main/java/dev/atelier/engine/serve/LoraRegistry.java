package dev.atelier.engine.serve;

import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.lora.Lora;
import dev.atelier.engine.lora.LoraFile;
import dev.atelier.engine.lora.LoraKeys;
import dev.atelier.engine.lora.LoraMode;
import dev.atelier.engine.lora.LoraRequest;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.sd.TextEncoder;
import dev.atelier.engine.sd.UNet;
import dev.atelier.engine.util.AtomicFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The LoRAs a served model carries: every set of LoRAs that a request asks for (files with their
 * multipliers) is applied unmerged into ONE slot of the UNet and one of the text encoder, so that
 * samples with different sets share UNet batches. Sets stay applied for the next request that
 * asks for them, least recently used first out once their files' bytes pass the budget; a set in
 * use (an open {@link Lease}) is never removed. A file changed since its set was applied (size or
 * modification time) makes a new set; the old one goes when unused. Thread-safe.
 */
public final class LoraRegistry {
    /** The names {@link #add} accepts: a file name without folders, never hidden. */
    private static final Pattern UPLOAD_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

    private final Path folder;
    private final LoraKeys keys;
    private final Guarded<UNet> unet;
    private final Guarded<TextEncoder> text;
    private final long byteBudget;

    // Access order: the first entry is the least recently used. Guarded by this.
    private final Map<List<Member>, Entry> sets = new LinkedHashMap<>(16, 0.75f, true);
    private long bytes;
    private long hits;
    private long misses;
    private long evictions;

    /** One file of a set, as it was when applied. */
    private record Member(Path file, float unetMultiplier, float textMultiplier, long size, long modified) {}

    private static final class Entry {
        final int unetSlot;
        final int textSlot;
        final long bytes;
        int leases;
        boolean stale; // one of its files has changed since

        Entry(int unetSlot, int textSlot, long bytes) {
            this.unetSlot = unetSlot;
            this.textSlot = textSlot;
            this.bytes = bytes;
        }
    }

    /** A set's slots, held while samples use them. */
    public final class Lease implements AutoCloseable {
        private final Entry entry;
        private boolean closed;

        private Lease(Entry entry) {
            this.entry = entry;
        }

        /** The UNet slot to select for the samples; -1 for no LoRA. */
        public int unetSlot() {
            return entry == null ? -1 : entry.unetSlot;
        }

        /** The text encoder slot to select for the prompts; -1 for no LoRA. */
        public int textSlot() {
            return entry == null ? -1 : entry.textSlot;
        }

        @Override
        public void close() {
            synchronized (LoraRegistry.this) {
                if (closed || entry == null) {
                    return;
                }
                closed = true;
                entry.leases--;
                evictOverBudget();
            }
        }
    }

    /** Counters for metrics: cache hits, misses (loads) and evictions, bytes and sets held. */
    public record Stats(long hits, long misses, long evictions, long bytes, int sets) {}

    /**
     * @param folder     where LoRAs are found by name (subfolders too, as A1111 does)
     * @param keys       the base model's layer names, for mapping kohya / diffusers keys
     * @param byteBudget the LoRA files' bytes kept applied while unused
     */
    public LoraRegistry(Path folder, LoraKeys keys, Guarded<UNet> unet, Guarded<TextEncoder> text, long byteBudget) {
        this.folder = folder;
        this.keys = keys;
        this.unet = unet;
        this.text = text;
        this.byteBudget = byteBudget;
    }

    public Path folder() {
        return folder;
    }

    /**
     * The LoRA names a prompt may use: the .safetensors files under the folder whose tensors are
     * LoRA adapters (other weights kept beside them are left out), without the extension.
     */
    public List<String> names() {
        if (!Files.isDirectory(folder)) {
            return List.of();
        }
        try (Stream<Path> s = Files.walk(folder)) {
            return s.filter(p -> Files.isRegularFile(p)
                            && p.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".safetensors")
                            && holdsAdapters(p))
                    .map(p -> {
                        String n = p.getFileName().toString();
                        return n.substring(0, n.length() - ".safetensors".length());
                    })
                    .sorted()
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException(folder + ": " + e.getMessage(), e);
        }
    }

    /**
     * Adds folder/NAME.safetensors, or replaces it, with what body writes, once the written file
     * proves to be a LoRA for this model ({@link LoraFile#open} against its layers: a file of
     * another architecture, an SDXL LoRA, NaN weights or no adapters at all are refused, and the
     * folder is left as it was). The file appears by rename: prompts can use it at once, and sets
     * applied from a replaced file are applied again on their next use, as for any changed file.
     *
     * @param name a file name without folders or extension: letters, digits, '.', '_' and '-',
     *             starting with a letter or digit, at most 128 characters
     * @return the file written
     */
    public Path add(String name, AtomicFiles.Body body) {
        requireUploadName(name);
        Path target = folder.resolve(name + ".safetensors");
        AtomicFiles.write(target, body, written -> {
            try (LoraFile checked = LoraFile.open(written, keys)) {
                // opening maps every adapter against the model's layers: the check itself
            } catch (FormatException e) {
                throw new FormatException("LoRA \"" + name + "\" refused: "
                        + e.getMessage().replace(written.toString(), "the uploaded file"));
            }
        });
        return target;
    }

    /** name, when it is one {@link #add} takes; else an InvalidInputException saying what a name may hold. */
    public static String requireUploadName(String name) {
        if (name == null || !UPLOAD_NAME.matcher(name).matches()) {
            throw new InvalidInputException("LoRA name \"" + name + "\": use letters, digits, '.', '_' and '-', starting "
                    + "with a letter or digit, at most 128 characters");
        }
        return name;
    }

    /** Deletes folder/NAME.safetensors; false when there is none. Sets already applied from it stay until evicted. */
    public boolean remove(String name) {
        if (!UPLOAD_NAME.matcher(name).matches()) {
            throw new InvalidInputException("LoRA name \"" + name + "\": not a name an upload can have");
        }
        try {
            return Files.deleteIfExists(folder.resolve(name + ".safetensors"));
        } catch (IOException e) {
            throw new UncheckedIOException(folder + ": " + e.getMessage(), e);
        }
    }

    /** The prompt without its {@code <lora:NAME:W>} tags and the LoRAs they name, found in the folder. */
    public LoraRequest.FromPrompt parsePrompt(String prompt) {
        return LoraRequest.fromPrompt(prompt, folder);
    }

    /** The slots of set (empty: none), applying it first if no slot carries it yet. */
    public Lease acquire(List<LoraRequest> set) {
        if (set.isEmpty()) {
            return new Lease(null);
        }
        List<Member> key = new ArrayList<>();
        long total = 0;
        for (LoraRequest r : set) {
            BasicFileAttributes a = attributes(r.path());
            key.add(new Member(r.path().toAbsolutePath().normalize(), r.unetMultiplier(), r.textMultiplier(),
                    a.size(), a.lastModifiedTime().toMillis()));
            total += a.size();
        }
        synchronized (this) {
            Entry e = sets.get(key);
            if (e != null) {
                hits++;
            } else {
                misses++;
                for (Map.Entry<List<Member>, Entry> other : sets.entrySet()) {
                    if (changedFiles(other.getKey(), key)) {
                        other.getValue().stale = true;
                    }
                }
                e = apply(key, total);
                sets.put(key, e);
                bytes += e.bytes;
            }
            e.leases++;
            Lease lease = new Lease(e);
            evictOverBudget();
            return lease;
        }
    }

    /**
     * Removes every set it applied and the networks' per-sample selections, leaving the networks
     * as they were before (for when serving stops while the model stays loaded). No lease may be
     * open.
     */
    public synchronized void clear() {
        for (Entry e : sets.values()) {
            if (e.unetSlot >= 0) {
                unet.accept(u -> u.removeLora(e.unetSlot));
            }
            if (e.textSlot >= 0) {
                text.accept(t -> t.removeLora(e.textSlot));
            }
        }
        sets.clear();
        bytes = 0;
        unet.accept(u -> u.selectLora());
        text.accept(t -> t.selectLora());
    }

    public synchronized Stats stats() {
        return new Stats(hits, misses, evictions, bytes, sets.size());
    }

    /** Applies every file of key into one new slot per network (-1 where no file has adapters for it). */
    private Entry apply(List<Member> key, long total) {
        List<LoraFile> files = new ArrayList<>();
        try {
            for (Member m : key) {
                files.add(LoraFile.open(m.file(), keys));
            }
            int unetSlot = unet.apply(u -> applyAll(files, key, LoraKeys.Network.UNET,
                    (l, mult, slot) -> slot < 0 ? u.applyLora(l, mult, LoraMode.UNMERGED) : apply(u, l, mult, slot),
                    u::removeLora));
            int textSlot;
            try {
                textSlot = text.apply(t -> applyAll(files, key, LoraKeys.Network.TEXT_ENCODER,
                        (l, mult, slot) -> slot < 0 ? t.applyLora(l, mult, LoraMode.UNMERGED) : apply(t, l, mult, slot),
                        t::removeLora));
            } catch (RuntimeException e) {
                if (unetSlot >= 0) {
                    unet.accept(u -> u.removeLora(unetSlot));
                }
                throw e;
            }
            return new Entry(unetSlot, textSlot, total);
        } finally {
            for (LoraFile f : files) {
                f.close();
            }
        }
    }

    private static int apply(UNet u, Lora l, float multiplier, int slot) {
        u.applyLora(l, multiplier, slot);
        return slot;
    }

    private static int apply(TextEncoder t, Lora l, float multiplier, int slot) {
        t.applyLora(l, multiplier, slot);
        return slot;
    }

    private interface ApplyTo {
        int apply(Lora lora, float multiplier, int slot);
    }

    private interface RemoveSlot {
        void remove(int slot);
    }

    /** One network's adapters of every file into one slot; on failure nothing stays applied. */
    private static int applyAll(List<LoraFile> files, List<Member> key, LoraKeys.Network network, ApplyTo applyTo,
            RemoveSlot remove) {
        int slot = -1;
        try {
            for (int i = 0; i < files.size(); i++) {
                Optional<Lora> l = files.get(i).lora(network);
                if (l.isPresent()) {
                    Member m = key.get(i);
                    float mult = network == LoraKeys.Network.UNET ? m.unetMultiplier() : m.textMultiplier();
                    slot = applyTo.apply(l.get(), mult, slot);
                }
            }
            return slot;
        } catch (RuntimeException e) {
            if (slot >= 0) {
                remove.remove(slot);
            }
            throw e;
        }
    }

    /** True when a file of older is in newer with another size or modification time. */
    private static boolean changedFiles(List<Member> older, List<Member> newer) {
        for (Member o : older) {
            for (Member n : newer) {
                if (o.file().equals(n.file()) && (o.size() != n.size() || o.modified() != n.modified())) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * Removes unused sets whose files have changed, and unused sets, least recently used first,
     * while the bytes held pass the budget. Under this.
     */
    private void evictOverBudget() {
        var it = sets.entrySet().iterator();
        while (it.hasNext()) {
            Map.Entry<List<Member>, Entry> next = it.next();
            Entry e = next.getValue();
            if (e.leases > 0 || !(e.stale || bytes > byteBudget)) {
                continue;
            }
            if (e.unetSlot >= 0) {
                unet.accept(u -> u.removeLora(e.unetSlot));
            }
            if (e.textSlot >= 0) {
                text.accept(t -> t.removeLora(e.textSlot));
            }
            it.remove();
            bytes -= e.bytes;
            evictions++;
        }
    }

    /** True when the file's header names LoRA tensors (kohya lora_down/lora_up, PEFT lora_A/lora_B). */
    private static boolean holdsAdapters(Path file) {
        try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
            return f.tensors().keySet().stream().anyMatch(n -> n.contains("lora_down") || n.contains("lora_A"));
        } catch (RuntimeException e) {
            return false; // not a readable safetensors file: nothing a prompt could load
        }
    }

    private static BasicFileAttributes attributes(Path file) {
        try {
            return Files.readAttributes(file, BasicFileAttributes.class);
        } catch (IOException e) {
            throw new InvalidInputException("LoRA " + file + ": cannot read it (" + e.getMessage() + ")");
        }
    }
}
