package dev.atelier.tools;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.lora.LoraRequest;
import dev.atelier.engine.sd.Generation;
import dev.atelier.engine.sd.ImageFolder;
import dev.atelier.engine.sd.GenerationRequest;
import dev.atelier.engine.sd.OpKernel;
import dev.atelier.engine.sd.PeakFlops;
import dev.atelier.engine.sd.Pipeline;
import dev.atelier.engine.sd.Profile;
import dev.atelier.engine.sd.Sampler;
import dev.atelier.engine.sd.ScheduleSource;
import dev.atelier.engine.text.LongPromptMode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code atelier generate}: text to image with an SD1.x checkpoint. */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Text to image with a Stable Diffusion 1.x checkpoint; PNGs carry A1111's parameters chunk.",
        footer = {"", "Examples:",
            "  atelier generate --model rv6.safetensors --prompt \"a denim jacket\" \\",
            "      --sampler dpmpp_sde_karras --out out/",
            "  atelier generate --model tiny.safetensors --config tiny.yaml \\",
            "      --prompt jacket --steps 8 --width 256 --height 256 --out out/",
            "  atelier generate --model rv6.safetensors --vae vae-ft-mse.safetensors \\",
            "      --precision bf16 --seed 42 --batch-size 2 --prompt jacket --out out/",
            "  atelier generate --model rv6.safetensors --prompt jacket --out out/ \\",
            "      --save-config run.yaml",
            "  atelier generate --config-file run.yaml --seed 43 --json   # again, new seed",
            "  atelier generate --model rv6.safetensors --prompt jacket --out out/ \\",
            "      --profile --kernels torch   # time per network and op class"})
final class GenerateCommand extends CliCommand {
    private static final Logger LOG = LoggerFactory.getLogger(GenerateCommand.class);

    @Mixin
    CheckpointOptions checkpoint;

    @Option(names = "--vae", paramLabel = "PATH", description = "A separate VAE file (with or without the first_stage_model. prefix).")
    Path vae;

    @Option(names = "--prompt", required = true, paramLabel = "TEXT", description = "The prompt.")
    String prompt;

    @Option(names = "--negative", defaultValue = "", paramLabel = "TEXT", description = "The negative prompt.")
    String negative;

    @Option(names = "--sampler", defaultValue = "euler_a", paramLabel = "NAME",
            description = "One of: ${COMPLETION-CANDIDATES}. Default: ${DEFAULT-VALUE}.", completionCandidates = SamplerNames.class)
    String sampler;

    @Option(names = "--steps", defaultValue = "20", paramLabel = "N", description = "Sampling steps. Default: ${DEFAULT-VALUE}.")
    int steps;

    @Option(names = "--cfg", defaultValue = "7", paramLabel = "SCALE", description = "CFG scale. Default: ${DEFAULT-VALUE}.")
    double cfg;

    @Option(names = "--seed", defaultValue = "-1", paramLabel = "N", description = "Seed; -1 picks one at random (and --save-config records it).")
    long seed;

    @Option(names = "--width", defaultValue = "512", paramLabel = "PIXELS", description = "Multiple of 8. Default: ${DEFAULT-VALUE}.")
    int width;

    @Option(names = "--height", defaultValue = "512", paramLabel = "PIXELS", description = "Multiple of 8. Default: ${DEFAULT-VALUE}.")
    int height;

