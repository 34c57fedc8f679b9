package dev.atelier.engine.torchfile;

import dev.atelier.engine.core.AtelierException.FormatException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * The central directory of a zip file that is already memory-mapped, with each entry's data as a
 * slice of the mapping. torch.save stores every entry uncompressed (and aligns tensor data to 64
 * bytes), so its tensors are read in place; a deflated entry is inflated into arena memory.
 *
 * <p>Format facts from PKWARE's APPNOTE.TXT: end-of-central-directory record, its ZIP64 variant,
 * central directory headers, local headers (whose sizes may be zero when flag bit 3 is set, so the
 * central directory's sizes are the ones used).
 */
final class ZipArchive {
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int EOCD = 0x06054b50, ZIP64_LOCATOR = 0x07064b50, ZIP64_EOCD = 0x06064b50,
            CENTRAL = 0x02014b50, LOCAL = 0x04034b50;
    private static final int STORED = 0, DEFLATED = 8;

    /** One entry, as the central directory describes it. */
    record Entry(String name, int method, long compressedSize, long size, long localHeaderOffset) {}

    private final Path path;
    private final MemorySegment file;
    private final Arena arena;
    private final Map<String, Entry> entries;

    private ZipArchive(Path path, MemorySegment file, Arena arena, Map<String, Entry> entries) {
        this.path = path;
        this.file = file;
        this.arena = arena;
        this.entries = entries;
    }

    /** Reads the central directory of file (the whole mapped file); arena holds inflated entries. */
    static ZipArchive read(Path path, MemorySegment file, Arena arena) {
        long size = file.byteSize();
        long eocd = -1;
        // The record is 22 bytes plus a comment of at most 65535 bytes, at the very end.
        for (long at = size - 22; at >= Math.max(0, size - 22 - 65535); at--) {
            if (file.get(U32, at) == EOCD) {
                eocd = at;
                break;
            }
        }
        if (eocd < 0) {
            throw error(path, "no zip end-of-central-directory record (truncated, or not a zip file)");
        }
        long count = u16(file, eocd + 10);
        long cdSize = u32(file, eocd + 12);
        long cdOffset = u32(file, eocd + 16);
        if (eocd >= 20 && file.get(U32, eocd - 20) == ZIP64_LOCATOR) {
            long z = file.get(U64, eocd - 20 + 8);
            if (z < 0 || z > size - 56 || file.get(U32, z) != ZIP64_EOCD) {
                throw error(path, "bad ZIP64 end-of-central-directory record");
            }
            count = file.get(U64, z + 32);
            cdSize = file.get(U64, z + 40);
            cdOffset = file.get(U64, z + 48);
        }
        if (cdOffset < 0 || cdSize < 0 || cdOffset + cdSize > size) {
            throw error(path, "the central directory [" + cdOffset + ", +" + cdSize + ") lies outside the file ("
                    + size + " bytes): truncated");
        }
        Map<String, Entry> entries = new LinkedHashMap<>();
        long at = cdOffset;
        for (long i = 0; i < count; i++) {
            if (at + 46 > cdOffset + cdSize || file.get(U32, at) != CENTRAL) {
                throw error(path, "central directory entry " + i + " is malformed");
            }
            int method = u16(file, at + 10);
            long compressed = u32(file, at + 20);
            long uncompressed = u32(file, at + 24);
            int nameLength = u16(file, at + 28);
            int extraLength = u16(file, at + 30);
            int commentLength = u16(file, at + 32);
            long local = u32(file, at + 42);
            if (at + 46 + nameLength + extraLength + commentLength > cdOffset + cdSize) {
                throw error(path, "central directory entry " + i + " runs past the directory");
            }
            String name = new String(file.asSlice(at + 46, nameLength).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
            // ZIP64 extended information (id 1): the 64-bit values of the fields saturated at 0xFFFFFFFF, in order.
            long extra = at + 46 + nameLength;
            for (long e = extra; e + 4 <= extra + extraLength; ) {
                int id = u16(file, e);
                int len = u16(file, e + 2);
                if (id == 1) {
                    long f = e + 4;
                    if (uncompressed == 0xFFFFFFFFL && f + 8 <= e + 4 + len) {
                        uncompressed = file.get(U64, f);
                        f += 8;
                    }
                    if (compressed == 0xFFFFFFFFL && f + 8 <= e + 4 + len) {
                        compressed = file.get(U64, f);
                        f += 8;
                    }
                    if (local == 0xFFFFFFFFL && f + 8 <= e + 4 + len) {
                        local = file.get(U64, f);
                    }
                }
                e += 4 + len;
            }
            entries.put(name, new Entry(name, method, compressed, uncompressed, local));
            at += 46 + nameLength + extraLength + commentLength;
        }
        return new ZipArchive(path, file, arena, Collections.unmodifiableMap(entries));
    }

    Map<String, Entry> entries() {
        return entries;
    }

    /** The entry's bytes: a slice of the mapping when stored, inflated into the arena when deflated. */
    MemorySegment data(Entry entry) {
        long local = entry.localHeaderOffset();
        if (local < 0 || local + 30 > file.byteSize() || file.get(U32, local) != LOCAL) {
            throw error(path, "entry \"" + entry.name() + "\" has no local header at offset " + local);
        }
        long start = local + 30 + u16(file, local + 26) + u16(file, local + 28);
        if (start + entry.compressedSize() > file.byteSize() || entry.compressedSize() < 0) {
            throw error(path, "entry \"" + entry.name() + "\" (" + entry.compressedSize() + " bytes at " + start
                    + ") runs past the end of the file (" + file.byteSize() + " bytes): truncated");
        }
        MemorySegment raw = file.asSlice(start, entry.compressedSize());
        return switch (entry.method()) {
            case STORED -> {
                if (entry.size() != entry.compressedSize()) {
                    throw error(path, "stored entry \"" + entry.name() + "\" has different sizes");
                }
                yield raw;
            }
            case DEFLATED -> inflate(entry, raw);
            default -> throw error(path, "entry \"" + entry.name() + "\" uses zip compression method "
                    + entry.method() + " (only stored and deflated are read)");
        };
    }

    private MemorySegment inflate(Entry entry, MemorySegment raw) {
        if (entry.size() > Integer.MAX_VALUE - 8 || entry.compressedSize() > Integer.MAX_VALUE - 8) {
            throw error(path, "deflated entry \"" + entry.name() + "\" is over 2 GiB");
        }
        byte[] out = new byte[(int) entry.size()];
        Inflater inflater = new Inflater(true);
        try {
            inflater.setInput(raw.toArray(ValueLayout.JAVA_BYTE));
            int n = 0;
            while (n < out.length && !inflater.finished()) {
                int got = inflater.inflate(out, n, out.length - n);
                if (got == 0 && (inflater.needsInput() || inflater.needsDictionary())) {
                    break;
                }
                n += got;
            }
            if (n != out.length) {
                throw error(path, "deflated entry \"" + entry.name() + "\" inflates to " + n + " bytes, not " + out.length);
            }
        } catch (DataFormatException e) {
            throw error(path, "deflated entry \"" + entry.name() + "\" is corrupt: " + e.getMessage());
        } finally {
            inflater.end();
        }
        MemorySegment copy = arena.allocate(Math.max(out.length, 1), 64).asSlice(0, out.length);
        MemorySegment.copy(MemorySegment.ofArray(out), 0, copy, 0, out.length);
        return copy;
    }

    private static int u16(MemorySegment m, long at) {
        return Short.toUnsignedInt(m.get(U16, at));
    }

    private static long u32(MemorySegment m, long at) {
        return Integer.toUnsignedLong(m.get(U32, at));
    }

    private static FormatException error(Path path, String problem) {
        return new FormatException(path + ": " + problem);
    }
}
