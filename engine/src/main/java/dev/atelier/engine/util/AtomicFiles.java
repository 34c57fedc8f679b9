package dev.atelier.engine.util;

import dev.atelier.engine.core.AtelierException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.function.LongFunction;
import java.util.regex.Pattern;

/**
 * Every file Atelier writes appears by rename (or, for {@link #writeNew}, by a hard link): a
 * temporary file {@code .NAME.HEX.tmp} in the target's folder is written, forced to disk and then
 * renamed over the target, so that readers, and a process that mmaps the target, see either the
 * old file or the whole new one, never a file changing under them.
 *
 * <p>The temporary file is created like any other file (mode 0666 less the umask; not the 0600
 * of {@code Files.createTempFile}), so the result has the permissions the user expects. While it
 * is written its writer holds an exclusive lock on it: {@link #removeStale} deletes the
 * temporary files that no live writer holds, the leftovers of a killed process.
 */
public final class AtomicFiles {
    /** {@code .NAME.HEX.tmp}; also matches the decimal suffixes of {@code Files.createTempFile}. */
    private static final Pattern TEMP = Pattern.compile("\\.(.+)\\.[0-9a-f]{1,20}\\.tmp");
    private static final SecureRandom RANDOM = new SecureRandom();
    /**
     * The temporary files this JVM is writing, added before each is created. removeStale skips
     * them without opening them: closing any descriptor of a file releases all of this process's
     * locks on it (POSIX record locks), which would leave the writer's file unprotected.
     * Guarded by itself, also for removeStale's open-lock-delete.
     */
    private static final java.util.Set<Path> LIVE = new java.util.HashSet<>();
    /** Names tried by {@link #writeNew} before giving up. */
    private static final int MAX_NAMES = 1_000_000;

    private AtomicFiles() {}

    /** Writes the content of a file through a channel. */
    @FunctionalInterface
    public interface Body {
        void write(FileChannel channel) throws IOException;

        /** A body that is the bytes of source (copied by the kernel where it can). */
        static Body copyOf(java.nio.file.Path source) {
            return channel -> {
                try (FileChannel in = FileChannel.open(source)) {
                    long size = in.size();
                    for (long done = 0; done < size; ) {
                        done += in.transferTo(done, size - done, channel);
                    }
                }
            };
        }
    }

    /** Looks at a written file before it replaces its target; throws to refuse it. */
    @FunctionalInterface
    public interface Check {
        void accept(Path written);
    }

    /** Writes target through body, replacing an existing target in one rename. */
    public static void write(Path target, Body body) {
        write(target, body, written -> {});
    }

