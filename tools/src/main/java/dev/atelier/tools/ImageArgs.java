package dev.atelier.tools;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/** Expands image arguments: files as given, folders to their image files (sorted, recursive). */
final class ImageArgs {
    private ImageArgs() {}

    static boolean isImage(Path p) {
        String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return n.endsWith(".png") || n.endsWith(".jpg") || n.endsWith(".jpeg") || n.endsWith(".webp")
                || n.endsWith(".bmp") || n.endsWith(".gif");
    }

    static List<Path> expand(List<Path> args) {
        List<Path> out = new ArrayList<>();
        for (Path a : args) {
            if (Files.isDirectory(a)) {
                try (Stream<Path> s = Files.walk(a)) {
                    s.filter(Files::isRegularFile).filter(ImageArgs::isImage).sorted().forEach(out::add);
                } catch (IOException e) {
                    throw new UncheckedIOException(a + ": cannot list: " + e.getMessage(), e);
                }
            } else if (Files.isRegularFile(a)) {
                out.add(a);
            } else {
                throw new InvalidInputException(a + ": no such file or folder");
            }
        }
        if (out.isEmpty()) {
            throw new InvalidInputException("no images found in " + args);
        }
        return out;
    }
}
