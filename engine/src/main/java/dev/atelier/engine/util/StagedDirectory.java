package dev.atelier.engine.util;

import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.AtelierException;
import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * A folder written beside its target ({@code .NAME.partial}) and renamed into place when complete,
 * so that the target holds either nothing or a whole data set. A partial folder left by an
 * interrupted run is removed by the next one.
 */
public final class StagedDirectory implements AutoCloseable {
    private final Path target;
    private final Path staging;
    private final boolean replace;
    private boolean committed;

    private StagedDirectory(Path target, Path staging, boolean replace) {
        this.target = target;
        this.staging = staging;
        this.replace = replace;
    }

    /** Starts writing `target`; refuses a target that exists and is not empty unless `replace`. */
    public static StagedDirectory begin(Path target, boolean replace) {
        Path absolute = target.toAbsolutePath().normalize();
        if (absolute.getParent() == null) {
            throw new InvalidInputException(target + ": cannot write a data set at the file system root");
        }
        checkTarget(absolute, replace);
        Path staging = absolute.resolveSibling("." + absolute.getFileName() + ".partial");
        try {
            Files.createDirectories(absolute.getParent());
            deleteTree(staging);
            Files.createDirectory(staging);
        } catch (IOException e) {
            throw io(staging, e);
        }
        return new StagedDirectory(absolute, staging, replace);
    }

    private static void checkTarget(Path target, boolean replace) {
        if (Files.exists(target) && !Files.isDirectory(target)) {
            throw new InvalidInputException(target + " is a file; the output must be a folder");
        }
        if (!replace && !isEmptyOrMissing(target)) {
            throw new InvalidInputException(target + " already exists and is not empty; remove it or choose another output folder");
        }
    }

    /** The folder to write into. */
    public Path path() {
        return staging;
    }

    /** Renames the staging folder to the target (replacing an empty target, or any with `replace`). */
    public void commit() {
        checkTarget(target, replace);
        Path old = target.resolveSibling("." + target.getFileName() + ".old");
        try {
            deleteTree(old);
            if (Files.exists(target)) {
                move(target, old);
            }
            move(staging, target);
            committed = true;
            deleteTree(old);
        } catch (IOException e) {
            throw io(target, e);
        }
    }

    @Override
    public void close() {
        if (!committed) {
            try {
                deleteTree(staging);
            } catch (IOException ignored) {
                // the next run removes it
            }
        }
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to);
        }
    }

    private static boolean isEmptyOrMissing(Path dir) {
        if (!Files.isDirectory(dir)) {
            return true;
        }
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            return !s.iterator().hasNext();
        } catch (IOException e) {
            throw io(dir, e);
        }
    }

    public static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    public static FormatException io(Path path, IOException e) {
        return new FormatException(AtelierException.IO, path + ": cannot write: " + e.getMessage());
    }
}
