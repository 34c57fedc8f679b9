package dev.atelier.engine.embed;

/**
 * Bilinear resizing with antialiasing exactly as Pillow's {@code Image.resize(size, BILINEAR)}
 * computes it for 8-bit images (Pillow 9 libImaging/Resample.c), which is what torchvision's
 * {@code Resize} runs on PIL images: a separable convolution with a triangle filter whose
 * support grows with the downscale factor, fixed-point coefficients with 22 fraction bits, the
 * horizontal pass first and an 8-bit intermediate image between the passes.
 */
public final class PilResize {
    /** Resample.c: PRECISION_BITS = 32 - 8 - 2. */
    private static final int PRECISION_BITS = 22;

    private PilResize() {}

    /** image resized to width x height; a dimension that does not change is not resampled. */
    public static RgbImage resize(RgbImage image, int width, int height) {
        RgbImage out = image;
        if (width != image.width()) {
            out = horizontal(out, width);
        }
        if (height != image.height()) {
            out = vertical(out, height);
        }
        return out;
    }

    /** Per output pixel: the first input index, the number of taps, and the taps (stride ksize). */
    private record Coefficients(int ksize, int[] first, int[] count, int[] taps) {}

    /** Resample.c precompute_coeffs + normalize_coeffs_8bpc for the bilinear filter (support 1). */
    private static Coefficients coefficients(int inSize, int outSize) {
        double scale = (double) inSize / outSize;
        double filterScale = Math.max(scale, 1.0);
        double support = 1.0 * filterScale;
        int ksize = (int) Math.ceil(support) * 2 + 1;
        int[] first = new int[outSize];
        int[] count = new int[outSize];
        int[] taps = new int[outSize * ksize];
        double[] k = new double[ksize];
        for (int xx = 0; xx < outSize; xx++) {
            double center = (xx + 0.5) * scale;
            double ss = 1.0 / filterScale;
            int xmin = Math.max((int) (center - support + 0.5), 0);
            int xmax = Math.min((int) (center + support + 0.5), inSize) - xmin;
            double ww = 0.0;
            for (int x = 0; x < xmax; x++) {
                double w = triangle((x + xmin - center + 0.5) * ss);
                k[x] = w;
                ww += w;
            }
            for (int x = 0; x < xmax; x++) {
                double w = ww != 0.0 ? k[x] / ww : k[x];
                taps[xx * ksize + x] = w < 0 ? (int) (-0.5 + w * (1 << PRECISION_BITS))
                        : (int) (0.5 + w * (1 << PRECISION_BITS));
            }
            first[xx] = xmin;
            count[xx] = xmax;
        }
        return new Coefficients(ksize, first, count, taps);
    }

    /** Resample.c bilinear_filter. */
    private static double triangle(double x) {
        x = Math.abs(x);
        return x < 1.0 ? 1.0 - x : 0.0;
    }

    /** Resample.c clip8: the fixed-point sum back to 0..255. */
    private static byte clip8(int sum) {
        int v = sum >> PRECISION_BITS;
        return (byte) (v < 0 ? 0 : Math.min(v, 255));
    }

    private static RgbImage horizontal(RgbImage in, int outWidth) {
        Coefficients c = coefficients(in.width(), outWidth);
        byte[] src = in.rgb();
        byte[] dst = new byte[outWidth * in.height() * 3];
        int half = 1 << (PRECISION_BITS - 1);
        for (int y = 0; y < in.height(); y++) {
            int rowIn = y * in.width() * 3;
            int rowOut = y * outWidth * 3;
            for (int xx = 0; xx < outWidth; xx++) {
                int r = half, g = half, b = half;
                int base = xx * c.ksize();
                int p = rowIn + c.first()[xx] * 3;
                for (int x = 0; x < c.count()[xx]; x++, p += 3) {
                    int k = c.taps()[base + x];
                    r += (src[p] & 0xff) * k;
                    g += (src[p + 1] & 0xff) * k;
                    b += (src[p + 2] & 0xff) * k;
                }
                dst[rowOut + xx * 3] = clip8(r);
                dst[rowOut + xx * 3 + 1] = clip8(g);
                dst[rowOut + xx * 3 + 2] = clip8(b);
            }
        }
        return new RgbImage(outWidth, in.height(), dst);
    }

    private static RgbImage vertical(RgbImage in, int outHeight) {
        Coefficients c = coefficients(in.height(), outHeight);
        byte[] src = in.rgb();
        int rowBytes = in.width() * 3;
        byte[] dst = new byte[outHeight * rowBytes];
        int half = 1 << (PRECISION_BITS - 1);
        int[] acc = new int[rowBytes];
        for (int yy = 0; yy < outHeight; yy++) {
            java.util.Arrays.fill(acc, half);
            int base = yy * c.ksize();
            for (int y = 0; y < c.count()[yy]; y++) {
                int k = c.taps()[base + y];
                int row = (c.first()[yy] + y) * rowBytes;
                for (int i = 0; i < rowBytes; i++) {
                    acc[i] += (src[row + i] & 0xff) * k;
                }
            }
            int rowOut = yy * rowBytes;
            for (int i = 0; i < rowBytes; i++) {
                dst[rowOut + i] = clip8(acc[i]);
            }
        }
        return new RgbImage(in.width(), outHeight, dst);
    }
}
