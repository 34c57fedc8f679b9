package dev.atelier.engine.train;

import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.sd.GenerationRequest;
import dev.atelier.engine.sd.Images;
import dev.atelier.engine.sd.Infotext;
import dev.atelier.engine.sd.LdmConfig;
import dev.atelier.engine.sd.PngFiles;
import dev.atelier.engine.sd.SampleParams;
import dev.atelier.engine.sd.Sampling;
import dev.atelier.engine.sd.ScheduleSource;
import dev.atelier.engine.sd.StableDiffusionWeights;
import dev.atelier.engine.sd.TextEncoder;
import dev.atelier.engine.sd.UNet;
import dev.atelier.engine.sd.Vae;
import dev.atelier.engine.text.ClipTokenizer;
import dev.atelier.engine.text.LongPromptMode;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;

/**
 * Sample images during training (kohya's {@code --sample_every_n_steps}): the networks being
 * trained, which carry the adapters trained so far for every sample, render one request with a
 * fixed seed, so successive previews show the LoRA developing. Each is a PNG beside the output,
 * {@code NAME-sample-step000100.png}, with the A1111 parameters chunk, written atomically.
 */
final class TrainingPreview implements AutoCloseable {
    private final GenerationRequest request;
    private final ClipTokenizer tokenizer;
    private final TextEncoder text;
    private final UNet unet;
    private final Vae vae;
    private final TensorView alphasCumprod;
    private final float scaleFactor;
    private final Arena arena = Arena.ofConfined();
    private final Path output;
    private final String modelHash, modelName;

    TrainingPreview(GenerationRequest request, StableDiffusionWeights weights, LdmConfig ldm, ClipTokenizer tokenizer,
            TextEncoder text, UNet unet, TensorView alphasCumprod, Path output, ModelHash hash, String modelName) {
        this.request = request;
        this.tokenizer = tokenizer;
        this.text = text;
        this.unet = unet;
        // Decoding only, in F32 whatever the training precision (as the latents were encoded).
        this.vae = Vae.create(weights.vae(), ldm.vae().withComputeDtype(DType.F32));
        this.alphasCumprod = alphasCumprod;
        this.scaleFactor = (float) ldm.scaleFactor();
        this.output = output;
        this.modelHash = hash.sha256().substring(0, 10);
        this.modelName = modelName;
    }

    /** Where the preview of step goes. */
    static Path path(Path output, long step) {
        String name = output.getFileName().toString();
        String stem = name.endsWith(".safetensors") ? name.substring(0, name.length() - ".safetensors".length()) : name;
        return output.resolveSibling(String.format("%s-sample-step%06d.png", stem, step));
    }

    /** Renders the request with the networks as they are now and writes its PNG. */
    Path render(long step) {
        try (Arena call = Arena.ofConfined()) {
            TensorView cond = encode(request.prompt(), call);
            TensorView uncond = request.cfg() == 1.0 ? null : encode(request.negative(), call);
            TensorView latents = Sampling.generate(unet, alphasCumprod, SampleParams.of(request, 0), cond, uncond, null,
                    (done, total) -> true, call);
            float[] pixels = vae.decode(latents, scaleFactor, call).toFloatArray();
            Path target = path(output, step);
            PngFiles.write(target, Images.toRgb8(pixels, request.height(), request.width()), request.width(),
                    request.height(), "parameters", Infotext.of(request, request.seed(), modelHash, modelName, ScheduleSource.CONFIG));
            return target;
        }
    }

    // The prompt truncated to 75 tokens, as the captions are encoded for training.
    private TensorView encode(String prompt, Arena call) {
        long[] ids = tokenizer.encode(prompt, LongPromptMode.TRUNCATE).ids()[0];
        TensorView idView = TensorView.of(call.allocateFrom(ValueLayout.JAVA_LONG, ids), DType.I64, 1, ids.length);
        return text.forward(idView, request.clipSkip(), call);
    }

    @Override
    public void close() {
        vae.close();
        arena.close();
    }
}
