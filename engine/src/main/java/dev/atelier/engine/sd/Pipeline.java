package dev.atelier.engine.sd;

import dev.atelier.engine.names.DiffusersCheckpoint;
import dev.atelier.engine.util.ClosedFlag;
import dev.atelier.engine.util.Sha256;
import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.Device;
import dev.atelier.engine.core.FileAccess;
import dev.atelier.engine.core.NativeLibrary;
import dev.atelier.engine.core.Progress;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.lora.LoraMode;
import dev.atelier.engine.lora.LoraRequest;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.text.ClipTokenizer;
import dev.atelier.engine.text.LongPromptMode;
import dev.atelier.engine.text.PromptPair;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Text to image with an SD1.x checkpoint: loaded once, then any number of
 * {@link #generate(GenerationRequest, Progress) requests} without reloading. Tokenizer in Java,
 * text encoder, denoising loop ({@link Sampling}) and VAE in native code.
 *
 * <p>Threads: one pipeline may be shared by any number of threads. {@link #generate} may be
 * called concurrently; tokenizing runs in parallel, and the native part of each request (LoRA
 * set-up, text encoder, denoising loop, VAE) runs under one fair lock, in arrival order, because
 * the native networks may be used by one thread at a time ({@code atelier.h}) and hold the LoRA
 * state. A request gives the same bits alone or among others, on any thread: it runs at the
 * library-wide intra-op thread count ({@link NativeLibrary#useLibraryThreads()}). Each request sees
 * exactly the LoRAs it names: a request naming other LoRAs than the one before removes those
 * first. A request ends its thread's idle OpenMP workers when it finishes, so that threads taking
 * turns here do not slow each other. {@link #close} waits for the request that is running and
 * refuses later ones. The progress callback runs on the caller's thread while the lock is held:
 * keep it short. The native part runs on the caller's thread too, so a {@link Profile} started
 * there records it.
 */
public final class Pipeline implements AutoCloseable {
    private final Path checkpoint;
    private final StableDiffusionWeights weights;
    private final ClipTokenizer tokenizer;
    private final TextEncoder textEncoder;
    private final UNet unet;
    private final Vae vae;
    private final TensorView alphasCumprod; // [T]: F64 from the config's betas, or the checkpoint's (ScheduleSource)
    private final ScheduleSource scheduleSource;
    private final LongPromptMode longPrompt;
    private final float scaleFactor; // the config's scale_factor: latents = scale_factor * VAE posterior
    private String modelHash; // guarded by this
    // Fair: waiting requests run in arrival order, so none starves behind a stream of others.
    private final ReentrantLock lock = new ReentrantLock(true);
    private final ClosedFlag closed = new ClosedFlag(lock, "pipeline");
    private final NetworkLoras networkLoras; // guarded by lock

    /**
     * How to load a checkpoint.
     *
     * @param tokenizer  folder with vocab.json and merges.txt; empty: the checkpoint's own
     *                   ({@code tokenizer/} inside a diffusers folder or beside a single file)
     * @param config     an LDM YAML giving the architecture; empty: SD1.5 sizes, the rest from the weights
     * @param vae        a separate VAE file replacing the checkpoint's
     * @param precision  F32, or BF16 (weights converted once, norms in F32)
     * @param longPrompt prompts over 75 tokens: CHUNKED (A1111) or TRUNCATE
     * @param kernels    which kernels run the three networks' operations ({@link OpKernel#AUTO})
     * @param schedule   the noise schedule: from the config's betas ({@link ScheduleSource#CONFIG}, also
     *                   without a config: SD1.5's) or the checkpoint's stored alphas_cumprod
     * @param access     the checkpoint's and VAE's files mapped (the default) or read into memory
     *                   ({@link FileAccess#READ}: safe from files overwritten while they are in use)
     * @param loras      LoRA files the caller will use, matched against the checkpoint as soon as it is
     *                   read: a bad one is refused before the tokenizer and the networks load
     * @param device     where the three networks run ({@link Device#CPU}; {@code cuda:N} copies the
     *                   weights to that GPU once, in the precision, which may then be F16)
     */
    public record Options(java.util.Optional<Path> tokenizer, java.util.Optional<Path> config,
            java.util.Optional<Path> vae, DType precision, LongPromptMode longPrompt, OpKernel kernels,
            ScheduleSource schedule, FileAccess access, List<Path> loras, Device device) {
        public Options {
            Objects.requireNonNull(kernels, "kernels");
            Objects.requireNonNull(schedule, "schedule");
            Objects.requireNonNull(access, "access");
            Objects.requireNonNull(device, "device");
            loras = List.copyOf(loras);
        }

        /** Options on the CPU. */
        public Options(java.util.Optional<Path> tokenizer, java.util.Optional<Path> config, java.util.Optional<Path> vae,
                DType precision, LongPromptMode longPrompt, OpKernel kernels, ScheduleSource schedule, FileAccess access,
                List<Path> loras) {
            this(tokenizer, config, vae, precision, longPrompt, kernels, schedule, access, loras, Device.CPU);
        }

        /** Options whose files are mapped, with no LoRA to check at load. */
        public Options(java.util.Optional<Path> tokenizer, java.util.Optional<Path> config, java.util.Optional<Path> vae,
                DType precision, LongPromptMode longPrompt, OpKernel kernels, ScheduleSource schedule) {
            this(tokenizer, config, vae, precision, longPrompt, kernels, schedule, FileAccess.MAP, List.of());
        }

        public Options withFileAccess(FileAccess a) {
            return new Options(tokenizer, config, vae, precision, longPrompt, kernels, schedule, a, loras, device);
        }

        public static Options defaults() {
            return new Options(java.util.Optional.empty(), java.util.Optional.empty(), java.util.Optional.empty(),
                    DType.F32, LongPromptMode.CHUNKED, OpKernel.AUTO, ScheduleSource.CONFIG);
        }

        public Options withTokenizer(Path dir) {
            return new Options(java.util.Optional.of(dir), config, vae, precision, longPrompt, kernels, schedule, access, loras,
                    device);
        }

        public Options withConfig(Path yaml) {
            return new Options(tokenizer, java.util.Optional.of(yaml), vae, precision, longPrompt, kernels, schedule, access,
                    loras, device);
        }

        public Options withKernels(OpKernel k) {
            return new Options(tokenizer, config, vae, precision, longPrompt, k, schedule, access, loras, device);
        }

        public Options withSchedule(ScheduleSource s) {
            return new Options(tokenizer, config, vae, precision, longPrompt, kernels, s, access, loras, device);
        }

        public Options withLoras(List<Path> files) {
            return new Options(tokenizer, config, vae, precision, longPrompt, kernels, schedule, access, files, device);
        }

        public Options withDevice(Device d) {
            return new Options(tokenizer, config, vae, precision, longPrompt, kernels, schedule, access, loras, d);
        }
    }

    /**
     * Loads a checkpoint (single file or diffusers folder) as options say: the only way to make a
     * pipeline, so that the architecture, scale factor, schedule and long-prompt mode all come
     * from the options and their config.
     */
    public static Pipeline load(Path checkpoint, Options options) {
        LdmConfig config = configOf(options);
        Path tokenizerDir = options.tokenizer().orElseGet(() -> java.nio.file.Files.isDirectory(checkpoint)
                ? checkpoint.resolve("tokenizer") : checkpoint.toAbsolutePath().getParent().resolve("tokenizer"));
        if (!java.nio.file.Files.isRegularFile(tokenizerDir.resolve("vocab.json"))) {
            throw new InvalidInputException("no tokenizer (vocab.json, merges.txt) in " + tokenizerDir
                    + "; pass --tokenizer DIR");
        }
        // The checkpoint, then the LoRAs, from the files alone: refused before the native library.
        StableDiffusionWeights weights = StableDiffusionWeights.open(checkpoint, options.vae(), options.access(),
                c -> NetworkLoras.check(c, options.loras()));
        try {
            ClipTokenizer tokenizer = ClipTokenizer.load(tokenizerDir);
            Pipeline pipeline = new Pipeline(checkpoint, weights, tokenizer, config, options.longPrompt(), options.schedule());
            if (options.precision() != DType.F32) {
                // The networks hold converted copies now; the fp32 pages they were made from
                // would stay resident (5.2 GiB RSS after a bf16 load of a 4 GiB file).
                weights.dropResidentPages();
            }
            return pipeline;
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    /** The networks' settings a load with options uses: the YAML given, or SD 1.5's, on its device, in its dtype and kernels. */
    private static LdmConfig configOf(Options options) {
        return options.config().map(LdmConfig::load).orElse(LdmConfig.sd15()).withDevice(options.device())
                .withComputeDtype(options.precision()).withKernels(options.kernels());
    }

    /**
     * Refuses a request whose activations would not fit ({@link ActivationMemory}) before any
     * model is loaded: {@link #generate} checks the same, but a command line that checks first
     * pays neither the model's load nor the native library's for a size it cannot run.
     */
    public static void checkFits(GenerationRequest request, Options options) {
        LdmConfig config = configOf(options);
        ActivationMemory.check(config.unet(), config.vae(), request.width(), request.height(), request.batchSize(),
                request.cfg() != 1);
    }

    private Pipeline(Path checkpoint, StableDiffusionWeights weights, ClipTokenizer tokenizer, LdmConfig config,
            LongPromptMode longPrompt, ScheduleSource schedule) {
        this.checkpoint = checkpoint;
        this.scheduleSource = schedule;
        // Before the networks are made: a checkpoint without a stored schedule fails the load at once.
        this.alphasCumprod = schedule == ScheduleSource.CONFIG ? Sampling.alphasCumprod(config, Arena.ofAuto())
                : weights.alphasCumprod().orElseThrow(() -> new InvalidInputException(checkpoint
                        + ": the checkpoint stores no alphas_cumprod, which schedule source \"checkpoint\" samples with"));
        this.scaleFactor = (float) config.scaleFactor();
        this.longPrompt = Objects.requireNonNull(longPrompt, "longPrompt");
        this.weights = weights;
        this.tokenizer = tokenizer;
        List<AutoCloseable> made = new ArrayList<>();
        try {
            textEncoder = TextEncoder.create(weights.textEncoder(), config.text());
            made.add(textEncoder);
            unet = UNet.create(weights.unet(), config.unet());
            made.add(unet);
            vae = Vae.create(weights.vae(), config.vae());
        } catch (RuntimeException e) {
            for (AutoCloseable c : made) {
                try {
                    c.close();
                } catch (Exception ignored) {
                    // closing a handle does not fail
                }
            }
            throw e;
        }
        this.networkLoras = new NetworkLoras(weights, unet, textEncoder);
    }

    /**
     * The UNet, for direct {@link Sampling} calls. Owned by this pipeline; not guarded by its lock:
     * direct calls must not overlap {@link #generate} and see whatever LoRAs the last request left.
     */
    public UNet unet() {
        return unet;
    }

    /**
     * What a serving engine that schedules the networks itself needs (serve.GenerationService).
     * Its networks are this pipeline's, used without this pipeline's lock: while the parts are in
     * use, {@link #generate} and {@link #encodePrompts} must not be called.
     *
     * @param checkpointNames the checkpoint's tensor names, for mapping LoRA keys
     * @param modelName       the checkpoint's file name without extension (A1111's "Model")
     */
    public record Parts(ClipTokenizer tokenizer, LongPromptMode longPrompt, TextEncoder textEncoder, UNet unet,
            Vae vae, TensorView alphasCumprod, float scaleFactor, ScheduleSource schedule,
            java.util.Set<String> checkpointNames, String modelName, String modelHash) {}

    public Parts parts() {
        return new Parts(tokenizer, longPrompt, textEncoder, unet, vae, alphasCumprod, scaleFactor, scheduleSource,
                weights.checkpoint().tensors().keySet(), modelName(), modelHash());
    }

    /** The file name without its extension; a diffusers folder's name as it is. */
    private String modelName() {
        String name = checkpoint.toAbsolutePath().normalize().getFileName().toString();
        return java.nio.file.Files.isDirectory(checkpoint) ? name : name.replaceFirst("\\.[^.]*$", "");
    }

    /** The noise schedule generation samples with, [T] (see {@link ScheduleSource}). */
    public TensorView alphasCumprod() {
        return alphasCumprod;
    }

    /**
     * A1111's short model hash: the first 10 hex digits of the file's SHA-256, for a diffusers
     * folder of its UNet weights file ({@link DiffusersCheckpoint#hashedFile}); computed once.
     */
    public synchronized String modelHash() {
        if (modelHash == null) {
            modelHash = shortHash(checkpoint);
        }
        return modelHash;
    }

    static String shortHash(Path model) {
        Path file = DiffusersCheckpoint.hashedFile(model);
        try {
            return Sha256.hexOfFiles(List.of(file)).substring(0, 10);
        } catch (IOException e) {
            throw new AtelierException.FormatException(AtelierException.IO, file + ": cannot read: " + e.getMessage());
        }
    }

    /**
     * The text hidden states of the prompt and the negative prompt, [1, 77c, width] each, same c,
     * with the text-encoder LoRAs of the last request (none before the first). Serialised with
     * {@link #generate}.
     */
    public TensorView[] encodePrompts(String prompt, String negative, int clipSkip, Arena arena) {
        PromptPair pair = tokenizer.encode(prompt, negative, longPrompt);
        lock.lock();
        try {
            closed.checkOpen();
            NativeLibrary.useLibraryThreads();
            return encodePair(pair, clipSkip, arena);
        } finally {
            NativeLibrary.releaseThreads(); // as generate does
            lock.unlock();
        }
    }

    private TensorView[] encodePair(PromptPair pair, int clipSkip, Arena arena) {
        return new TensorView[] {encode(pair.positive().flat(), clipSkip, arena),
            encode(pair.negative().flat(), clipSkip, arena)};
    }

    private TensorView encode(long[] ids, int clipSkip, Arena arena) {
        return textEncoder.forward(ids, clipSkip, arena);
    }

    /**
     * Runs the request without LoRAs: batchCount native calls of batchSize images each, the seeds
     * of call i starting at seed + i * batchSize (A1111). progress sees (step, steps * batchCount)
     * over all calls; returning false cancels with a CancelledException and nothing is returned.
     * Thread-safe (see the class comment).
     */
    public Generation generate(GenerationRequest request, Progress progress) {
        return generate(request, List.of(), progress);
    }

    /**
     * {@link #generate(GenerationRequest, Progress)} with the given LoRAs on the UNet and the text
     * encoder (kohya: W + multiplier * alpha/rank * up @ down, each LoRA at its own multipliers,
     * in list order). They are applied {@link LoraMode#UNMERGED unmerged}: switching between
     * requests that name different LoRAs costs no weight copies, and the networks' own weights are
     * never written. Requests naming the same list (same files, multipliers and order) one after
     * the other reuse it. Thread-safe (see the class comment).
     *
     * @throws dev.atelier.engine.core.AtelierException.FormatException for a LoRA file that does
     *         not fit this model; the request then runs nothing and the next one starts clean
     */
    public Generation generate(GenerationRequest request, List<LoraRequest> loras, Progress progress) {
        List<GeneratedImage> images = new ArrayList<>();
        int h = request.height() / 8, w = request.width() / 8, channels = unet.config().inChannels();
        long perImage = (long) channels * h * w;
        if (request.images() * perImage > Integer.MAX_VALUE - 8) {
            throw new InvalidInputException("the latents of " + request.images() + " images of " + request.width() + "x"
                    + request.height() + " do not fit one array; generate them in parts");
        }
        float[] latents = new float[Math.toIntExact(request.images() * perImage)];
        generate(request, loras, progress, (first, batch, batchLatents) -> {
            images.addAll(batch);
            System.arraycopy(batchLatents, 0, latents, Math.toIntExact(first * perImage), batchLatents.length);
        });
        return new Generation(request, List.copyOf(images), latents, new long[] {request.images(), channels, h, w});
    }

    /** Receives a request's images batch by batch, each batch as soon as it is decoded. */
    @FunctionalInterface
    public interface BatchSink {
        /**
         * @param first   index in the request of the batch's first image
         * @param images  the batch's images, in seed order
         * @param latents the batch's final latents before decoding, [images, 4, H/8, W/8] row-major
         */
        void accept(int first, List<GeneratedImage> images, float[] latents);
    }

    /**
     * {@link #generate(GenerationRequest, List, Progress)} handing each batch to sink as soon as it
     * is decoded instead of keeping them all: memory stays that of one batch whatever the batch
     * count. Sizes are checked against {@link ActivationMemory} before anything runs. sink runs
     * on the caller's thread under the lock (see the class comment); an exception it throws stops
     * the request.
     */
    public void generate(GenerationRequest request, List<LoraRequest> loras, Progress progress, BatchSink sink) {
        Objects.requireNonNull(request, "request");
        Objects.requireNonNull(sink, "sink");
        List<LoraRequest> wanted = List.copyOf(loras);
        ActivationMemory.check(unet.config(), vae.config(), request.width(), request.height(), request.batchSize(),
                request.cfg() != 1);
        // <lora:NAME:W> tags stay in the request's prompt (the PNG records them, as A1111's do); the
        // text encoder never sees them.
        PromptPair pair = tokenizer.encode(LoraRequest.withoutTags(request.prompt()), request.negative(), longPrompt);
        lock.lock();
        try {
            closed.checkOpen();
            NativeLibrary.useLibraryThreads(); // same count on every thread: same bits
            networkLoras.use(wanted);
            run(request, pair, wanted, progress, sink);
        } finally {
            // The caller may be one of many threads taking turns here: idle workers of each would
            // slow the others' requests (NativeLibrary.releaseThreads says why).
            NativeLibrary.releaseThreads();
            lock.unlock();
        }
    }

    /** The request's native part. Under the lock. */
    private void run(GenerationRequest request, PromptPair pair, List<LoraRequest> loras, Progress progress,
            BatchSink sink) {
        Progress listener = progress == null ? Progress.NONE : progress;
        int h = request.height() / 8, w = request.width() / 8;
        int channels = unet.config().inChannels();
        try (Arena arena = Arena.ofConfined(); SafeTensorsFile noiseFile = openNoise(request, channels, h, w)) {
            TensorView[] ctx = encodePair(pair, request.clipSkip(), arena);
            TensorView noiseAll = noiseFile == null ? null : noiseFile.view("noise");
            String hash = modelHash();
            String name = modelName();
            int plane = 3 * request.width() * request.height();
            for (int i = 0; i < request.batchCount(); i++) {
                SampleParams params = SampleParams.of(request, i);
                TensorView noise = noiseAll == null ? null : slice(noiseAll, (long) i * request.batchSize(), request.batchSize());
                long call = i, calls = request.batchCount();
                // Each batch's tensors live in their own arena: memory does not grow with the batch count.
                try (Arena batchArena = Arena.ofConfined()) {
                    TensorView out = Sampling.generate(unet, alphasCumprod, params, ctx[0], ctx[1], noise,
                            (done, steps) -> listener.onStep(call * steps + done, calls * steps), batchArena);
                    float[] latents = out.toFloatArray();
                    float[] decoded = vae.decode(out, scaleFactor, batchArena).toFloatArray();
                    List<GeneratedImage> images = new ArrayList<>(request.batchSize());
                    for (int j = 0; j < request.batchSize(); j++) {
                        float[] one = new float[plane];
                        System.arraycopy(decoded, j * plane, one, 0, plane);
                        long seed = params.seed() + j;
                        images.add(new GeneratedImage(seed, request.width(), request.height(),
                                Images.toRgb8(one, request.height(), request.width()),
                                Infotext.of(request, seed, hash, name, scheduleSource, loras)));
                    }
                    sink.accept(i * request.batchSize(), List.copyOf(images), latents);
                }
            }
        }
    }

    private static SafeTensorsFile openNoise(GenerationRequest request, int channels, int h, int w) {
        if (request.initNoise() == null) {
            return null;
        }
        SafeTensorsFile file = SafeTensorsFile.open(request.initNoise());
        try {
            if (!file.contains("noise")) {
                throw new InvalidInputException(request.initNoise() + ": no tensor named \"noise\"");
            }
            TensorView v = file.view("noise");
            long[] want = {request.images(), channels, h, w};
            if (v.dtype() != DType.F32 || !java.util.Arrays.equals(v.shape(), want)) {
                throw new InvalidInputException(request.initNoise() + ": noise must be F32 "
                        + java.util.Arrays.toString(want) + " (batch size * count, 4, H/8, W/8), got " + v);
            }
            return file;
        } catch (RuntimeException e) {
            file.close();
            throw e;
        }
    }

    /** Rows [from, from + n) of a contiguous tensor, without a copy. */
    private static TensorView slice(TensorView v, long from, long n) {
        long[] shape = v.shape().clone();
        long row = TensorView.numel(shape) / shape[0];
        shape[0] = n;
        long bytes = (long) v.dtype().byteSize() * row;
        return TensorView.of(v.data().asSlice(from * bytes, n * bytes), v.dtype(), shape);
    }

    /** Waits for the running request, then frees the networks; later requests throw IllegalStateException. */
    @Override
    public void close() {
        closed.close(() -> {
            vae.close();
            unet.close();
            textEncoder.close();
            weights.close();
        });
    }
}
