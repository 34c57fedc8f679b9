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
 *
 * <p>Every offset and size is checked against the file before it is used, with arithmetic that
 * cannot overflow. An entry whose local header disagrees with the central directory (another
 * name, method or size), two entries of one name, and a deflated entry whose data does not
 * inflate to exactly its declared size are refused: readers that trust different copies of a
 * size see different files. Bytes inflated or copied into memory are bounded per archive by
 * {@link #materializeLimit(long)}, so overlapping entries or a zip bomb cannot take gigabytes.
 */
final class ZipArchive {
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int EOCD = 0x06054b50, ZIP64_LOCATOR = 0x07064b50, ZIP64_EOCD = 0x06064b50,
            CENTRAL = 0x02014b50, LOCAL = 0x04034b50;
    private static final int STORED = 0, DEFLATED = 8;
    private static final long SATURATED = 0xFFFFFFFFL;

    /**
     * The most deflate can expand: a 258-byte match costs at least 2 bits, about 1032:1 (zlib's
     * technical notes); a declared size past this is a lie told before anything is inflated.
     */
    static final long DEFLATE_MAX_RATIO = 1032;

    /** One entry, as the central directory describes it; dataOffset is where its bytes start. */
    record Entry(String name, int method, long compressedSize, long size, long localHeaderOffset, int crc,
            long dataOffset) {}

    private final Path path;
    private final MemorySegment file;
    private final Arena arena;
    private final Map<String, Entry> entries;
    private final long materializeLimit;
    private long materialized; // bytes inflated or copied into the arena so far

    /**
     * The most bytes one archive may inflate or copy into memory: 4x the file, at least 256 MiB.
     * Stored entries of a well-formed archive hold at most the file's size together, and weights
     * deflate by well under 2x; more than this needs entries that overlap or data that is mostly
     * one repeated byte, the two ways of a zip bomb.
     */
    static long materializeLimit(long fileSize) {
        return Math.max(256L << 20, fileSize > Long.MAX_VALUE / 4 ? Long.MAX_VALUE : 4 * fileSize);
    }

    private ZipArchive(Path path, MemorySegment file, Arena arena, Map<String, Entry> entries) {
        this.path = path;
        this.file = file;
        this.arena = arena;
        this.entries = entries;
        this.materializeLimit = materializeLimit(file.byteSize());
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
        if (cdOffset < 0 || cdSize < 0 || cdOffset > size || cdSize > size - cdOffset) {
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
            int crc = file.get(U32, at + 16);
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
            Entry entry = checkLocal(path, file, name, method, compressed, uncompressed, local, crc);
            if (entries.put(name, entry) != null) {
                throw error(path, "two entries are named \"" + name + "\": the archive is ambiguous");
            }
            at += 46 + nameLength + extraLength + commentLength;
        }
        return new ZipArchive(path, file, arena, Collections.unmodifiableMap(entries));
    }

    /**
     * The entry the central directory describes, once its local header agrees: the signature, the
     * name, the method and (unless flag bit 3 defers them to a data descriptor, or ZIP64 saturates
     * them) both sizes; its data must lie inside the file.
     */
    private static Entry checkLocal(Path path, MemorySegment file, String name, int method, long compressed,
            long uncompressed, long local, int crc) {
        long size = file.byteSize();
        String what = "entry \"" + name + "\"";
        if (compressed < 0 || uncompressed < 0) {
            throw error(path, what + " has a size over 2^63 bytes");
        }
        if (local < 0 || local > size - 30 || file.get(U32, local) != LOCAL) {
            throw error(path, what + " has no local header at offset " + Long.toUnsignedString(local));
        }
        int flags = u16(file, local + 6);
        int localMethod = u16(file, local + 8);
        long localCompressed = u32(file, local + 18);
        long localSize = u32(file, local + 22);
        int nameLength = u16(file, local + 26);
        int extraLength = u16(file, local + 28);
        long start = local + 30 + nameLength + extraLength;
        if (start > size) {
            throw error(path, what + ": its local header runs past the end of the file: truncated");
        }
        String localName = new String(file.asSlice(local + 30, nameLength).toArray(ValueLayout.JAVA_BYTE),
                StandardCharsets.UTF_8);
        if (!localName.equals(name)) {
            throw error(path, what + ": its local header names \"" + localName + "\" (entries that share data)");
        }
        if (localMethod != method) {
            throw error(path, what + ": the local header says compression method " + localMethod
                    + ", the central directory " + method);
        }
        if ((flags & 8) == 0) {
            if (localCompressed != 0 && localCompressed != SATURATED && localCompressed != compressed) {
                throw error(path, what + ": the local header says " + localCompressed + " compressed bytes, the central "
                        + "directory " + compressed);
            }
            if (localSize != 0 && localSize != SATURATED && localSize != uncompressed) {
                throw error(path, what + ": the local header says " + localSize + " bytes, the central directory "
                        + uncompressed);
            }
        }
        if (compressed > size - start) {
            throw error(path, what + " (" + compressed + " bytes at " + start + ") runs past the end of the file ("
                    + size + " bytes): truncated");
        }
        if (method == STORED && uncompressed != compressed) {
            throw error(path, "stored " + what + " has different sizes (" + compressed + " and " + uncompressed + ")");
        }
        if (method == DEFLATED && uncompressed > compressed * DEFLATE_MAX_RATIO + 1024) {
            throw error(path, "deflated " + what + " claims " + uncompressed + " bytes from " + compressed
                    + " compressed, more than deflate can produce");
        }
        return new Entry(name, method, compressed, uncompressed, local, crc, start);
    }

    Map<String, Entry> entries() {
        return entries;
    }

    /**
     * The entry's bytes: a slice of the mapping when stored, inflated into the arena when deflated.
     * Inflated entries are checked against their CRC-32; stored ones are not (that would read
     * every weight at open), unless checked is set (for the small entries read as a whole).
     */
    MemorySegment data(Entry entry, boolean checked) {
        MemorySegment raw = file.asSlice(entry.dataOffset(), entry.compressedSize());
        return switch (entry.method()) {
            case STORED -> {
                if (checked) {
                    checkCrc(entry, raw);
                }
                yield raw;
            }
            case DEFLATED -> inflate(entry, raw);
            default -> throw error(path, "entry \"" + entry.name() + "\" uses zip compression method "
                    + entry.method() + " (only stored and deflated are read)");
        };
    }

    MemorySegment data(Entry entry) {
        return data(entry, false);
    }

    /**
     * Memory of size bytes in the arena, counted against the archive's limit; what names the
     * purpose (an inflated entry, a realigned storage) in the error.
     */
    MemorySegment allocate(long bytes, String what) {
        if (bytes > materializeLimit - materialized) {
            throw error(path, what + " would bring the bytes inflated or copied from this archive past "
                    + (materializeLimit >> 20) + " MiB (4x the file): entries overlap, or a zip bomb");
        }
        materialized += bytes;
        return arena.allocate(Math.max(bytes, 1), 64).asSlice(0, bytes);
    }

    private void checkCrc(Entry entry, MemorySegment bytes) {
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        crc.update(bytes.asByteBuffer());
        if ((int) crc.getValue() != entry.crc()) {
            throw error(path, "entry \"" + entry.name() + "\" fails its CRC-32 check: corrupt");
        }
    }

    private MemorySegment inflate(Entry entry, MemorySegment raw) {
        String what = "deflated entry \"" + entry.name() + "\"";
        if (entry.size() > Integer.MAX_VALUE - 8 || entry.compressedSize() > Integer.MAX_VALUE - 8) {
            throw error(path, what + " is over 2 GiB");
        }
        MemorySegment copy = allocate(entry.size(), "inflating " + what + " (" + entry.size() + " bytes)");
        java.nio.ByteBuffer out = copy.asByteBuffer();
        Inflater inflater = new Inflater(true);
        try {
            inflater.setInput(raw.asByteBuffer());
            while (out.hasRemaining() && !inflater.finished()) {
                if (inflater.inflate(out) == 0 && (inflater.needsInput() || inflater.needsDictionary())) {
                    break;
                }
            }
            if (out.hasRemaining()) {
                throw error(path, what + " inflates to " + out.position() + " bytes, not " + entry.size());
            }
            // Exactly the declared bytes came out; the stream must end there, not hold more.
            if (!inflater.finished() && (inflater.inflate(new byte[1]) > 0 || !inflater.finished())) {
                throw error(path, what + " inflates to more than its declared " + entry.size() + " bytes");
            }
        } catch (DataFormatException e) {
            throw error(path, what + " is corrupt: " + e.getMessage());
        } finally {
            inflater.end();
        }
        checkCrc(entry, copy);
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