    /**
     * Writes target through body and, once check accepts the written file (read at its temporary
     * name), replaces an existing target in one rename. When body or check throws, the target is
     * untouched and the temporary file is gone.
     */
    public static void write(Path target, Body body, Check check) {
        Path absolute = target.toAbsolutePath().normalize();
        try {
            Files.createDirectories(absolute.getParent());
            try (Temp temp = Temp.create(absolute)) {
                temp.fill(body);
                check.accept(temp.path);
                try {
                    Files.move(temp.path, absolute, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(temp.path, absolute, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        } catch (IOException e) {
            throw new AtelierException.FormatException(AtelierException.IO, target + ": cannot write: " + e.getMessage());
        }
    }

    /** Writes bytes to target atomically. */
    public static void write(Path target, byte[] bytes) {
        write(target, channel -> {
            java.nio.ByteBuffer buffer = java.nio.ByteBuffer.wrap(bytes);
            while (buffer.hasRemaining()) {
                channel.write(buffer);
            }
        });
    }

    /**
     * Writes a new file in dir under the first of name(first), name(first + 1), ... that does not
     * exist, and returns it; an existing file is never replaced, also when another process picks
     * the same name at the same moment (the file is published by link(2), which fails on an
     * existing name).
     */
    public static Path writeNew(Path dir, long first, LongFunction<String> name, Body body) {
        Path folder = dir.toAbsolutePath().normalize();
        try {
            Files.createDirectories(folder);
            try (Temp temp = Temp.create(folder.resolve(name.apply(first)))) {
                temp.fill(body);
                for (long n = first; n < first + MAX_NAMES; n++) {
                    Path target = folder.resolve(name.apply(n));
                    if (Files.exists(target, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                        continue;
                    }
                    try {
                        Files.createLink(target, temp.path);
                    } catch (FileAlreadyExistsException taken) {
                        continue;
                    } catch (UnsupportedOperationException | FileSystemException noLinks) {
                        // A file system without hard links: a rename that refuses an existing target.
                        try {
                            Files.move(temp.path, target);
                        } catch (FileAlreadyExistsException taken) {
                            continue;
                        }
                    }
                        return target;
                }
                throw new IOException("no free name from " + name.apply(first) + " on");
            }
        } catch (IOException e) {
            throw new AtelierException.FormatException(AtelierException.IO,
                    folder.resolve(name.apply(first)) + ": cannot write: " + e.getMessage());
        }
    }

    /** Whether name is one of this class's temporary files. */
    public static boolean isTemporary(String name) {
        return TEMP.matcher(name).matches();
    }

    /**
     * Deletes the temporary files in dir (not in its subfolders) that no live writer holds: those
     * of a write that was killed. Returns how many it deleted; a file it cannot open or delete
     * is left alone.
     */
    public static int removeStale(Path dir) {
        int removed = 0;
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, p -> isTemporary(p.getFileName().toString()))) {
            for (Path p : files) {
                if (removeIfStale(p)) {
                    removed++;
                }
            }
        } catch (NoSuchFileException | java.nio.file.NotDirectoryException e) {
            return 0;
        } catch (IOException e) {
            // listing is best effort: leftovers stay until a later run
        }
        return removed;
    }

    private static boolean removeIfStale(Path p) {
        synchronized (LIVE) {
            if (LIVE.contains(p.toAbsolutePath().normalize())) {
                return false; // a writer in this JVM
            }
            return removeIfUnlocked(p);
        }
    }

    private static boolean removeIfUnlocked(Path p) {
        try (FileChannel channel = FileChannel.open(p, StandardOpenOption.WRITE)) {
            FileLock lock;
            try {
                lock = channel.tryLock();
            } catch (OverlappingFileLockException heldHere) {
                return false; // locked in this JVM by other means
            }
            if (lock == null) {
                return false; // a writer in another process
            }
            // Deleted under the lock: a writer that locks the file after this sees it gone (Temp.create).
            Files.deleteIfExists(p);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** A locked temporary file beside its target; its name is deleted on close. */
    private static final class Temp implements AutoCloseable {
        final Path path;
        final FileChannel channel;
        final FileLock lock;

        private Temp(Path path, FileChannel channel, FileLock lock) {
            this.path = path;
            this.channel = channel;
            this.lock = lock;
        }

        static Temp create(Path target) throws IOException {
            for (int attempt = 0; ; attempt++) {
                byte[] random = new byte[8];
                RANDOM.nextBytes(random);
                Path path = target.resolveSibling("." + target.getFileName() + "." + HexFormat.of().formatHex(random) + ".tmp");
                synchronized (LIVE) {
                    LIVE.add(path);
                }
                FileChannel channel;
                try {
                    // No file attributes: the mode is 0666 less the umask, as for any new file.
                    channel = FileChannel.open(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                } catch (IOException | RuntimeException e) {
                    forget(path);
                    if (e instanceof FileAlreadyExistsException) {
                        continue;
                    }
                    throw e;
                }
                FileLock lock = null;
                try {
                    try {
                        lock = channel.tryLock();
                    } catch (OverlappingFileLockException e) {
                        lock = null;
                    }
                    // removeStale opened and locked it first, or deleted it already: take another name.
                    if (lock != null && Files.exists(path)) {
                        return new Temp(path, channel, lock);
                    }
                } catch (IOException | RuntimeException e) {
                    channel.close();
                    Files.deleteIfExists(path);
                    forget(path);
                    throw e;
                }
                channel.close();
                forget(path);
                if (attempt >= 100) {
                    throw new IOException("cannot create a temporary file beside " + target);
                }
            }
        }

        void fill(Body body) throws IOException {
            body.write(channel);
            channel.force(true);
        }

        /** Deletes the temporary name: a failed write's file, or the second name a hard link left (gone after a rename). */
        @Override
        public void close() throws IOException {
            try {
                channel.close(); // releases the lock
            } finally {
                try {
                    Files.deleteIfExists(path);
                } catch (IOException ignored) {
                    // hidden and named after its target; removeStale deletes it later
                } finally {
                    forget(path);
                }
            }
        }
    }

    private static void forget(Path temp) {
        synchronized (LIVE) {
            LIVE.remove(temp);
        }
    }
}