    @Option(names = {"--batch-size", "--batch"}, defaultValue = "1", paramLabel = "N", description = "Images per batch. Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @Option(names = "--batch-count", defaultValue = "1", paramLabel = "N", description = "Batches, seeds continuing. Default: ${DEFAULT-VALUE}.")
    int batchCount;

    @Option(names = "--clip-skip", defaultValue = "1", paramLabel = "N", description = "1 = last text layer. Default: ${DEFAULT-VALUE}.")
    int clipSkip;

    @Option(names = "--eta", defaultValue = "-1", paramLabel = "X", description = "Noise multiplier; -1 = the sampler's default.")
    double eta;

    @Mixin
    PrecisionOption precision;

    @Mixin
    DeviceOption device;

    @Option(names = "--kernels", defaultValue = "auto", paramLabel = "NAME", completionCandidates = KernelNames.class,
            description = "Kernels of the networks' operations, one of: ${COMPLETION-CANDIDATES} (auto: Atelier's "
                    + "AVX-512 kernels where the CPU has them, else libtorch's). Default: ${DEFAULT-VALUE}.")
    String kernels;

    @Option(names = "--profile",
            description = "Measure the GEMM peak (about 1 s), then print time, GFLOP and share of the peak per network "
                    + "and operation class to stderr after the run (with --json also in the JSON object).")
    boolean profile;

    @Option(names = "--schedule-source", defaultValue = "config", paramLabel = "config|checkpoint",
            description = "Noise schedule: computed from the config's betas in double precision (config), or the "
                    + "checkpoint's stored alphas_cumprod as A1111 uses it (checkpoint; fp16 in pruned checkpoints; "
                    + "recorded in the PNG parameters). Default: ${DEFAULT-VALUE}.")
    String scheduleSource;

    @Option(names = "--long-prompt", defaultValue = "chunked", paramLabel = "chunked|truncate",
            description = "Prompts over 75 tokens: encode in chunks of 75 (A1111) or truncate. Default: ${DEFAULT-VALUE}.")
    String longPrompt;

    @Option(names = "--init-latents", paramLabel = "FILE", description = "Safetensors with tensor `noise` [batch, 4, H/8, W/8] to start from.")
    Path initLatents;

    @Option(names = "--save-latents", paramLabel = "FILE", description = "Write the final latents (tensor `latents`) to this safetensors file.")
    Path saveLatents;

    @Option(names = "--out", required = true, paramLabel = "DIR",
            description = "Output folder; images are NNNNN-SEED.png, numbered after the highest number already there (A1111).")
    Path out;

    @Option(names = "--lora", paramLabel = "PATH[:MULT[:TE_MULT]]",
            description = "A LoRA to apply (kohya/A1111 .safetensors), repeatable; MULT for the UNet (default 1), TE_MULT "
                    + "for the text encoder (default MULT). <lora:NAME:MULT> tags in the prompt work too (A1111).")
    List<String> loras = new ArrayList<>();

    @Option(names = "--lora-dir", paramLabel = "DIR", defaultValue = ".",
            description = "Where <lora:NAME> prompt tags find NAME.safetensors. Default: ${DEFAULT-VALUE}.")
    Path loraDir;

    @Mixin
    ConfigOptions configFile;

    @Override
    public Integer call() {
        if (seed < 0) {
            seed = ThreadLocalRandom.current().nextLong(4294967295L);
        }
        Sampler s = Sampler.fromName(sampler);
        LoraRequest.FromPrompt tagged = LoraRequest.fromPrompt(prompt, loraDir);
        List<LoraRequest> loraRequests = new ArrayList<>();
        loras.forEach(spec -> loraRequests.add(LoraRequest.parseOption(spec)));
        loraRequests.addAll(tagged.loras());
        for (LoraRequest r : loraRequests) {
            if (!java.nio.file.Files.isRegularFile(r.path())) {
                throw new InvalidInputException(r.path() + ": LoRA file not found");
            }
        }
        // The prompt keeps its <lora:...> tags: the PNG records them as A1111's do; the pipeline
        // removes them before the text encoder.
        GenerationRequest request = new GenerationRequest(prompt, negative, s, steps, cfg, seed, width, height, batchSize,
                batchCount, clipSkip, eta, initLatents);
        DType dtype = precision.dtype();
        OpKernel opKernels = OpKernel.fromName(kernels);
        if (!opKernels.available()) {
            throw new InvalidInputException("--kernels " + opKernels.nativeName() + " cannot run on this CPU; it runs: "
                    + java.util.Arrays.stream(OpKernel.values()).filter(OpKernel::available).map(OpKernel::nativeName)
                            .collect(java.util.stream.Collectors.joining(", ")));
        }
        Pipeline.Options options = new Pipeline.Options(Optional.ofNullable(checkpoint.tokenizer), Optional.ofNullable(checkpoint.config),
                Optional.ofNullable(vae), dtype, LongPromptMode.fromName(longPrompt), opKernels,
                ScheduleSource.fromName(scheduleSource)).withFileAccess(checkpoint.fileAccess.access())
                .withLoras(loraRequests.stream().map(LoraRequest::path).toList()).withDevice(device.device());
        configFile.start(spec);
        // Before the model loads: a bad --out or an impossible size costs nothing. Numbers follow
        // the highest in the folder.
        ImageFolder folder = ImageFolder.open(out);
        Pipeline.checkFits(request, options);
        try (Pipeline pipeline = Pipeline.load(checkpoint.model, options)) {
            PeakFlops peak = null;
            List<Profile.Entry> entries = List.of();
            if (profile) {
                LOG.info("measuring the {} GEMM peak (about 1 s)", dtype);
                peak = PeakFlops.measure(dtype, 1.0);
            }
            // Each image is written as soon as its batch is decoded: memory does not grow with
            // --batch-count, and the images finished before an interruption stay on disk.
            List<Path> pngs = new ArrayList<>();
            List<Long> seeds = new ArrayList<>();
            float[] latents = saveLatents == null ? null : latentsArray(pipeline, request);
            // Pipeline.generate runs the networks on this thread: the profile started here records them.
            try (Profile recording = profile ? Profile.start() : null) {
                pipeline.generate(request, loraRequests, progress(), (first, images, batchLatents) -> {
                    for (int j = 0; j < images.size(); j++) {
                        Path p = folder.write(images.get(j));
                        pngs.add(p);
                        seeds.add(images.get(j).seed());
                    }
                    if (latents != null) {
                        System.arraycopy(batchLatents, 0, latents, first / batchSize * batchLatents.length, batchLatents.length);
                    }
                });
                if (recording != null) {
                    recording.stop();
                    entries = recording.entries();
                }
            }
            if (peak != null) {
                System.err.printf(Locale.ROOT, "%nprofile (%s kernels, %s; peak %.1f GFLOP/s):%n%s", opKernels.nativeName(),
                        precision.precision, peak.gflops(), Profile.table(entries, peak.gflops()));
                System.err.flush();
            }
            if (saveLatents != null) {
                Generation.saveLatents(saveLatents, latents, latentsShape(pipeline, request));
            }
            if (json()) {
                List<Map<String, Object>> images = new ArrayList<>();
                for (int i = 0; i < pngs.size(); i++) {
                    Map<String, Object> image = new LinkedHashMap<>();
                    image.put("path", pngs.get(i).toString());
                    image.put("seed", seeds.get(i));
                    images.add(image);
                }
                Map<String, Object> result = new LinkedHashMap<>();
                result.put("images", images);
                result.put("seed", seed);
                result.put("sampler", s.id());
                result.put("steps", steps);
                result.put("width", width);
                result.put("height", height);
                result.put("latents", saveLatents == null ? null : saveLatents.toString());
                result.put("loras", loraRequests.stream().map(r -> Map.of("path", r.path().toString(), "unet", r.unetMultiplier(),
                        "text_encoder", r.textMultiplier())).toList());
                result.put("kernels", opKernels.nativeName());
                if (peak != null) {
                    Map<String, Object> p = new LinkedHashMap<>();
                    p.put("peak_gflops", peak.gflops());
                    p.put("entries", entries.stream().map(GenerateCommand::json).toList());
                    result.put("profile", p);
                }
                printJson(result);
            } else {
                pngs.forEach(out()::println);
            }
        }
        return 0;
    }

    /** [images, channels, H/8, W/8]: the shape --save-latents writes. */
    private static long[] latentsShape(Pipeline pipeline, GenerationRequest request) {
        return new long[] {request.images(), pipeline.unet().config().inChannels(), request.height() / 8, request.width() / 8};
    }

    /** The array --save-latents fills, checked to fit one Java array before the work starts. */
    private static float[] latentsArray(Pipeline pipeline, GenerationRequest request) {
        long n = 1;
        for (long d : latentsShape(pipeline, request)) {
            n *= d;
        }
        if (n > Integer.MAX_VALUE - 8) {
            throw new InvalidInputException("--save-latents: the latents of " + request.images() + " images of "
                    + request.width() + "x" + request.height() + " do not fit one file; save fewer images");
        }
        return new float[(int) n];
    }

    /** Steps over all batches, and which images the current batch makes. */
    private dev.atelier.engine.core.Progress progress() {
        ProgressBar bar = new ProgressBar("generate", "step");
        long images = (long) batchSize * batchCount;
        return (done, total) -> {
            long batch = Math.min(batchCount - 1, Math.max(0, done - 1) / Math.max(1, steps));
            long first = batch * batchSize + 1, last = first + batchSize - 1;
            bar.update(done, total, first == last ? "image " + first + "/" + images
                    : "images " + first + "-" + last + "/" + images);
            return true;
        };
    }

    private static Map<String, Object> json(Profile.Entry e) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("network", e.network());
        m.put("op_class", e.opClass());
        m.put("calls", e.calls());
        m.put("seconds", e.seconds());
        m.put("flops", e.flops());
        return m;
    }

    static final class KernelNames implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return java.util.Arrays.stream(OpKernel.values()).map(OpKernel::nativeName).iterator();
        }
    }

    static final class SamplerNames implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return java.util.Arrays.stream(Sampler.values()).map(Sampler::id).iterator();
        }
    }
}
