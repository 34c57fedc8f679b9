package dev.atelier.engine.sd;

import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.util.AtomicFiles;
import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataNode;
import javax.imageio.stream.ImageOutputStream;

/**
 * PNG files carrying text chunks, written atomically. A1111 keeps its generation settings in a
 * chunk with keyword {@code parameters}: tEXt when the text is Latin-1, iTXt (UTF-8) otherwise,
 * as PIL's PngInfo.add_text chooses.
 */
public final class PngFiles {
    private static final String FORMAT = "javax_imageio_png_1.0";

    private PngFiles() {}

    /** The PNG bytes of interleaved RGB [h, w, 3] with one text chunk keyword = text. */
    public static byte[] encode(byte[] rgb, int width, int height, String keyword, String text) {
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_3BYTE_BGR);
        byte[] bgr = ((DataBufferByte) image.getRaster().getDataBuffer()).getData();
        for (int i = 0; i < width * height; i++) {
            bgr[3 * i] = rgb[3 * i + 2];
            bgr[3 * i + 1] = rgb[3 * i + 1];
            bgr[3 * i + 2] = rgb[3 * i];
        }
        ImageWriter writer = ImageIO.getImageWritersByFormatName("png").next();
        try {
            ImageWriteParam param = writer.getDefaultWriteParam();
            IIOMetadata metadata = writer.getDefaultImageMetadata(ImageTypeSpecifier.createFromRenderedImage(image), param);
            if (text != null) {
                metadata.mergeTree(FORMAT, textTree(keyword, text));
            }
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (ImageOutputStream out = ImageIO.createImageOutputStream(bytes)) {
                writer.setOutput(out);
                writer.write(null, new IIOImage(image, null, metadata), param);
            }
            return bytes.toByteArray();
        } catch (IOException e) {
            throw new AtelierException(AtelierException.INTERNAL, "PNG encoding failed: " + e.getMessage(), e);
        } finally {
            writer.dispose();
        }
    }

    /** Writes {@link #encode} to target atomically: no partial file on failure. */
    public static void write(Path target, byte[] rgb, int width, int height, String keyword, String text) {
        AtomicFiles.write(target, encode(rgb, width, height, keyword, text));
    }

    private static IIOMetadataNode textTree(String keyword, String text) {
        IIOMetadataNode root = new IIOMetadataNode(FORMAT);
        if (StandardCharsets.ISO_8859_1.newEncoder().canEncode(text)) {
            IIOMetadataNode chunk = new IIOMetadataNode("tEXt");
            IIOMetadataNode entry = new IIOMetadataNode("tEXtEntry");
            entry.setAttribute("keyword", keyword);
            entry.setAttribute("value", text);
            chunk.appendChild(entry);
            root.appendChild(chunk);
        } else {
            IIOMetadataNode chunk = new IIOMetadataNode("iTXt");
            IIOMetadataNode entry = new IIOMetadataNode("iTXtEntry");
            entry.setAttribute("keyword", keyword);
            entry.setAttribute("compressionFlag", "FALSE");
            entry.setAttribute("compressionMethod", "0");
            entry.setAttribute("languageTag", "");
            entry.setAttribute("translatedKeyword", "");
            entry.setAttribute("text", text);
            chunk.appendChild(entry);
            root.appendChild(chunk);
        }
        return root;
    }
}
