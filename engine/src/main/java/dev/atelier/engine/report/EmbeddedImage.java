package dev.atelier.engine.report;

import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.FormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;

/**
 * Turns image files into {@code data:} URIs with their bytes as they are on disk (no re-encoding,
 * so the report shows exactly the pixels the run wrote). The type comes from the file's magic
 * number, not its name. Each file is read once per report.
 */
final class EmbeddedImage {
    private final Map<Path, String> uris = new HashMap<>();

    /** The data URI of an image file; throws naming the file when it is missing or not an image. */
    String uri(Path image) {
        return uris.computeIfAbsent(image.toAbsolutePath().normalize(), EmbeddedImage::read);
    }

    private static String read(Path image) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(image);
        } catch (NoSuchFileException e) {
            throw new FormatException(AtelierException.IO, "report: image file " + image + " does not exist");
        } catch (IOException e) {
            throw new FormatException(AtelierException.IO, "report: cannot read image file " + image + ": " + e);
        }
        String type = mediaType(bytes);
        if (type == null) {
            throw new FormatException("report: " + image + " is not a PNG, JPEG, GIF or WebP image");
        }
        if (!complete(type, bytes)) {
            throw new FormatException("report: " + image + " is truncated (no end marker): an interrupted write?");
        }
        return "data:" + type + ";base64," + Base64.getEncoder().encodeToString(bytes);
    }

    /** The media type from the file signature, or null. */
    static String mediaType(byte[] b) {
        // signatures: PNG spec 5.2; JPEG SOI marker (ITU T.81 B.1.1.3); GIF89a/87a header; RIFF....WEBP
        if (starts(b, 0, 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n')) {
            return "image/png";
        }
        if (starts(b, 0, 0xff, 0xd8, 0xff)) {
            return "image/jpeg";
        }
        if (starts(b, 0, 'G', 'I', 'F', '8')) {
            return "image/gif";
        }
        if (starts(b, 0, 'R', 'I', 'F', 'F') && starts(b, 8, 'W', 'E', 'B', 'P')) {
            return "image/webp";
        }
        return null;
    }

    /**
     * Whether the file has its end marker within its last 4 KiB (some writers pad after it): a PNG
     * its IEND chunk (PNG spec 11.2.5: type "IEND", fixed CRC AE 42 60 82), a JPEG its EOI marker
     * FF D9 (ITU T.81 B.1.1.3). Browsers show a truncated file as a partial picture without
     * reporting an error, so the report refuses it here instead.
     */
    static boolean complete(String type, byte[] b) {
        int[] end = switch (type) {
            case "image/png" -> new int[] {'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
            case "image/jpeg" -> new int[] {0xff, 0xd9};
            default -> null;
        };
        if (end == null) {
            return true;
        }
        for (int i = b.length - end.length; i >= Math.max(8, b.length - 4096); i--) {
            if (starts(b, i, end)) {
                return true;
            }
        }
        return false;
    }

    private static boolean starts(byte[] b, int offset, int... signature) {
        if (b.length < offset + signature.length) {
            return false;
        }
        for (int i = 0; i < signature.length; i++) {
            if ((b[offset + i] & 0xff) != signature[i]) {
                return false;
            }
        }
        return true;
    }
}
