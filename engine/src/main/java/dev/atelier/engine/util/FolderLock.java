package dev.atelier.engine.util;

import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.HashMap;
import java.util.Map;

/**
 * An exclusive lock on a folder that one writer at a time may change (a catalog index, the
 * demo's work folder): an operating-system lock ({@link FileChannel#tryLock}) on the file
 * {@value #FILE} in the folder, held across processes, and a table of the folders this JVM
 * holds, across threads. The thread that holds a folder may take it again (an {@code index add}
 * that holds its index saves it).
 *
 * <p>The lock file names its holder (process id, what it does, since when) for the message of
 * a writer that finds the folder busy, and is deleted when the lock is released, so a folder is
 * left as it was. A writer that locked a lock file deleted in the meantime sees (by the file's
 * inode) that the path no longer names its file and starts again; the lock of a killed process
 * is released by the operating system. Nothing in this JVM may open the lock file besides this
 * class: closing any descriptor of a file releases all of the process's POSIX locks on it.
 */
public final class FolderLock implements AutoCloseable {
    public static final String FILE = ".atelier.lock";
    private static final Duration POLL = Duration.ofMillis(100);
    /** Folders this JVM holds, by real path; guarded by itself. */
    private static final Map<Path, Holder> HELD = new HashMap<>();

    private final Path dir;
    private final Holder holder;
    private boolean closed;

    private FolderLock(Path dir, Holder holder) {
        this.dir = dir;
        this.holder = holder;
    }

    private static final class Holder {
        final Thread owner;
        final String description;
        final FileChannel channel;
        final boolean createdFolder;
        int count = 1;

        Holder(Thread owner, String description, FileChannel channel, boolean createdFolder) {
            this.owner = owner;
            this.description = description;
            this.channel = channel;
            this.createdFolder = createdFolder;
        }
    }

    /**
     * Locks dir (created if missing) for what the caller does ({@code "atelier index add"}),
     * waiting up to patience for another holder to finish; a folder still held then is an
     * {@link InvalidInputException} that names the folder and its holder.
     */
    public static FolderLock acquire(Path dir, String what, Duration patience) {
        long deadline = System.nanoTime() + patience.toNanos();
        while (true) {
            String busy;
            try {
                Object taken = tryAcquire(dir, what);
                if (taken instanceof FolderLock lock) {
                    return lock;
                }
                busy = (String) taken;
            } catch (IOException e) {
                throw new AtelierException.FormatException(AtelierException.IO, dir + ": cannot lock the folder: " + e.getMessage());
            }
            if (System.nanoTime() >= deadline) {
                throw new InvalidInputException(dir + " is in use by " + busy + "; try again when it has finished");
            }
            try {
                Thread.sleep(POLL);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AtelierException.CancelledException(dir + ": interrupted while waiting for " + busy);
            }
        }
    }

    /** The lock, or a description of its holder. */
    private static Object tryAcquire(Path dir, String what) throws IOException {
        boolean created = !Files.isDirectory(dir);
        Files.createDirectories(dir);
        Path real = dir.toRealPath();
        synchronized (HELD) {
            Holder h = HELD.get(real);
            if (h != null) {
                if (h.owner == Thread.currentThread()) {
                    h.count++;
                    return new FolderLock(real, h);
                }
                return "another task of this process (" + h.description + ")";
            }
            String description = "pid " + ProcessHandle.current().pid() + ", " + what + ", since "
                    + Instant.now().truncatedTo(ChronoUnit.SECONDS);
            Path file = real.resolve(FILE);
            for (int attempt = 0; attempt < 100; attempt++) {
                Files.createDirectories(real); // a releasing holder may have removed the folder it made
                // The file's identity before and after the open: the channel's own file when they agree
                // (the lock file is only ever created and deleted, never renamed into place).
                Object before = fileKey(file);
                FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                        StandardOpenOption.WRITE);
                boolean keep = false;
                try {
                    Object opened = fileKey(file);
                    if (before == null || !before.equals(opened)) {
                        continue; // just created, or replaced meanwhile: look again
                    }
                    FileLock lock;
                    try {
                        lock = channel.tryLock();
                    } catch (OverlappingFileLockException e) {
                        lock = null; // locked through another path to the same file in this JVM
                    }
                    if (lock == null) {
                        return holderOf(channel);
                    }
                    // The previous holder deletes the file before releasing it: then the path names
                    // another file (or none), and this lock protects nothing.
                    if (!opened.equals(fileKey(file))) {
                        continue;
                    }
                    channel.truncate(0);
                    ByteBuffer b = ByteBuffer.wrap((description + "\n").getBytes(StandardCharsets.UTF_8));
                    while (b.hasRemaining()) {
                        channel.write(b, b.position());
                    }
                    Holder holder = new Holder(Thread.currentThread(), description, channel, created);
                    HELD.put(real, holder);
                    keep = true;
                    return new FolderLock(real, holder);
                } finally {
                    if (!keep) {
                        channel.close();
                    }
                }
            }
            throw new IOException(file + ": the lock file keeps changing");
        }
    }

    /**
     * The identity (device and inode) of the file path names, or null; read by stat, without
     * opening the file: closing any descriptor of a file releases all of this process's locks on it.
     */
    private static Object fileKey(Path path) throws IOException {
        try {
            return Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    private static String holderOf(FileChannel channel) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(512);
        channel.read(b, 0);
        String text = new String(b.array(), 0, b.position(), StandardCharsets.UTF_8).strip();
        return "another Atelier process" + (text.isEmpty() ? "" : " (" + text + ")");
    }

    /** The locked folder (its real path). */
    public Path dir() {
        return dir;
    }

    /** Releases this hold; the last one deletes the lock file (and the folder, if it made it and it is empty). */
    @Override
    public void close() {
        synchronized (HELD) {
            if (closed) {
                return;
            }
            closed = true;
            if (--holder.count > 0) {
                return;
            }
            HELD.remove(dir);
            try {
                // Deleted while still locked: a writer waiting on this file sees that it is gone.
                Files.deleteIfExists(dir.resolve(FILE));
                if (holder.createdFolder) {
                    try {
                        Files.delete(dir);
                    } catch (IOException notEmpty) {
                        // the folder holds what the holder wrote
                    }
                }
            } catch (IOException ignored) {
                // a lock file left behind is taken over by the next writer
            } finally {
                try {
                    holder.channel.close();
                } catch (IOException ignored) {
                    // closing releases the lock whatever it reports
                }
            }
        }
    }
}
