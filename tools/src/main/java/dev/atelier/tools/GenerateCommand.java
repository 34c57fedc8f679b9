package dev.atelier.tools;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.sd.GenerationRequest;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.sd.Pipeline;
import dev.atelier.engine.text.LongPromptMode;
import dev.atelier.engine.sd.Sampler;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code atelier generate}: text to image with an SD1.x checkpoint. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Text to image with a Stable Diffusion 1.x checkpoint; PNGs carry A1111's parameters chunk.",
        footer = {"", "Examples:",
            "  atelier generate --model rv6.safetensors --prompt \"a denim jacket\" --sampler dpmpp_sde_karras --out out/",
            "  atelier generate --model tiny.safetensors --config tiny.yaml --prompt jacket --steps 8 --width 256 --height 256 --out out/",
            "  atelier generate --model rv6.safetensors --vae vae-ft-mse.safetensors --precision bf16 --seed 42 --batch 2 --out out/"})
final class GenerateCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "Checkpoint: a single .safetensors or .ckpt in the LDM layout, or a diffusers folder.")
    Path model;

    @Option(names = "--tokenizer", description = "Folder with vocab.json and merges.txt (default: MODEL_DIR/tokenizer).")
    Path tokenizer;

    @Option(names = "--prompt", required = true, description = "The prompt.")
    String prompt;

    @Option(names = "--negative", defaultValue = "", description = "The negative prompt.")
    String negative;

    @Option(names = "--sampler", defaultValue = "euler_a", description = "One of: ${COMPLETION-CANDIDATES}.",
            converter = SamplerConverter.class, completionCandidates = SamplerNames.class)
    Sampler sampler;

    @Option(names = "--steps", defaultValue = "20", description = "Sampling steps (default ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--cfg", defaultValue = "7", description = "CFG scale (default ${DEFAULT-VALUE}).")
    double cfg;

    @Option(names = "--seed", defaultValue = "-1", description = "Seed; -1 picks one at random.")
    long seed;

    @Option(names = "--width", defaultValue = "512", description = "Multiple of 8 (default ${DEFAULT-VALUE}).")
    int width;

    @Option(names = "--height", defaultValue = "512", description = "Multiple of 8 (default ${DEFAULT-VALUE}).")
    int height;

    @Option(names = "--batch", defaultValue = "1", description = "Images per batch (default ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--batch-count", defaultValue = "1", description = "Batches, seeds continuing (default ${DEFAULT-VALUE}).")
    int batchCount;

    @Option(names = "--clip-skip", defaultValue = "1", description = "1 = last text layer (default ${DEFAULT-VALUE}).")
    int clipSkip;

    @Option(names = "--eta", defaultValue = "-1", description = "Noise multiplier; -1 = the sampler's default.")
    double eta;

    @Option(names = "--init-latents", description = "Safetensors with tensor `noise` [batch, 4, H/8, W/8] to start from.")
    Path initLatents;

    @Option(names = "--save-latents", description = "Write the final latents (tensor `latents`) to this safetensors file.")
    Path saveLatents;

    @Option(names = "--config", paramLabel = "YAML", description = "LDM-style YAML with the architecture (v1-inference.yaml keys); default: SD1.5 sizes, the rest read from the weights.")
    Path config;

    @Option(names = "--vae", paramLabel = "PATH", description = "A separate VAE file (with or without the first_stage_model. prefix).")
    Path vae;

    @Option(names = "--precision", defaultValue = "fp32", paramLabel = "fp32|bf16", description = "Compute precision (default ${DEFAULT-VALUE}).")
    String precision;

    @Option(names = "--long-prompt", defaultValue = "chunked", paramLabel = "chunked|truncate", description = "Prompts over 75 tokens: encode in chunks of 75 (A1111) or truncate (default ${DEFAULT-VALUE}).")
    String longPrompt;

    @Option(names = "--out", required = true, description = "Output folder.")
    Path out;

    @Override
    public Integer call() {
        long s = seed >= 0 ? seed : (long) (Math.random() * 4294967295L);
        GenerationRequest request = new GenerationRequest(prompt, negative, sampler, steps, cfg, s, width, height, batch,
                batchCount, clipSkip, eta, initLatents);
        DType dtype = switch (precision.toLowerCase(java.util.Locale.ROOT)) {
            case "fp32" -> DType.F32;
            case "bf16" -> DType.BF16;
            default -> throw new InvalidInputException("unknown --precision \"" + precision + "\" (known: fp32, bf16)");
        };
        Pipeline.Options options = new Pipeline.Options(java.util.Optional.ofNullable(tokenizer),
                java.util.Optional.ofNullable(config), java.util.Optional.ofNullable(vae), dtype,
                LongPromptMode.fromName(longPrompt));
        try (Pipeline pipeline = Pipeline.load(model, options)) {
            Pipeline.Generation g = pipeline.generate(request, new ProgressBar("generate", "step", false));
            if (saveLatents != null) {
                g.saveLatents(saveLatents);
            }
            for (Path p : g.writePngs(out, "atelier")) {
                System.out.println(p);
            }
        }
        return 0;
    }

    static final class SamplerNames implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return java.util.Arrays.stream(Sampler.values()).map(Sampler::id).iterator();
        }
    }

    static final class SamplerConverter implements picocli.CommandLine.ITypeConverter<Sampler> {
        @Override
        public Sampler convert(String value) {
            return Sampler.fromName(value);
        }
    }
}
