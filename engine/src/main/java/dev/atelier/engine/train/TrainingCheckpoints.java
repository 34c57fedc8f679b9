package dev.atelier.engine.train;

import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.safetensors.SafeTensorsWriter;
import dev.atelier.engine.util.Sha256;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * A run's checkpoints: beside the output, NAME-step000010.safetensors (the LoRA so far, a kohya
 * file like the final one) and NAME-step000010.state.safetensors (the trainer's flat state with
 * the step and a fingerprint of the run's settings). Files are written atomically, the LoRA
 * first, so a state file always has its LoRA beside it.
 */
final class TrainingCheckpoints {
    /** Metadata keys of a training-state file. */
    static final String STATE_STEP = "atelier_step", STATE_FINGERPRINT = "atelier_fingerprint";

    private TrainingCheckpoints() {}

    /** The LoRA and state paths of step's checkpoint beside output. */
    static Path[] paths(Path output, long step) {
        String name = output.getFileName().toString();
        String stem = name.endsWith(".safetensors") ? name.substring(0, name.length() - ".safetensors".length()) : name;
        String base = String.format("%s-step%06d", stem, step);
        return new Path[] {output.resolveSibling(base + ".safetensors"), output.resolveSibling(base + ".state.safetensors")};
    }

    static String stateName(boolean text, LoraTrainer.StateKind kind) {
        return (text ? "text_encoder." : "unet.") + kind.name().toLowerCase(Locale.ROOT);
    }

    /** Writes trainer's state at step to file, with the run's fingerprint. */
    static void writeState(LoraTrainer trainer, long step, String fingerprint, Path file) {
        try (Arena arena = Arena.ofConfined()) {
            SafeTensorsWriter w = new SafeTensorsWriter();
            for (boolean text : new boolean[] {false, true}) {
                if (trainer.stateSize(text) == 0) {
                    continue;
                }
                for (LoraTrainer.StateKind kind : LoraTrainer.StateKind.values()) {
                    w.add(stateName(text, kind), trainer.state(text, kind, arena));
                }
            }
            w.metadata(STATE_STEP, Long.toString(step));
            w.metadata(STATE_FINGERPRINT, fingerprint);
            w.write(file);
        }
    }

    /** Loads a state file into trainer, refusing one of another run's settings; returns its step. */
    static long resume(LoraTrainer trainer, Path state, String fingerprint) {
        try (SafeTensorsFile f = SafeTensorsFile.open(state)) {
            String step = f.metadata().get(STATE_STEP);
            if (step == null) {
                throw new FormatException(state + ": not an Atelier training state (no " + STATE_STEP + ")");
            }
            if (!fingerprint.equals(f.metadata().get(STATE_FINGERPRINT))) {
                throw new FormatException(state + ": made by a run with other modules, photos, captions, seed or "
                        + "batching; resume needs the same settings");
            }
            for (boolean text : new boolean[] {false, true}) {
                if (trainer.stateSize(text) == 0) {
                    continue;
                }
                for (LoraTrainer.StateKind kind : LoraTrainer.StateKind.values()) {
                    String name = stateName(text, kind);
                    if (!f.contains(name)) {
                        throw new FormatException(state + ": no tensor " + name);
                    }
                    trainer.setState(text, kind, f.view(name));
                }
            }
            return Long.parseLong(step);
        }
    }

    /** What must not change between a run and its resume: modules, seed, batching, photos and captions. */
    static String fingerprint(List<LoraModule> modules, LoraTrainingConfig c, List<TrainingImages.Image> images) {
        StringBuilder s = new StringBuilder();
        for (LoraModule m : modules) {
            s.append(m.kohyaName()).append(':').append(m.rank()).append(':').append(m.alpha()).append(';');
        }
        s.append("seed=").append(c.step().seed()).append(";batch=").append(c.batchSize()).append(";accum=")
                .append(c.gradAccum()).append(";repeats=").append(c.repeats()).append(";flip=").append(c.flip())
                .append(";res=").append(c.resolution()).append(";buckets=").append(c.buckets());
        for (TrainingImages.Image img : images) {
            s.append(';').append(img.file().getFileName()).append('=').append(img.caption());
        }
        return Sha256.hex(s.toString());
    }
}
