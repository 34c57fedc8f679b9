package dev.atelier.tools.serve;

/**
 * What one request may ask for; a request past a limit is refused with 400 (413 for the body).
 *
 * @param maxBodyBytes request body size
 * @param maxPixels    width x height of one image
 * @param maxSteps     sampling steps
 * @param maxImages    batch_size x n_iter
 * @param maxLoraBytes an uploaded LoRA file
 */
public record ServerLimits(long maxBodyBytes, long maxPixels, int maxSteps, int maxImages, long maxLoraBytes) {
    public ServerLimits {
        if (maxBodyBytes < 1 || maxPixels < 64 || maxSteps < 1 || maxImages < 1 || maxLoraBytes < 1) {
            throw new IllegalArgumentException("server limits must be positive (pixels >= 64): " + maxBodyBytes + ", "
                    + maxPixels + ", " + maxSteps + ", " + maxImages + ", " + maxLoraBytes);
        }
    }

    /**
     * 1 MiB bodies, 2048x2048 pixels, 150 steps (A1111's slider), 64 images, 256 MiB LoRA uploads
     * (an SD1.5 LoRA of rank 128 on every kohya target is about 150 MB).
     */
    public static ServerLimits defaults() {
        return new ServerLimits(1 << 20, 2048L * 2048, 150, 64, 256L << 20);
    }
}
