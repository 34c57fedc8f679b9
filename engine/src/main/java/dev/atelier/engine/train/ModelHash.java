package dev.atelier.engine.train;

import dev.atelier.engine.names.DiffusersCheckpoint;
import dev.atelier.engine.util.Sha256;
import java.util.List;
import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;

/**
 * The base-model hashes kohya writes into a LoRA: {@code ss_new_sd_model_hash}, the SHA-256 of
 * the whole file, and {@code ss_sd_model_hash}, A1111's legacy short hash (sd-scripts
 * {@code train_util.model_hash}: the first 8 hex digits of the SHA-256 of the 64 KiB at offset
 * 1 MiB), both of the file {@link DiffusersCheckpoint#hashedFile} names (a diffusers folder's
 * UNet weights); "unknown" where there is no such file.
 */
record ModelHash(String sha256, String legacy) {
    static ModelHash of(Path checkpoint) {
        Path model = DiffusersCheckpoint.hashedFile(checkpoint);
        if (!Files.isRegularFile(model)) {
            return new ModelHash("unknown", "unknown");
        }
        try {
            String full = Sha256.hexOfFiles(List.of(model));
            MessageDigest part = Sha256.newDigest();
            try (FileChannel ch = FileChannel.open(model)) {
                ByteBuffer b = ByteBuffer.allocate(0x10000);
                long pos = 0x100000;
                while (b.hasRemaining() && pos < ch.size()) {
                    int n = ch.read(b, pos);
                    if (n <= 0) {
                        break;
                    }
                    pos += n;
                }
                b.flip();
                part.update(b);
            }
            return new ModelHash(full, HexFormat.of().formatHex(part.digest()).substring(0, 8));
        } catch (IOException e) {
            throw new InvalidInputException(AtelierException.IO, "cannot read " + model + " to hash it: " + e.getMessage());
        }
    }
}
