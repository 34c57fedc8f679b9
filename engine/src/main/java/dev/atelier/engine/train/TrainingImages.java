package dev.atelier.engine.train;

import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.embed.ImageDecoder;
import dev.atelier.engine.embed.RgbImage;
import dev.atelier.engine.util.TextFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The photos of a training set, decoded and preprocessed once.
 *
 * <p>Files: {@code .jpg}, {@code .jpeg}, {@code .png} and {@code .webp}, decoded as {@code embed}
 * decodes catalog images ({@link ImageDecoder}: 8-bit RGB as PIL's {@code convert("RGB")} gives,
 * transparency on white, CMYK converted as PIL converts it); a file it cannot decode (WebP, for
 * which the JDK has no reader) is an input error naming it. Captions:
 * a same-name {@code .txt} file beside the image wins; otherwise the default caption
 * ({@code --caption}); otherwise the caption is empty and a warning is logged (as kohya does).
 * An image that does not decode is an error naming the file (not skipped: a set of ten photos
 * with one silently missing trains something else than the user thinks). An empty folder is an
 * error.
 *
 * <p>Preprocessing: the image is scaled to cover the target (the square resolution, or its
 * aspect bucket) and centre-cropped; shrinking averages areas, enlarging is bilinear
 * ({@link ImageResize}). Pixels become [-1, 1] RGB, as the VAE expects.
 */
public final class TrainingImages {
    private static final Logger LOG = LoggerFactory.getLogger(TrainingImages.class);
    private static final List<String> EXTENSIONS = List.of(".jpg", ".jpeg", ".png", ".webp");

    /**
     * One preprocessed photo.
     *
     * @param file    the source file
     * @param caption its caption
     * @param width   target width (pixels)
     * @param height  target height
     * @param pixels  F32 [3, height, width] in [-1, 1]
     */
    public record Image(Path file, String caption, int width, int height, float[] pixels) {
        /** The same image mirrored left-right. */
        public float[] flipped() {
            float[] out = new float[pixels.length];
            for (int c = 0; c < 3; c++) {
                for (int y = 0; y < height; y++) {
                    int row = (c * height + y) * width;
                    for (int x = 0; x < width; x++) {
                        out[row + x] = pixels[row + width - 1 - x];
                    }
                }
            }
            return out;
        }
    }

    private TrainingImages() {}

    /**
     * Loads and preprocesses every image of dir, sorted by file name.
     *
     * @param dir            the folder
     * @param resolution     target side (a multiple of 64)
     * @param buckets        aspect-ratio buckets instead of a square crop
     * @param defaultCaption caption of images without a .txt file, or empty
     */
    public static List<Image> load(Path dir, int resolution, boolean buckets, Optional<String> defaultCaption) {
        if (resolution < AspectBuckets.STEP || resolution % AspectBuckets.STEP != 0) {
            throw new InvalidInputException("resolution must be a positive multiple of 64, got " + resolution);
        }
        if (!Files.isDirectory(dir)) {
            throw new InvalidInputException("image folder " + dir + " does not exist or is not a folder");
        }
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(Files::isRegularFile).filter(TrainingImages::isImage).sorted().toList();
        } catch (IOException e) {
            throw new InvalidInputException(AtelierException.IO, "cannot list " + dir + ": " + e.getMessage());
        }
        if (files.isEmpty()) {
            throw new InvalidInputException("no training images in " + dir + " (looked for " + EXTENSIONS + ")");
        }
        AspectBuckets bucketSet = buckets ? AspectBuckets.forResolution(resolution) : null;
        List<Image> out = new ArrayList<>();
        for (Path f : files) {
            RgbImage img = decode(f);
            int tw = resolution, th = resolution;
            if (bucketSet != null) {
                AspectBuckets.Bucket b = bucketSet.select(img.width(), img.height());
                tw = b.width();
                th = b.height();
            }
            out.add(new Image(f, caption(f, defaultCaption), tw, th, coverAndCrop(img, tw, th)));
        }
        return out;
    }

    private static boolean isImage(Path p) {
        String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return EXTENSIONS.stream().anyMatch(n::endsWith);
    }

    private static RgbImage decode(Path f) {
        try {
            return ImageDecoder.decode(f);
        } catch (FormatException e) {
            throw new FormatException("training image does not decode: " + e.getMessage(), e);
        }
    }

    private static String caption(Path image, Optional<String> defaultCaption) {
        String name = image.getFileName().toString();
        Path txt = image.resolveSibling(name.substring(0, name.lastIndexOf('.')) + ".txt");
        if (Files.isRegularFile(txt)) {
            try {
                return TextFiles.readString(txt).strip();
            } catch (IOException e) {
                throw new InvalidInputException(AtelierException.IO, "cannot read caption " + txt + ": " + e.getMessage());
            }
        }
        if (defaultCaption.isPresent()) {
            return defaultCaption.get();
        }
        LOG.warn("training image {} has no caption (no {} and no --caption): training it with an empty caption",
                image, txt.getFileName());
        return "";
    }

    /** Scales img to cover tw x th, centre-crops, and returns [3, th, tw] in [-1, 1]. */
    static float[] coverAndCrop(RgbImage img, int tw, int th) {
        int w = img.width(), h = img.height();
        float[] src = new float[3 * h * w];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                src[y * w + x] = img.get(x, y, 0) / 255f;
                src[(h + y) * w + x] = img.get(x, y, 1) / 255f;
                src[(2 * h + y) * w + x] = img.get(x, y, 2) / 255f;
            }
        }
        double scale = Math.max((double) tw / w, (double) th / h);
        int rw = Math.max(tw, (int) Math.round(w * scale)), rh = Math.max(th, (int) Math.round(h * scale));
        float[] resized = (rw == w && rh == h) ? src : ImageResize.resize(src, 3, h, w, rh, rw);
        int x0 = (rw - tw) / 2, y0 = (rh - th) / 2;
        float[] out = new float[3 * th * tw];
        for (int c = 0; c < 3; c++) {
            for (int y = 0; y < th; y++) {
                for (int x = 0; x < tw; x++) {
                    out[(c * th + y) * tw + x] = resized[(c * rh + y0 + y) * rw + x0 + x] * 2f - 1f;
                }
            }
        }
        return out;
    }
}
