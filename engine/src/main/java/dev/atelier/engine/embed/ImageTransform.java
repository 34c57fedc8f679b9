package dev.atelier.engine.embed;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.util.Optional;

/**
 * torchvision's ImageNet evaluation transforms on an RGB image: {@code Resize(resizeSize)}
 * (bilinear with antialiasing, as PIL does it), {@code CenterCrop(cropSize)}, {@code ToTensor()},
 * {@code Normalize(mean, std)}; the result is a CHW float tensor.
 *
 * @param resizeSize the short side after resizing (256 for IMAGENET1K_V1, 232 for V2)
 * @param cropSize   the side of the square centre crop (224)
 * @param mean       per-channel mean subtracted after scaling to 0..1
 * @param std        per-channel standard deviation divided by
 */
public record ImageTransform(int resizeSize, int cropSize, float[] mean, float[] std) {
    /** torchvision transforms/_presets.py ImageClassification: ImageNet mean and std. */
    public static final float[] IMAGENET_MEAN = {0.485f, 0.456f, 0.406f};
    public static final float[] IMAGENET_STD = {0.229f, 0.224f, 0.225f};

    public ImageTransform {
        if (cropSize <= 0 || resizeSize < cropSize) {
            throw new InvalidInputException("transform: resize size " + resizeSize
                    + " must be at least the crop size " + cropSize + " (> 0)");
        }
        if (mean.length != 3 || std.length != 3) {
            throw new InvalidInputException("transform: mean and std need 3 values each");
        }
        mean = mean.clone();
        std = std.clone();
    }

    /** ImageNet transforms with a 224 crop after resizing the short side to resizeSize. */
    public static ImageTransform imagenet(int resizeSize) {
        return new ImageTransform(resizeSize, 224, IMAGENET_MEAN, IMAGENET_STD);
    }

    /** Floats per transformed image: 3 * crop * crop. */
    public int outputSize() {
        return 3 * cropSize * cropSize;
    }

    /**
     * The size {@code Resize(resizeSize)} gives a width x height image, as {width, height}
     * (torchvision 0.14 functional._compute_resized_output_size: the long side is
     * {@code int(size * long / short)}, truncated).
     */
    public int[] resizedSize(int width, int height) {
        if (width <= height) {
            return new int[] {resizeSize, (int) ((double) resizeSize * height / width)};
        }
        return new int[] {(int) ((double) resizeSize * width / height), resizeSize};
    }

    /** Transforms image (after an optional crop to box) into out[offset .. offset + outputSize()). */
    public void apply(RgbImage image, Optional<BoundingBox> box, float[] out, int offset) {
        RgbImage source = box.map(b -> image.crop(b.clampTo(image.width(), image.height()))).orElse(image);
        int[] size = resizedSize(source.width(), source.height());
        RgbImage resized = PilResize.resize(source, size[0], size[1]);
        // torchvision functional.center_crop: top = int(round((h - crop) / 2.0)); Python rounds
        // halves to even, as Math.rint does.
        int top = (int) Math.rint((resized.height() - cropSize) / 2.0);
        int left = (int) Math.rint((resized.width() - cropSize) / 2.0);
        int plane = cropSize * cropSize;
        byte[] rgb = resized.rgb();
        for (int c = 0; c < 3; c++) {
            float m = mean[c];
            float s = std[c];
            int dst = offset + c * plane;
            for (int y = 0; y < cropSize; y++) {
                int src = ((top + y) * resized.width() + left) * 3 + c;
                for (int x = 0; x < cropSize; x++, src += 3) {
                    // ToTensor: float32 division by 255; Normalize: (x - mean) / std in float32.
                    float v = (rgb[src] & 0xff) / 255f;
                    out[dst++] = (v - m) / s;
                }
            }
        }
    }

    /** Transforms image into a new array of outputSize() floats. */
    public float[] apply(RgbImage image) {
        float[] out = new float[outputSize()];
        apply(image, Optional.empty(), out, 0);
        return out;
    }
}
