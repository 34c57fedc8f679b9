package dev.atelier.engine.sd;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.util.AtomicFiles;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * A folder that generated images go into as A1111 names them: {@code NNNNN-SEED.png}, NNNNN
 * (five digits at least) counting on from the highest number a file in the folder starts with,
 * so a run never overwrites the images of an earlier one. Each image is published whole by
 * {@link AtomicFiles#writeNew}, which never replaces a file: two processes writing into one
 * folder at once take different numbers.
 */
public final class ImageFolder {
    private final Path dir;
    private long next; // guarded by this

    private ImageFolder(Path dir, long next) {
        this.dir = dir;
        this.next = next;
    }

    /**
     * Checks dir before any work: a folder (created if missing) that this process may write
     * into, else an {@link InvalidInputException} naming it. Removes the temporary files of
     * writes that a killed run left behind.
     */
    public static ImageFolder open(Path dir) {
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new InvalidInputException(dir + " is a file; images go into a folder");
        }
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new InvalidInputException(dir + ": cannot create the output folder: " + e);
        }
        if (!Files.isWritable(dir)) {
            throw new InvalidInputException(dir + ": the output folder is not writable");
        }
        AtomicFiles.removeStale(dir);
        return new ImageFolder(dir, nextNumber(dir));
    }

    /** The folder. */
    public Path dir() {
        return dir;
    }

    /** Writes image as the next NNNNN-SEED.png, with its parameters chunk, and returns its path. */
    public synchronized Path write(GeneratedImage image) {
        byte[] png = PngFiles.encode(image.rgb(), image.width(), image.height(), "parameters", image.parameters());
        Path written = AtomicFiles.writeNew(dir, next, n -> fileName(n, image.seed()), channel -> {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(png);
            while (b.hasRemaining()) {
                channel.write(b);
            }
        });
        next = number(written.getFileName().toString()) + 1;
        return written;
    }

    static String fileName(long number, long seed) {
        return String.format(Locale.ROOT, "%05d-%d.png", number, seed);
    }

    /** One more than the highest number a file name in dir starts with (A1111: the part before the first '-'). */
    static long nextNumber(Path dir) {
        long highest = -1;
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path p : files) {
                highest = Math.max(highest, number(p.getFileName().toString()));
            }
        } catch (IOException e) {
            throw new InvalidInputException(dir + ": cannot list the output folder: " + e);
        }
        return highest + 1;
    }

    /** The number a file name starts with ("00012-42.png", "00012.png"), or -1. */
    static long number(String name) {
        int dot = name.lastIndexOf('.');
        String stem = dot < 0 ? name : name.substring(0, dot);
        int dash = stem.indexOf('-');
        String digits = dash < 0 ? stem : stem.substring(0, dash);
        if (digits.isEmpty() || digits.length() > 18 || !digits.chars().allMatch(c -> c >= '0' && c <= '9')) {
            return -1;
        }
        return Long.parseLong(digits);
    }
}
