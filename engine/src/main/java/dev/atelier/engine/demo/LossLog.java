package dev.atelier.engine.demo;

import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.util.AtomicFiles;
import dev.atelier.engine.util.TextFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** A training loss curve as text: one "step loss" line per optimizer update, steps from 1. */
final class LossLog {
    private LossLog() {}

    static void write(Path file, List<Float> losses) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < losses.size(); i++) {
            sb.append(i + 1).append(' ').append(String.format(Locale.ROOT, "%.6f", losses.get(i))).append('\n');
        }
        byte[] bytes = sb.toString().getBytes(StandardCharsets.UTF_8);
        AtomicFiles.write(file, ch -> ch.write(ByteBuffer.wrap(bytes)));
    }

    static List<Float> read(Path file) {
        List<Float> out = new ArrayList<>();
        try {
            int line = 0;
            for (String s : TextFiles.readLines(file)) {
                line++;
                String[] parts = s.trim().split("\\s+");
                if (parts.length != 2) {
                    throw new FormatException(file + ":" + line + ": expected \"step loss\", got \"" + s + "\"");
                }
                out.add(Float.parseFloat(parts[1]));
            }
        } catch (IOException e) {
            throw new FormatException(file + ": cannot read the loss log: " + e.getMessage());
        } catch (NumberFormatException e) {
            throw new FormatException(file + ": a loss is not a number: " + e.getMessage());
        }
        return out;
    }
}
