package dev.atelier.tools;

import dev.atelier.engine.train.TrainingListener;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** train-lora's listener: a progress bar with loss and learning rate; checkpoints logged and kept. */
final class TrainingProgress implements TrainingListener {
    private static final Logger LOG = LoggerFactory.getLogger(TrainingProgress.class);
    private ProgressBar bar;
    private final List<Path> checkpoints = new ArrayList<>();
    private final List<Path> samples = new ArrayList<>();

    @Override
    public void onStep(Step s) {
        if (bar == null) {
            // A resumed run starts past step 1; only this run's steps count for the rate.
            bar = new ProgressBar("train", "step").startingAt(s.step() - 1);
        }
        bar.update(s.step(), s.total(), String.format(Locale.ROOT, "loss %.4f  lr %.2e", s.loss(), s.unetLr()));
    }

    @Override
    public void onCheckpoint(long step, Path lora, Path state) {
        if (bar != null) {
            bar.breakLine();
        }
        checkpoints.add(lora);
        LOG.info("checkpoint at step {}: {} (resume with --resume {})", step, lora, state);
    }

    @Override
    public void onSampleImage(long step, Path png) {
        if (bar != null) {
            bar.breakLine();
        }
        samples.add(png);
        LOG.info("sample at step {}: {}", step, png);
    }

    List<Path> checkpoints() {
        return List.copyOf(checkpoints);
    }

    List<Path> samples() {
        return List.copyOf(samples);
    }
}
