package dev.atelier.tools.batch;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.util.RelativeNames;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The finished requests of a batch output folder, {@code manifest.jsonl}: one line per request,
 * {@code {"id": ..., "files": [...], "seeds": [...]}}, appended when the request's PNGs are
 * written. Each line goes out in one write followed by fsync, so a crash loses at most the line
 * being written; opening the manifest cuts such an unfinished last line (no newline) away, so the
 * next line never joins it. The last line of an id counts.
 */
public final class Manifest implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Manifest.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A finished request: its PNGs' names in the folder and their seeds. */
    public record Entry(String id, List<String> files, List<Long> seeds) {}

    private final Path file;
    private final Map<String, Entry> entries;
    private final FileChannel channel;

    private Manifest(Path file, Map<String, Entry> entries, FileChannel channel) {
        this.file = file;
        this.entries = entries;
        this.channel = channel;
    }

    /** Opens (or creates) dir/manifest.jsonl for appending, after reading what it records. */
    public static Manifest open(Path dir) {
        Path file = dir.resolve("manifest.jsonl");
        try {
            Files.createDirectories(dir);
            FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE);
            try {
                byte[] bytes = Files.readAllBytes(file);
                int end = bytes.length;
                while (end > 0 && bytes[end - 1] != '\n') {
                    end--;
                }
                if (end < bytes.length) {
                    LOG.warn("{}: dropping an unfinished last line (an interrupted run); its request runs again", file);
                    channel.truncate(end);
                    channel.force(true);
                }
                Map<String, Entry> entries = parse(file, new String(bytes, 0, end, StandardCharsets.UTF_8));
                channel.position(end);
                return new Manifest(file, entries, channel);
            } catch (RuntimeException | IOException e) {
                channel.close();
                throw e;
            }
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": " + e.getMessage(), e);
        }
    }

    private static Map<String, Entry> parse(Path file, String text) {
        Map<String, Entry> entries = new HashMap<>();
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            if (lines[i].isBlank()) {
                continue;
            }
            JsonNode n;
            try {
                n = JSON.readTree(lines[i]);
            } catch (JsonProcessingException e) {
                n = null;
            }
            if (n == null || !n.path("id").isTextual() || !n.path("files").isArray() || !n.path("seeds").isArray()) {
                throw new InvalidInputException(file + ":" + (i + 1) + ": not a manifest line (id, files, seeds); "
                        + "remove it to run its request again");
            }
            List<String> files = new ArrayList<>();
            List<Long> seeds = new ArrayList<>();
            for (JsonNode f : n.get("files")) {
                // Names of PNGs in the output folder: one that leaves it would make a request count as done.
                if (!f.isTextual() || !RelativeNames.staysInside(f.asText())) {
                    throw new InvalidInputException(file + ":" + (i + 1) + ": file " + f + " is not a name inside "
                            + file.getParent() + "; remove the line to run its request again");
                }
                files.add(f.asText());
            }
            n.get("seeds").forEach(s -> seeds.add(s.asLong()));
            String id = n.get("id").asText();
            entries.put(id, new Entry(id, List.copyOf(files), List.copyOf(seeds)));
        }
        return entries;
    }

    /** The last entry recorded for id, or null. */
    public Entry get(String id) {
        return entries.get(id);
    }

    /** Records a finished request: one line, in one write, on disk before this returns. */
    public synchronized void append(Entry e) {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("id", e.id());
        line.put("files", e.files());
        line.put("seeds", e.seeds());
        try {
            ByteBuffer b = ByteBuffer.wrap((JSON.writeValueAsString(line) + "\n").getBytes(StandardCharsets.UTF_8));
            while (b.hasRemaining()) {
                channel.write(b);
            }
            channel.force(false);
        } catch (IOException ex) {
            throw new UncheckedIOException(file + ": " + ex.getMessage(), ex);
        }
        entries.put(e.id(), e);
    }

    public Path file() {
        return file;
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": " + e.getMessage(), e);
        }
    }
}
