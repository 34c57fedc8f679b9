package dev.atelier.tools;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.sd.GenerationRequest;
import dev.atelier.engine.sd.LdmConfig;
import dev.atelier.engine.sd.Sampler;
import dev.atelier.engine.train.LoraTrainer;
import dev.atelier.engine.train.LoraTraining;
import dev.atelier.engine.train.LoraTrainingConfig;
import dev.atelier.engine.train.LrSchedule;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code atelier train-lora}: fine-tune a kohya-format LoRA on a folder of photos. */
@Command(name = "train-lora", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Train a LoRA on a folder of photos (JPEG/PNG) and write it as a kohya-format "
                + ".safetensors that A1111, ComfyUI and kohya read. Captions come from same-name .txt files "
                + "or --caption.",
        footer = {"", "Examples:",
                "  atelier train-lora --model sd15.safetensors --images photos/ \\",
                "      --out jacket.safetensors --caption \"photo of sks jacket\" \\",
                "      --repeats 10 --max-steps 1000",
                "  atelier train-lora --model sd15.safetensors --images photos/ \\",
                "      --out jacket.safetensors --rank 16 --alpha 8 --conv-rank 8 \\",
                "      --conv-alpha 4 --train-text-encoder --buckets --flip --schedule cosine \\",
                "      --warmup-steps 50 --min-snr-gamma 5 --precision bf16 --save-every 200",
                "  atelier train-lora ... --resume jacket-step000200.state.safetensors",
                "  atelier train-lora --model sd15.safetensors --images photos/ \\",
                "      --out jacket.safetensors --save-config jacket.yaml",
                "  atelier train-lora --config-file jacket.yaml --max-steps 2000 --json"})
final class TrainLoraCommand extends CliCommand {
    @Mixin
    CheckpointOptions checkpoint;
    @Option(names = "--images", required = true, paramLabel = "DIR", description = "Folder of training photos.")
    Path images;
    @Option(names = "--out", required = true, paramLabel = "FILE.safetensors", description = "The LoRA file to write (.safetensors).")
    Path out;
    @Option(names = "--caption", paramLabel = "TEXT", description = "Caption of photos without a .txt file, e.g. \"photo of sks jacket\".")
    String caption;
    @Option(names = "--repeats", defaultValue = "1", description = "Times each photo counts per epoch (default ${DEFAULT-VALUE}).")
    int repeats;
    @Option(names = "--resolution", defaultValue = "512", description = "Training resolution, a multiple of 64 (default ${DEFAULT-VALUE}).")
    int resolution;
    @Option(names = "--buckets", description = "Aspect-ratio buckets of about resolution² pixels instead of square crops.")
    boolean buckets;
    @Option(names = "--flip", description = "Random horizontal flips.")
    boolean flip;
    @Option(names = "--rank", defaultValue = "4", description = "LoRA rank (default ${DEFAULT-VALUE}).")
    int rank;
    @Option(names = "--alpha", defaultValue = "1", description = "LoRA alpha; scale = alpha / rank (default ${DEFAULT-VALUE}).")
    float alpha;
    @Option(names = "--conv-rank", defaultValue = "0", description = "Rank of the res blocks' 3x3 convs (LoCon); 0 = off.")
    int convRank;
    @Option(names = "--conv-alpha", defaultValue = "1", description = "Alpha of the conv LoRA (default ${DEFAULT-VALUE}).")
    float convAlpha;
    @Option(names = "--train-text-encoder", description = "Also train the text encoder's attention and MLP layers.")
    boolean trainTextEncoder;
    @Option(names = {"--lr", "--unet-lr"}, defaultValue = "1e-4", description = "UNet learning rate (default ${DEFAULT-VALUE}).")
    float unetLr;
    @Option(names = "--text-lr", defaultValue = "5e-5", description = "Text-encoder learning rate (default ${DEFAULT-VALUE}).")
    float textLr;
    @Option(names = "--schedule", defaultValue = "constant", description = "constant, cosine or linear (default ${DEFAULT-VALUE}).")
    String schedule;
    @Option(names = "--warmup-steps", defaultValue = "0", description = "Linear learning-rate warm-up updates.")
    int warmup;
    @Option(names = "--epochs", defaultValue = "1", description = "Passes over the photos (when --max-steps is 0).")
    int epochs;
    @Option(names = "--max-steps", defaultValue = "0", description = "Optimizer updates; 0 = from --epochs.")
    int maxSteps;
    @Option(names = "--batch-size", defaultValue = "1", paramLabel = "N", description = "Photos per forward pass (default ${DEFAULT-VALUE}).")
    int batchSize;
    @Option(names = "--grad-accum", defaultValue = "1", description = "Forward passes per update (default ${DEFAULT-VALUE}).")
    int gradAccum;
    @Option(names = "--beta1", defaultValue = "0.9", description = "AdamW beta1.")
    float beta1;
    @Option(names = "--beta2", defaultValue = "0.999", description = "AdamW beta2.")
    float beta2;
    @Option(names = "--weight-decay", defaultValue = "0.01", description = "AdamW weight decay.")
    float weightDecay;
    @Option(names = "--min-snr-gamma", defaultValue = "0", description = "Min-SNR-gamma loss weighting (e.g. 5); 0 = off.")
    float minSnrGamma;
    @Option(names = "--noise-offset", defaultValue = "0", description = "Offset-noise strength (e.g. 0.05); 0 = off.")
    float noiseOffset;
    @Option(names = "--clip-skip", defaultValue = "1", description = "Text encoder layer from the end (default ${DEFAULT-VALUE}).")
    int clipSkip;
    @Option(names = "--seed", defaultValue = "0", paramLabel = "N", description = "Seed of initialisation, order, noise and timesteps.")
    long seed;
    @Option(names = "--gradient-checkpointing", description = "Recompute transformer blocks in backward (less memory, slower).")
    boolean gradientCheckpointing;
    @Option(names = "--unfused-kernels", description = "Adapted Linears on plain libtorch ops instead of Atelier's fused kernels.")
    boolean unfusedKernels;
    @Mixin
    PrecisionOption precision;
    @Mixin
    DeviceOption device;
    /** The old spelling of --precision bf16, kept working. */
    @Option(names = "--bf16", hidden = true)
    boolean bf16;
    @Option(names = "--save-every", defaultValue = "0", description = "Checkpoint (LoRA + optimizer state) every N updates.")
    int saveEvery;
    @Option(names = "--sample-every", defaultValue = "0", paramLabel = "N",
            description = "Render --sample-prompt every N updates with the LoRA so far: NAME-sample-stepNNNNNN.png beside --out.")
    int sampleEvery;
    @Option(names = "--sample-prompt", paramLabel = "TEXT", description = "Prompt of the samples. Default: --caption.")
    String samplePrompt;
    @Option(names = "--sample-negative", defaultValue = "", paramLabel = "TEXT", description = "Negative prompt of the samples.")
    String sampleNegative;
    @Option(names = "--sample-sampler", defaultValue = "euler_a", paramLabel = "NAME",
            description = "Sampler of the samples. Default: ${DEFAULT-VALUE}.")
    String sampleSampler;
    @Option(names = "--sample-steps", defaultValue = "20", paramLabel = "N", description = "Steps of the samples. Default: ${DEFAULT-VALUE}.")
    int sampleSteps;
    @Option(names = "--sample-cfg", defaultValue = "7", paramLabel = "F", description = "CFG scale of the samples. Default: ${DEFAULT-VALUE}.")
    double sampleCfg;
    @Option(names = "--resume", paramLabel = "FILE", description = "Continue from a NAME-stepNNNNNN.state.safetensors checkpoint.")
    Path resume;

