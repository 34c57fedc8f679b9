package dev.atelier.tools;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.demo.DefaultModel;
import dev.atelier.engine.sd.Pipeline;
import dev.atelier.engine.serve.GenerationService;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The model, LoRA folder, batching and threads of the commands that run a {@link GenerationService}
 * ({@code serve}, {@code batch}); without --model, the embedded default model with the demo's
 * LoRAs when the demo has run.
 */
final class ServedModelOptions {
    @Option(names = "--model", paramLabel = "PATH",
            description = "SD1.x checkpoint: a single .safetensors or .ckpt in the LDM layout, or a diffusers folder "
                    + "(default: the embedded default model).")
    Path model;

    @Option(names = "--config", paramLabel = "YAML", description = "LDM-style YAML of the model (default: SD1.5's settings).")
    Path config;

    @Option(names = "--tokenizer", paramLabel = "DIR", description = "Folder with CLIP vocab.json and merges.txt (default: MODEL_DIR/tokenizer).")
    Path tokenizer;

    @Option(names = "--loras", paramLabel = "DIR",
            description = "Folder of LoRA .safetensors files; <lora:NAME:W> names a file below it without the extension "
                    + "(default: the demo's work/demo with the default model).")
    Path loras;

    @Option(names = "--max-batch", defaultValue = "8", paramLabel = "N", description = "Images per UNet batch at most. Default: ${DEFAULT-VALUE}.")
    int maxBatch;

    @Option(names = "--lora-cache-mb", defaultValue = "1024", paramLabel = "MB",
            description = "LoRA file bytes kept applied while unused. Default: ${DEFAULT-VALUE}.")
    long loraCacheMb;

    @Mixin
    PrecisionOption precision;

    @Mixin
    DeviceOption device;

    @Mixin
    FileAccessOption fileAccess;

    @Mixin
    ThreadsOption threads;

    /**
     * What the options name, with the defaults filled in.
     *
     * @param loraDir the LoRA folder, or an empty temporary one when none is given (prompts then cannot name LoRAs)
     */
    /** The model to serve; trainingResolution is its native image size (LoRA training's default). */
    record Resolved(Path checkpoint, Pipeline.Options pipeline, Path loraDir, int trainingResolution) {}

    Resolved resolve() {
        if (maxBatch < 1 || loraCacheMb < 0) {
            throw new InvalidInputException("--max-batch must be >= 1 and --lora-cache-mb >= 0");
        }
        Path checkpoint = model;
        Path yaml = config, tok = tokenizer, loraDir = loras;
        int resolution = 512; // SD1.x
        if (checkpoint == null) {
            resolution = DefaultModel.IMAGE_SIZE;
            DefaultModel d = DefaultModel.locate();
            checkpoint = d.checkpoint();
            yaml = yaml == null ? d.config() : yaml;
            tok = tok == null ? d.tokenizer() : tok;
            Path demo = d.checkpoint().toAbsolutePath().getParent().getParent().getParent().resolve("work/demo");
            loraDir = loraDir == null && Files.isDirectory(demo) ? demo : loraDir;
        }
        Pipeline.Options d = Pipeline.Options.defaults();
        Pipeline.Options po = new Pipeline.Options(Optional.ofNullable(tok), Optional.ofNullable(yaml), d.vae(),
                precision.dtype(), d.longPrompt(), d.kernels(), d.schedule()).withFileAccess(fileAccess.access())
                .withDevice(device.device());
        return new Resolved(checkpoint, po, loraFolder(loraDir), resolution);
    }

    /** The service's options with at most queue requests outstanding. */
    GenerationService.Options service(int queue) {
        return new GenerationService.Options(maxBatch, queue, loraCacheMb << 20,
                GenerationService.Options.defaults().gather());
    }

    private static Path loraFolder(Path dir) {
        if (dir != null) {
            if (!Files.isDirectory(dir)) {
                throw new InvalidInputException("--loras " + dir + ": not a folder");
            }
            return dir;
        }
        try {
            Path empty = Files.createTempDirectory("atelier-loras");
            empty.toFile().deleteOnExit();
            return empty;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
