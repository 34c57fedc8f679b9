package dev.atelier.tools;

import java.nio.file.Path;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code --model}, {@code --config}, {@code --tokenizer} and {@code --no-mmap}: the Stable Diffusion checkpoint a command loads. */
final class CheckpointOptions {
    @Option(names = "--model", required = true, paramLabel = "PATH",
            description = "SD1.x checkpoint: a single .safetensors or .ckpt in the LDM layout, or a diffusers folder.")
    Path model;

    @Option(names = "--config", paramLabel = "YAML",
            description = "LDM-style YAML of the model (v1-inference.yaml keys); default: SD1.5's settings, the rest read from the weights.")
    Path config;

    @Option(names = "--tokenizer", paramLabel = "DIR", description = "Folder with CLIP vocab.json and merges.txt (default: MODEL_DIR/tokenizer).")
    Path tokenizer;

    @Mixin
    FileAccessOption fileAccess;
}
