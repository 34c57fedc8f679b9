package dev.atelier.engine.sd;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.Settings;
import java.lang.management.ManagementFactory;
import java.util.Locale;
import java.util.OptionalLong;

/**
 * The memory a generation's activations take, estimated from the networks' sizes before any of
 * it is allocated, and the limit it is checked against. Attention runs in blocks of queries
 * (never an L x L score matrix), so every term grows linearly with the pixels:
 * <ul>
 *   <li>UNet, per row of its batch (two rows per guided image): the skip connections it keeps,
 *       (numResBlocks + 1) tensors per level of that level's channels and tokens, plus the widest
 *       block at full latent resolution (the GEGLU feed-forward's 8C projection, its 4C product,
 *       the block's input and output: 16C per token);</li>
 *   <li>VAE decoder, per image of the decoded batch: at full resolution the nearest-upsampled
 *       tensor of the level above and the convolution's output (2 x its channels), and the last
 *       level's ResBlock input and output (2 x its own channels).</li>
 * </ul>
 * Element size is the compute dtype's (BF16 runs keep activations in BF16). The estimate is a
 * floor of what a run needs: libtorch's workspaces and the allocator's cache come on top.
 *
 * <p>The limit is the machine's physical memory (the container's limit where there is one), or
 * the system property {@code atelier.activation-memory-limit} in bytes.
 */
public final class ActivationMemory {
    /** System property overriding the limit, in bytes ({@link Settings}). */
    public static final String LIMIT_PROPERTY = Settings.ACTIVATION_MEMORY_LIMIT;

    private ActivationMemory() {}

    /**
     * Bytes of activations for batch images of width x height generated together (one UNet batch,
     * one VAE decode).
     *
     * @param guided classifier-free guidance (cfg != 1): the UNet runs two rows per image
     */
    public static long estimate(UNetParams unet, VaeParams vae, int width, int height, int batch, boolean guided) {
        double latentTokens = (double) (width / 8) * (height / 8);
        int[] mult = unet.channelMult();
        double skips = 0;
        for (int l = 0; l < mult.length; l++) {
            skips += (unet.numResBlocks() + 1.0) * unet.modelChannels() * mult[l] * latentTokens / Math.pow(4, l);
        }
        double widest = 16.0 * unet.modelChannels() * (mult.length == 0 ? 1 : mult[0]) * latentTokens;
        double unetRow = (skips + widest) * unet.computeDtype().byteSize();

        int[] vaeMult = vae.chMult();
        double c0 = (double) vae.ch() * (vaeMult.length == 0 ? 1 : vaeMult[0]);
        double c1 = (double) vae.ch() * (vaeMult.length < 2 ? 1 : vaeMult[1]);
        double vaeImage = (2 * c1 + 2 * c0) * width * height * vae.computeDtype().byteSize();

        double total = batch * ((guided ? 2 : 1) * unetRow + vaeImage);
        return total >= Long.MAX_VALUE ? Long.MAX_VALUE : (long) total;
    }

    /** The most activation memory a generation may take: see the class comment. */
    public static long limit() {
        return limitSetting().orElseGet(
                () -> ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getTotalMemorySize());
    }

    private static OptionalLong limitSetting() {
        try {
            return Settings.fromSystemProperties().activationMemoryLimit();
        } catch (NumberFormatException e) {
            throw new InvalidInputException(LIMIT_PROPERTY + " must be a number of bytes: " + e.getMessage());
        }
    }

    /**
     * Refuses, before anything is allocated, batches of width x height images whose activations
     * would not fit {@link #limit()}; the message names the estimate, the limit and the largest
     * batch size that fits.
     */
    public static void check(UNetParams unet, VaeParams vae, int width, int height, int batch, boolean guided) {
        long need = estimate(unet, vae, width, height, batch, guided);
        long limit = limit();
        if (need <= limit) {
            return;
        }
        long one = Math.max(1, estimate(unet, vae, width, height, 1, guided));
        long fits = limit / one;
        throw new InvalidInputException(String.format(Locale.ROOT,
                "%dx%d x batch size %d needs about %s of activation memory, more than the limit of %s (%s); %s",
                width, height, batch, size(need), size(limit),
                limitSetting().isPresent() ? "system property " + LIMIT_PROPERTY : "this machine's memory",
                fits >= 1 ? "at most batch size " + fits + " fits at this size (--batch-count makes more images)"
                        : "even one image of this size does not fit: make it smaller"));
    }

    /** Bytes as "1.5 GiB", "300.0 MiB". */
    static String size(long bytes) {
        if (bytes >= 1L << 30) {
            return String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
        }
        return String.format(Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
    }
}
