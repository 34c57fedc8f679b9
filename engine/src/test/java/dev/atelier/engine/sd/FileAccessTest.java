package dev.atelier.engine.sd;

import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.FileAccess;
import dev.atelier.engine.core.Progress;
import dev.atelier.engine.testing.Fixtures;
import dev.atelier.engine.text.LongPromptMode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A checkpoint read into memory ({@link FileAccess#READ}, {@code --no-mmap}) generates exactly
 * what the mapped one does, and keeps doing so after its file is overwritten in place, which
 * with a mapping can end the JVM (SIGBUS).
 */
class FileAccessTest {
    private static final Path ROOT = Fixtures.sd15Tiny();
    private static final GenerationRequest REQUEST = GenerationRequest.of("a denim jacket", "blurry", 11)
            .withSampler(Sampler.EULER, 3).withSize(64, 64);

    @TempDir
    Path tmp;

    private static Pipeline.Options options(FileAccess access) {
        return new Pipeline.Options(Optional.of(ROOT.resolve("model/tokenizer")), Optional.of(ROOT.resolve("model/model.yaml")),
                Optional.empty(), DType.F32, LongPromptMode.CHUNKED, OpKernel.AUTO, ScheduleSource.CONFIG)
                .withFileAccess(access);
    }

    @Test
    void aCheckpointReadIntoMemoryGeneratesTheSameImageAndOutlivesItsFileBeingOverwritten() throws IOException {
        Path model = Files.copy(ROOT.resolve("model/model.safetensors"), tmp.resolve("model.safetensors"));
        Generation mapped;
        try (Pipeline p = Pipeline.load(model, options(FileAccess.MAP))) {
            mapped = p.generate(REQUEST, List.of(), Progress.NONE);
        }
        try (Pipeline p = Pipeline.load(model, options(FileAccess.READ))) {
            Generation read = p.generate(REQUEST, List.of(), Progress.NONE);
            assertArrayEquals(mapped.latents(), read.latents());
            assertArrayEquals(mapped.images().getFirst().rgb(), read.images().getFirst().rgb());

            // Another program overwrites the checkpoint in place: zeros, then a shorter file.
            long size = Files.size(model);
            try (FileChannel ch = FileChannel.open(model, StandardOpenOption.WRITE)) {
                ByteBuffer zeros = ByteBuffer.allocate(1 << 16);
                for (long at = 0; at < size; at += zeros.capacity()) {
                    zeros.clear();
                    ch.write(zeros, at);
                }
                ch.truncate(size / 3);
            }
            Generation after = p.generate(REQUEST, List.of(), Progress.NONE);
            assertArrayEquals(mapped.latents(), after.latents(), "the copy in memory is untouched");
        }
    }

    @Test
    void anEmptyFileReadIntoMemoryIsRefusedAsAMappedOneIs() throws IOException {
        Path empty = Files.createFile(tmp.resolve("empty.safetensors"));
        assertThrows(dev.atelier.engine.core.AtelierException.FormatException.class,
                () -> dev.atelier.engine.safetensors.SafeTensorsFile.open(empty, FileAccess.READ).close());
    }
}
