package dev.atelier.engine.index.es;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.util.AtomicFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.List;
import java.util.Optional;

/**
 * What a bulk build has finished, on disk, so that an interrupted build resumes where it
 * stopped: the concrete index it writes into, the catalog's size and chunk size (a resume with
 * other values starts over), and the chunks whose every document Elasticsearch acknowledged.
 * Written atomically ({@link AtomicFiles}) after every finished chunk.
 */
final class BuildCheckpoint {
    record State(@JsonProperty("format") int format, @JsonProperty("index") String index, @JsonProperty("total") long total,
            @JsonProperty("chunk_size") int chunkSize, @JsonProperty("done") List<Integer> done) {}

    private static final ObjectMapper JSON = new ObjectMapper();
    private final Path file;
    private final String index;
    private final long total;
    private final int chunkSize;
    private final BitSet done;

    BuildCheckpoint(Path file, String index, long total, int chunkSize, BitSet done) {
        this.file = file;
        this.index = index;
        this.total = total;
        this.chunkSize = chunkSize;
        this.done = done;
    }

    static Optional<State> read(Path file) {
        if (file == null || !Files.exists(file)) {
            return Optional.empty();
        }
        try {
            State s = JSON.readValue(file.toFile(), State.class);
            if (s.format() != 1 || s.index() == null || s.done() == null) {
                throw new FormatException(file + ": not an Atelier build checkpoint (format 1)");
            }
            return Optional.of(s);
        } catch (IOException e) {
            throw new FormatException(file + ": unreadable build checkpoint: " + e.getMessage(), e);
        }
    }

    String index() {
        return index;
    }

    synchronized boolean isDone(int chunk) {
        return done.get(chunk);
    }

    synchronized int doneCount() {
        return done.cardinality();
    }

    /** Marks a chunk finished and writes the file (atomically: a crash leaves the old or the new one). */
    synchronized void markDone(int chunk) {
        done.set(chunk);
        save();
    }

    synchronized void save() {
        if (file == null) {
            return;
        }
        State s = new State(1, index, total, chunkSize, done.stream().boxed().toList());
        try {
            AtomicFiles.write(file, JSON.writeValueAsBytes(s));
        } catch (IOException e) {
            throw new FormatException(file + ": cannot write build checkpoint: " + e.getMessage(), e);
        }
    }

    void delete() {
        if (file != null) {
            try {
                Files.deleteIfExists(file);
            } catch (IOException ignored) {
                // a stale checkpoint of a finished build names an index that no longer matches: harmless
            }
        }
    }

    static BitSet bits(List<Integer> done) {
        BitSet b = new BitSet();
        done.forEach(b::set);
        return b;
    }
}
