package dev.atelier.engine.serve;

import java.time.Duration;

/**
 * Told what a {@link StepBatcher} does, for metrics: each UNet batch it runs and how long each
 * sample waited for a place among the running samples. Called on the batcher's threads, outside
 * its lock: an implementation must be quick and must not block.
 */
public interface BatchListener {
    /**
     * A UNet batch ran.
     *
     * @param samples  the samples it held
     * @param rows     its UNet rows (two per guided sample, one otherwise)
     * @param unetTime the UNet call (LoRA selection and forward), without the wait for the UNet
     */
    void batchRun(int samples, int rows, Duration unetTime);

    /**
     * A sample started: it waited queueWait from its submission until fewer than maxBatch
     * samples were running. Not called for a sample cancelled before it started.
     */
    void sampleStarted(Duration queueWait);
}
