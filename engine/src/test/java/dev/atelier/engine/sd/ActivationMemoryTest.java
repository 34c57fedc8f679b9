package dev.atelier.engine.sd;

import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.Device;
import org.junit.jupiter.api.Test;

/** The activation-memory estimate and limit, and the request checks that come before any work. */
class ActivationMemoryTest {
    static final UNetParams SD15_UNET = new UNetParams(DType.F32, 8, -1, 4, 4, 320, 2, 768, 1, new int[] {1, 2, 4, 4},
            new boolean[] {true, true, true, false}, OpKernel.AUTO, Device.CPU);
    static final VaeParams SD15_VAE = new VaeParams(DType.F32, 3, 3, 128, 4, 4, 2, new int[] {1, 2, 4, 4}, OpKernel.AUTO, Device.CPU);

    @Test
    void theEstimateGrowsWithPixelsAndBatchAndHalvesInBf16() {
        long one = ActivationMemory.estimate(SD15_UNET, SD15_VAE, 512, 512, 1, true);
        // SD1.5 at 512 x 512 in F32: about 1 GiB (225 MB for the two UNet rows, 805 MB for the VAE).
        assertTrue(one > 500L << 20 && one < 3L << 30, ActivationMemory.size(one));
        assertEquals(4.0, ActivationMemory.estimate(SD15_UNET, SD15_VAE, 512, 512, 4, true) / (double) one, 1e-9);
        assertEquals(4.0, ActivationMemory.estimate(SD15_UNET, SD15_VAE, 1024, 1024, 1, true) / (double) one, 1e-9);
        assertTrue(ActivationMemory.estimate(SD15_UNET, SD15_VAE, 512, 512, 1, false) < one, "unguided: one UNet row");
        long bf16 = ActivationMemory.estimate(SD15_UNET.withComputeDtype(DType.BF16),
                SD15_VAE.withComputeDtype(DType.BF16), 512, 512, 1, true);
        assertEquals(0.5, bf16 / (double) one, 1e-9);
        // A decompression-bomb-sized request does not overflow.
        assertTrue(ActivationMemory.estimate(SD15_UNET, SD15_VAE, 65536, 65536, Integer.MAX_VALUE, true) > 0);
    }

    @Test
    void aBatchAboveTheLimitIsRefusedNamingTheLimitAndWhatFits() {
        String before = System.getProperty(ActivationMemory.LIMIT_PROPERTY);
        System.setProperty(ActivationMemory.LIMIT_PROPERTY, Long.toString(4L << 30));
        try {
            assertEquals(4L << 30, ActivationMemory.limit());
            ActivationMemory.check(SD15_UNET, SD15_VAE, 512, 512, 1, true);
            InvalidInputException e = assertThrows(InvalidInputException.class,
                    () -> ActivationMemory.check(SD15_UNET, SD15_VAE, 512, 512, 64, true));
            assertTrue(e.getMessage().startsWith("512x512 x batch size 64 needs about "), e.getMessage());
            assertTrue(e.getMessage().contains("more than the limit of 4.0 GiB (system property "
                    + ActivationMemory.LIMIT_PROPERTY + ")"), e.getMessage());
            long fits = (4L << 30) / ActivationMemory.estimate(SD15_UNET, SD15_VAE, 512, 512, 1, true);
            assertTrue(e.getMessage().contains("at most batch size " + fits + " fits"), e.getMessage());
            ActivationMemory.check(SD15_UNET, SD15_VAE, 512, 512, (int) fits, true);
            e = assertThrows(InvalidInputException.class,
                    () -> ActivationMemory.check(SD15_UNET, SD15_VAE, 8192, 8192, 1, true));
            assertTrue(e.getMessage().contains("even one image of this size does not fit"), e.getMessage());
            System.setProperty(ActivationMemory.LIMIT_PROPERTY, "lots");
            assertThrows(InvalidInputException.class, ActivationMemory::limit);
        } finally {
            if (before == null) {
                System.clearProperty(ActivationMemory.LIMIT_PROPERTY);
            } else {
                System.setProperty(ActivationMemory.LIMIT_PROPERTY, before);
            }
        }
        assertTrue(ActivationMemory.limit() > 1L << 30, "the machine's memory");
    }

    @Test
    void countsWhoseProductOrLastSeedOverflowAreInputErrors() {
        GenerationRequest r = GenerationRequest.of("jacket", "", 1);
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> r.withBatch(65536, 65536));
        assertTrue(e.getMessage().contains("batch size x batch count must be at most 2147483647 images, got 65536 x 65536"),
                e.getMessage());
        assertEquals(Integer.MAX_VALUE, r.withBatch(1, Integer.MAX_VALUE).images());
        e = assertThrows(InvalidInputException.class, () -> r.withSeed(Long.MAX_VALUE).withBatch(2, 1));
        assertTrue(e.getMessage().contains("seed 9223372036854775807 + 1"), e.getMessage());
        assertEquals(2, r.withSeed(Long.MAX_VALUE - 1).withBatch(2, 1).images());
    }
}
