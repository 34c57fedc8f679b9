package dev.atelier.engine.train;

import java.nio.file.Path;
import java.time.Duration;

/** Receives what a LoRA training run reports. All methods run on the training thread. */
public interface TrainingListener {
    TrainingListener NONE = new TrainingListener() {};

    /**
     * One optimizer update done.
     *
     * @param step    1-based update number
     * @param total   updates of the run
     * @param loss    mean loss of the update's forward passes
     * @param unetLr  UNet learning rate used
     * @param textLr  text-encoder learning rate used
     * @param elapsed time since this run (or resume) started
     * @param eta     estimated time left
     */
    record Step(long step, long total, float loss, float unetLr, float textLr, Duration elapsed, Duration eta) {}

    default void onStep(Step step) {}

    /** A checkpoint was written: the LoRA so far and the training state to resume from. */
    default void onCheckpoint(long step, Path lora, Path state) {}

    /**
     * Every sampleEvery updates: the networks carry the adapters trained so far, so a generation
     * run with them now shows the LoRA's effect (Atelier's generation pipeline plugs in here).
     */
    default void onSample(long step, LoraTrainer trainer) {}

    /** The config's sample request was rendered after update step and written to png. */
    default void onSampleImage(long step, Path png) {}
}
