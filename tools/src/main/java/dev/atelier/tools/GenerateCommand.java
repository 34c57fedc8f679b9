package dev.atelier.tools;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.sd.GenerationRequest;
import dev.atelier.engine.sd.Pipeline;
import dev.atelier.engine.sd.Sampler;
import dev.atelier.engine.sd.TextEncoderParams;
import dev.atelier.engine.sd.UNetParams;
import dev.atelier.engine.sd.VaeParams;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code atelier generate}: text to image with an SD1.x checkpoint. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Text to image with a Stable Diffusion 1.x checkpoint; PNGs carry A1111's parameters chunk.",
        footer = {"", "Examples:",
            "  atelier generate --model rv6.safetensors --prompt \"a denim jacket\" --sampler dpmpp_sde_karras --out out/"})
final class GenerateCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "Single-file LDM checkpoint (.safetensors).")
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

    @Option(names = "--unet-heads", defaultValue = "8", description = "UNet attention heads until --config is supported (SD1.5: 8).")
    int unetHeads;

    @Option(names = "--text-heads", defaultValue = "12", description = "Text model heads until --config is supported (SD1.5: 12).")
    int textHeads;

    @Option(names = "--out", required = true, description = "Output folder.")
    Path out;

    @Override
    public Integer call() {
        Path tok = tokenizer != null ? tokenizer : model.toAbsolutePath().getParent().resolve("tokenizer");
        if (!Files.isDirectory(tok)) {
            throw new InvalidInputException("no tokenizer folder at " + tok + "; pass --tokenizer DIR");
        }
        long s = seed >= 0 ? seed : (long) (Math.random() * 4294967295L);
        GenerationRequest request = new GenerationRequest(prompt, negative, sampler, steps, cfg, s, width, height, batch,
                batchCount, clipSkip, eta, initLatents);
        Pipeline.Networks networks = new Pipeline.Networks(TextEncoderParams.defaults().withNumHeads(textHeads),
                UNetParams.defaults().withHeads(unetHeads, -1), VaeParams.defaults());
        try (Pipeline pipeline = Pipeline.load(model, tok, networks)) {
            Pipeline.Generation g = pipeline.generate(request, (done, total) -> {
                System.err.printf("\rstep %d/%d", done, total);
                return true;
            });
            System.err.println();
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
