package dev.atelier.engine.train;

import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The base-model hashes kohya writes into a LoRA: {@code ss_new_sd_model_hash}, the SHA-256 of
 * the whole file, and {@code ss_sd_model_hash}, A1111's legacy short hash (sd-scripts
 * {@code train_util.model_hash}: the first 8 hex digits of the SHA-256 of the 64 KiB at offset
 * 1 MiB). A diffusers folder has neither ("unknown").
 */
record ModelHash(String sha256, String legacy) {
    static ModelHash of(Path model) {
        if (!Files.isRegularFile(model)) {
            return new ModelHash("unknown", "unknown");
        }
        try {
            MessageDigest full = MessageDigest.getInstance("SHA-256");
            try (InputStream in = Files.newInputStream(model)) {
                byte[] buf = new byte[1 << 20];
                for (int n; (n = in.read(buf)) > 0; ) {
                    full.update(buf, 0, n);
                }
            }
            MessageDigest part = MessageDigest.getInstance("SHA-256");
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
            return new ModelHash(HexFormat.of().formatHex(full.digest()),
                    HexFormat.of().formatHex(part.digest()).substring(0, 8));
        } catch (IOException e) {
            throw new InvalidInputException(AtelierException.IO, "cannot read " + model + " to hash it: " + e.getMessage());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
