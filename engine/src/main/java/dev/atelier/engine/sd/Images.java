package dev.atelier.engine.sd;

/** Conversion of VAE output to 8-bit RGB. */
public final class Images {
    private Images() {}

    /**
     * Interleaved RGB bytes [h, w, 3] of one decoded image F32 [3, h, w] in [-1, 1]:
     * floor(clamp((x + 1) / 2, 0, 1) * 255), as A1111 (processing.py: 255 * x, astype(uint8)
     * truncates) and the fixture's sample_*.png do.
     */
    public static byte[] toRgb8(float[] chw, int height, int width) {
        int plane = height * width;
        if (chw.length != 3 * plane) {
            throw new IllegalArgumentException("expected 3x" + height + "x" + width + " values, got " + chw.length);
        }
        byte[] rgb = new byte[3 * plane];
        for (int c = 0; c < 3; c++) {
            for (int i = 0; i < plane; i++) {
                float v = (chw[c * plane + i] + 1f) / 2f;
                v = Math.min(1f, Math.max(0f, v));  // NaN stays NaN, then (int) gives 0
                rgb[3 * i + c] = (byte) (int) (v * 255f);
            }
        }
        return rgb;
    }
}
