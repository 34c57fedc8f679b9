package dev.atelier.engine.core;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;

/**
 * How the bytes of a weights file reach memory.
 *
 * <p>{@link #MAP} (the default) maps the file: no copy, pages are read on first use and shared
 * with the page cache and other processes mapping it. As with any mmap-based engine, the file
 * must not change while it is mapped: a file overwritten in place (rather than replaced by a
 * rename, as Atelier writes its own files) can make a read of the mapping fail with SIGBUS,
 * which ends the JVM. {@link #READ} reads the whole file into memory allocated for it once: it
 * costs the file's size in memory and a read at load, and later changes to the file never reach
 * the process; for servers whose model files may be replaced while they run.
 */
public enum FileAccess {
    MAP,
    READ;

    /** Largest single read: a ByteBuffer holds at most 2 GiB. */
    private static final long CHUNK = 1L << 30;

    /**
     * The file's bytes as a read-only mapping or a copy, in arena; an empty file gives
     * {@link MemorySegment#NULL}. A file that shrinks while it is read is an IOException.
     */
    public MemorySegment contents(Path path, FileChannel channel, Arena arena) throws IOException {
        long size = channel.size();
        if (size == 0) {
            return MemorySegment.NULL;
        }
        if (this == MAP) {
            return channel.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        }
        MemorySegment copy = arena.allocate(size, 4096); // page-aligned like a mapping
        for (long at = 0; at < size; ) {
            java.nio.ByteBuffer chunk = copy.asSlice(at, Math.min(CHUNK, size - at)).asByteBuffer();
            while (chunk.hasRemaining()) {
                int n = channel.read(chunk, at + chunk.position());
                if (n < 0) {
                    throw new IOException("the file shrank to " + (at + chunk.position()) + " bytes while it was read");
                }
            }
            at += chunk.capacity();
        }
        return copy;
    }
}
