package dev.atelier.engine.sd;

import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.Progress;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.safetensors.SafeTensorsWriter;
import dev.atelier.engine.text.ClipTokenizer;
import dev.atelier.engine.text.LongPromptMode;
import dev.atelier.engine.text.PromptPair;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Text to image with an SD1.x checkpoint: loaded once, then any number of
 * {@link #generate(GenerationRequest, Progress) requests} without reloading. Tokenizer in Java,
 * text encoder, denoising loop ({@link Sampling}) and VAE in native code.
 *
 * <p>One request at a time (the networks are single-threaded); close after the last one.
 */
public final class Pipeline implements AutoCloseable {
    private final Path checkpoint;
    private final StableDiffusionWeights weights;
    private final ClipTokenizer tokenizer;
    private final TextEncoder textEncoder;
    private final UNet unet;
    private final Vae vae;
    private final TensorView alphasCumprod;  // [T] from the checkpoint, or null: the SD1.5 schedule
    private LongPromptMode longPrompt = LongPromptMode.CHUNKED;
    private String modelHash;

    /**
     * How to load a checkpoint.
     *
     * @param tokenizer  folder with vocab.json and merges.txt; empty: the checkpoint's own
     *                   ({@code tokenizer/} inside a diffusers folder or beside a single file)
     * @param config     an LDM YAML giving the architecture; empty: SD1.5 sizes, the rest from the weights
     * @param vae        a separate VAE file replacing the checkpoint's
     * @param precision  F32, or BF16 (weights converted once, norms in F32)
     * @param longPrompt prompts over 75 tokens: CHUNKED (A1111) or TRUNCATE
     */
    public record Options(java.util.Optional<Path> tokenizer, java.util.Optional<Path> config,
            java.util.Optional<Path> vae, DType precision, LongPromptMode longPrompt) {
        public static Options defaults() {
            return new Options(java.util.Optional.empty(), java.util.Optional.empty(), java.util.Optional.empty(),
                    DType.F32, LongPromptMode.CHUNKED);
        }
    }

    /** Loads a checkpoint (single file or diffusers folder) as options say. */
    public static Pipeline load(Path checkpoint, Options options) {
        LdmConfig config = options.config().map(LdmConfig::load).orElse(LdmConfig.sd15())
                .withComputeDtype(options.precision());
        Path tokenizerDir = options.tokenizer().orElseGet(() -> java.nio.file.Files.isDirectory(checkpoint)
                ? checkpoint.resolve("tokenizer") : checkpoint.toAbsolutePath().getParent().resolve("tokenizer"));
        if (!java.nio.file.Files.isRegularFile(tokenizerDir.resolve("vocab.json"))) {
            throw new InvalidInputException("no tokenizer (vocab.json, merges.txt) in " + tokenizerDir
                    + "; pass --tokenizer DIR");
        }
        ClipTokenizer tokenizer = ClipTokenizer.load(tokenizerDir);
        StableDiffusionWeights weights = StableDiffusionWeights.open(checkpoint, options.vae());
        try {
            Pipeline p = new Pipeline(checkpoint, weights, tokenizer, new Networks(config.text(), config.unet(), config.vae()));
            p.longPrompt = options.longPrompt();
            return p;
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    /**
     * Architecture settings the weights do not tell: head counts (SD1.5 defaults), compute dtype.
     *
     * @param text the text encoder's params
     * @param unet the UNet's params
     * @param vae  the VAE's params
     */
    public record Networks(TextEncoderParams text, UNetParams unet, VaeParams vae) {
        public static Networks sd15() {
            return new Networks(TextEncoderParams.defaults(), UNetParams.defaults(), VaeParams.defaults());
        }
    }

    private Pipeline(Path checkpoint, StableDiffusionWeights weights, ClipTokenizer tokenizer, Networks networks) {
        this.checkpoint = checkpoint;
        this.weights = weights;
        this.tokenizer = tokenizer;
        List<AutoCloseable> made = new ArrayList<>();
        try {
            textEncoder = TextEncoder.create(weights.textEncoder(), networks.text());
            made.add(textEncoder);
            unet = UNet.create(weights.unet(), networks.unet());
            made.add(unet);
            vae = Vae.create(weights.vae(), networks.vae());
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
        alphasCumprod = weights.alphasCumprod().orElse(null);
    }

    /** Loads a single-file LDM checkpoint (.safetensors) and the CLIP tokenizer in tokenizerDir. */
    public static Pipeline load(Path checkpoint, Path tokenizerDir, Networks networks) {
        ClipTokenizer tokenizer = ClipTokenizer.load(tokenizerDir);
        StableDiffusionWeights weights = StableDiffusionWeights.open(checkpoint);
        try {
            return new Pipeline(checkpoint, weights, tokenizer, networks);
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    /** {@link #load(Path, Path, Networks)} with the SD1.5 head counts, F32. */
    public static Pipeline load(Path checkpoint, Path tokenizerDir) {
        return load(checkpoint, tokenizerDir, Networks.sd15());
    }

    /** The UNet, for direct {@link Sampling} calls. Owned by this pipeline. */
    public UNet unet() {
        return unet;
    }

    /** The checkpoint's alphas_cumprod F32 [T], or null when it has none (SD1.5 schedule). */
    public TensorView alphasCumprod() {
        return alphasCumprod;
    }

    /** A1111's short model hash: the first 10 hex digits of the file's SHA-256 (computed once). */
    public synchronized String modelHash() {
        if (modelHash == null) {
            modelHash = shortHash(checkpoint);
        }
        return modelHash;
    }

    static String shortHash(Path file) {
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), MessageDigest.getInstance("SHA-256"))) {
            byte[] buffer = new byte[1 << 20];
            while (in.read(buffer) >= 0) {
                // digesting
            }
            byte[] digest = ((DigestInputStream) in).getMessageDigest().digest();
            return HexFormat.of().formatHex(digest).substring(0, 10);
        } catch (IOException e) {
            throw new AtelierException.FormatException(AtelierException.IO, file + ": cannot read: " + e.getMessage());
        } catch (NoSuchAlgorithmException e) {
            throw new AtelierException(AtelierException.INTERNAL, "no SHA-256", e);
        }
    }

    /** The text hidden states of the prompt and the negative prompt, [1, 77c, width] each, same c. */
    public TensorView[] encodePrompts(String prompt, String negative, int clipSkip, Arena arena) {
        PromptPair pair = tokenizer.encode(prompt, negative, longPrompt);
        return new TensorView[] {encode(pair.positive().flat(), clipSkip, arena),
            encode(pair.negative().flat(), clipSkip, arena)};
    }

    private TensorView encode(long[] ids, int clipSkip, Arena arena) {
        MemorySegment data = arena.allocate(ValueLayout.JAVA_LONG, ids.length);
        MemorySegment.copy(ids, 0, data, ValueLayout.JAVA_LONG, 0, ids.length);
        return textEncoder.forward(TensorView.of(data, DType.I64, 1, ids.length), clipSkip, arena);
    }

    /**
     * Runs the request: batchCount native calls of batchSize images each, the seeds of call i
     * starting at seed + i * batchSize (A1111). progress sees (step, steps * batchCount) over all
     * calls; returning false cancels with a CancelledException and nothing is returned.
     */
    public Generation generate(GenerationRequest request, Progress progress) {
        Progress listener = progress == null ? Progress.NONE : progress;
        int h = request.height() / 8, w = request.width() / 8;
        int channels = unet.config().inChannels();
        try (Arena arena = Arena.ofConfined(); SafeTensorsFile noiseFile = openNoise(request, channels, h, w)) {
            TensorView[] ctx = encodePrompts(request.prompt(), request.negative(), request.clipSkip(), arena);
            TensorView noiseAll = noiseFile == null ? null : noiseFile.view("noise");
            long perImage = (long) channels * h * w;
            float[] latents = new float[Math.toIntExact(request.images() * perImage)];
            List<GeneratedImage> images = new ArrayList<>();
            String hash = modelHash();
            String name = checkpoint.getFileName().toString().replaceFirst("\\.[^.]*$", "");
            for (int i = 0; i < request.batchCount(); i++) {
                SampleParams params = SampleParams.of(request, i);
                TensorView noise = noiseAll == null ? null : slice(noiseAll, i * request.batchSize(), request.batchSize());
                long call = i, calls = request.batchCount();
                TensorView out = Sampling.generate(unet, alphasCumprod, params, ctx[0], ctx[1], noise,
                        (done, steps) -> listener.onStep(call * steps + done, calls * steps), arena);
                float[] batch = out.toFloatArray();
                System.arraycopy(batch, 0, latents, Math.toIntExact(i * request.batchSize() * perImage), batch.length);
                float[] decoded = vae.decode(out, Vae.SD1_SCALE_FACTOR, arena).toFloatArray();
                int plane = 3 * request.width() * request.height();
                for (int j = 0; j < request.batchSize(); j++) {
                    float[] one = new float[plane];
                    System.arraycopy(decoded, j * plane, one, 0, plane);
                    long seed = params.seed() + j;
                    images.add(new GeneratedImage(seed, request.width(), request.height(),
                            Images.toRgb8(one, request.height(), request.width()),
                            Infotext.of(request, seed, hash, name)));
                }
            }
            return new Generation(request, List.copyOf(images), latents, new long[] {request.images(), channels, h, w});
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

    /**
     * What a request made.
     *
     * @param request the request
     * @param images  one per image, in seed order
     * @param latents the final latents before decoding, [images, 4, H/8, W/8] row-major
     * @param shape   the latents' shape
     */
    public record Generation(GenerationRequest request, List<GeneratedImage> images, float[] latents, long[] shape) {
        /** Writes the latents as safetensors with one tensor {@code latents}, atomically. */
        public void saveLatents(Path target) {
            try (Arena arena = Arena.ofConfined()) {
                new SafeTensorsWriter().add("latents", TensorView.ofFloats(arena, latents, shape)).write(target);
            }
        }

        /** Writes image k to dir/NAME-k-SEED.png for every image, each atomically. */
        public List<Path> writePngs(Path dir, String name) {
            List<Path> out = new ArrayList<>();
            for (int k = 0; k < images.size(); k++) {
                GeneratedImage img = images.get(k);
                Path p = dir.resolve(String.format("%s-%05d-%d.png", name, k, img.seed()));
                img.writePng(p);
                out.add(p);
            }
            return out;
        }
    }

    @Override
    public void close() {
        vae.close();
        unet.close();
        textEncoder.close();
        weights.close();
    }
}
