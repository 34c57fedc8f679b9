package dev.atelier.engine.train;

/**
 * Separable resampling of planar float images: area averaging when shrinking (each output
 * pixel is the coverage-weighted mean of the source pixels under it, like OpenCV's INTER_AREA,
 * which kohya's sd-scripts uses for training images) and bilinear with half-pixel centres when
 * enlarging.
 */
final class ImageResize {
    private ImageResize() {}

    /** Per output index: the first source index and the weights of the following ones. */
    private record Taps(int[] start, float[][] weights) {}

    private static Taps taps(int src, int dst) {
        int[] start = new int[dst];
        float[][] weights = new float[dst][];
        double scale = (double) src / dst;
        for (int o = 0; o < dst; o++) {
            if (dst <= src) {
                double lo = o * scale, hi = (o + 1) * scale;
                int first = (int) Math.floor(lo), last = Math.min(src - 1, (int) Math.ceil(hi) - 1);
                float[] w = new float[last - first + 1];
                for (int i = first; i <= last; i++) {
                    w[i - first] = (float) ((Math.min(hi, i + 1) - Math.max(lo, i)) / scale);
                }
                start[o] = first;
                weights[o] = w;
            } else {
                double pos = Math.max(0, Math.min(src - 1, (o + 0.5) * scale - 0.5));
                int first = Math.min((int) Math.floor(pos), Math.max(0, src - 2));
                float frac = (float) (pos - first);
                start[o] = first;
                weights[o] = src == 1 ? new float[] {1f} : new float[] {1f - frac, frac};
            }
        }
        return new Taps(start, weights);
    }

    /** Resizes a [channels, sh, sw] image to [channels, dh, dw]. */
    static float[] resize(float[] src, int channels, int sh, int sw, int dh, int dw) {
        Taps tx = taps(sw, dw), ty = taps(sh, dh);
        float[] mid = new float[channels * sh * dw];
        for (int c = 0; c < channels; c++) {
            for (int y = 0; y < sh; y++) {
                int row = (c * sh + y) * sw;
                for (int x = 0; x < dw; x++) {
                    float s = 0;
                    float[] w = tx.weights[x];
                    for (int k = 0; k < w.length; k++) {
                        s += w[k] * src[row + tx.start[x] + k];
                    }
                    mid[(c * sh + y) * dw + x] = s;
                }
            }
        }
        float[] out = new float[channels * dh * dw];
        for (int c = 0; c < channels; c++) {
            for (int y = 0; y < dh; y++) {
                float[] w = ty.weights[y];
                for (int x = 0; x < dw; x++) {
                    float s = 0;
                    for (int k = 0; k < w.length; k++) {
                        s += w[k] * mid[(c * sh + ty.start[y] + k) * dw + x];
                    }
                    out[(c * dh + y) * dw + x] = s;
                }
            }
        }
        return out;
    }
}
