package dev.atelier.engine.util;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** SHA-256 digests, as lower-case hex unless said otherwise. */
public final class Sha256 {
    private Sha256() {}

    /** A fresh SHA-256 digest (every Java platform has one). */
    public static MessageDigest newDigest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }

    public static byte[] digest(byte[] bytes) {
        return newDigest().digest(bytes);
    }

    public static String hex(byte[] bytes) {
        return HexFormat.of().formatHex(digest(bytes));
    }

    /** The digest of the string's UTF-8 bytes. */
    public static String hex(String text) {
        return hex(text.getBytes(StandardCharsets.UTF_8));
    }

    /** The digest of the segment's bytes, read in chunks (a mapped file of any size). */
    public static String hex(MemorySegment data) {
        MessageDigest digest = newDigest();
        long chunk = 1L << 26;
        for (long at = 0; at < data.byteSize(); at += chunk) {
            digest.update(data.asSlice(at, Math.min(chunk, data.byteSize() - at)).asByteBuffer());
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    /** The digest of the files' contents, one after the other. */
    public static String hexOfFiles(Iterable<Path> files) throws IOException {
        MessageDigest digest = newDigest();
        byte[] buffer = new byte[1 << 20];
        for (Path file : files) {
            try (InputStream in = Files.newInputStream(file)) {
                for (int n; (n = in.read(buffer)) > 0; ) {
                    digest.update(buffer, 0, n);
                }
            }
        }
        return HexFormat.of().formatHex(digest.digest());
    }
}