    @Mixin
    ConfigOptions configFile;

    @Override
    public Integer call() {
        if (bf16) {
            // Folded before --save-config writes the settings, so the file repeats the run as --precision bf16.
            precision.precision = "bf16";
            bf16 = false;
        }
        if (precision.dtype() == DType.F16) {
            throw new InvalidInputException("--precision fp16: training runs in fp32 or bf16 (the adapters and their "
                    + "optimiser state stay F32 either way)");
        }
        boolean useBf16 = precision.dtype() == DType.BF16;
        LrSchedule lrSchedule = LrSchedule.fromName(schedule);
        configFile.start(spec);
        LoraTrainingConfig.Builder b = LoraTrainingConfig.builder(checkpoint.model, images, out)
                .ldm((checkpoint.config != null ? LdmConfig.load(checkpoint.config) : LdmConfig.sd15()).withDevice(device.device()))
                .caption(caption).repeats(repeats).resolution(resolution).buckets(buckets).flip(flip)
                .rank(rank).alpha(alpha).convRank(convRank).convAlpha(convAlpha).trainTextEncoder(trainTextEncoder)
                .unetLr(unetLr).textLr(textLr).schedule(lrSchedule).warmupSteps(warmup)
                .epochs(epochs).maxSteps(maxSteps).batchSize(batchSize).gradAccum(gradAccum)
                .step(new LoraTrainer.StepOptions(seed, beta1, beta2, 1e-8f, weightDecay, minSnrGamma, noiseOffset,
                        clipSkip, gradientCheckpointing, !unfusedKernels))
                .bf16(useBf16).saveEvery(saveEvery).resume(resume).sampleEvery(sampleEvery)
                .access(checkpoint.fileAccess.access());
        if (sampleEvery > 0) {
            String prompt = samplePrompt != null ? samplePrompt : caption;
            if (prompt == null) {
                throw new InvalidInputException("--sample-every needs --sample-prompt (or --caption)");
            }
            // The same seed at every sample, so they differ only by the training between them.
            b.sample(GenerationRequest.of(prompt, sampleNegative, seed).withSampler(Sampler.fromName(sampleSampler), sampleSteps)
                    .withCfg(sampleCfg).withSize(resolution, resolution).withClipSkip(clipSkip));
        }
        if (checkpoint.tokenizer != null) {
            b.tokenizer(checkpoint.tokenizer);
        }
        TrainingProgress progress = new TrainingProgress();
        LoraTraining.Result r = LoraTraining.run(b.build(), progress);
        Float last = r.losses().isEmpty() ? null : r.losses().get(r.losses().size() - 1);
        if (json()) {
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("out", r.output().toString());
            result.put("steps", r.steps());
            result.put("final_loss", last);
            result.put("losses", r.losses());
            result.put("checkpoints", progress.checkpoints().stream().map(Path::toString).toList());
            result.put("samples", progress.samples().stream().map(Path::toString).toList());
            printJson(result);
        } else {
            out().printf(Locale.ROOT, "wrote %s (%d steps, final loss %.4f)%n", r.output(), r.steps(),
                    last == null ? Float.NaN : last);
        }
        return 0;
    }
}
