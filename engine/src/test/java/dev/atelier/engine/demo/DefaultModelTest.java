package dev.atelier.engine.demo;

import dev.atelier.engine.testing.MaxError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.sd.LdmConfig;
import dev.atelier.engine.sd.StableDiffusionWeights;
import dev.atelier.engine.sd.TextEncoder;
import dev.atelier.engine.sd.UNet;
import dev.atelier.engine.sd.Vae;
import dev.atelier.engine.text.ClipTokenizer;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The embedded default model (models/default) runs in Atelier's native networks exactly as in the
 * PyTorch script that trained it: reference.safetensors holds each network's outputs computed
 * there on the exported fp16 weights (fp32 compute), and the script's networks are themselves
 * checked against the CompVis/OpenAI fixtures (scripts/default-model/check_parity.py). Also: its
 * own BPE vocabulary tokenizes like the script, and the file stays within the 20 MB budget.
 */
class DefaultModelTest {
    private static final double TOLERANCE = 1e-4;
    private static DefaultModel model;
    private static LdmConfig config;
    private static StableDiffusionWeights weights;
    private static SafeTensorsFile reference;
    private static Arena arena;

    @BeforeAll
    static void open() {
        model = DefaultModel.locate();
        config = LdmConfig.load(model.config());
        weights = StableDiffusionWeights.open(model.checkpoint());
        reference = SafeTensorsFile.open(model.checkpoint().resolveSibling("reference.safetensors"));
        arena = Arena.ofShared();
    }

    @AfterAll
    static void close() {
        arena.close();
        reference.close();
        weights.close();
    }

    private static void assertClose(String what, TensorView out, TensorView ref) {
        MaxError.assertClose("default model " + what, out, ref, TOLERANCE);
    }

    @Test
    void fitsTheSizeBudget() throws Exception {
        long bytes = Files.size(model.checkpoint());
        assertTrue(bytes <= 20_000_000L, "models/default/model.safetensors is " + bytes + " bytes, over 20 MB");
    }

    @Test
    void ownVocabularyTokenizesLikeTheTrainingScript() throws Exception {
        ClipTokenizer tokenizer = ClipTokenizer.load(model.tokenizer());
        TensorView ids = reference.view("text.input_ids");
        String[] prompts = new com.fasterxml.jackson.databind.ObjectMapper().readValue(reference.metadata().get("prompts"),
                String[].class);
        assertEquals(ids.shape()[0], prompts.length);
        for (int i = 0; i < prompts.length; i++) {
            long[] want = new long[77];
            for (int j = 0; j < 77; j++) {
                want[j] = ids.data().getAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, (long) i * 77 + j);
            }
            assertArrayEquals(want, tokenizer.encode(prompts[i]).flat(), "tokens of \"" + prompts[i] + "\"");
        }
        assertEquals(config.text().vocabSize(), tokenizer.vocabularySize());
    }

    @Test
    void textEncoderMatchesTheTrainingScript() {
        try (TextEncoder te = TextEncoder.create(weights.textEncoder(), config.text())) {
            assertClose("text.hidden", te.forward(reference.view("text.input_ids"), 1, arena), reference.view("text.hidden"));
        }
    }

    @Test
    void unetMatchesTheTrainingScript() {
        try (UNet unet = UNet.create(weights.unet(), config.unet())) {
            TensorView t = reference.view("unet.t");
            float[] f = new float[(int) t.numel()];
            for (int i = 0; i < f.length; i++) {
                f[i] = t.data().getAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i);
            }
            TensorView eps = unet.forward(reference.view("unet.x"), TensorView.ofFloats(arena, f, f.length),
                    reference.view("unet.context"), arena);
            assertClose("unet.eps", eps, reference.view("unet.eps"));
        }
    }

    @Test
    void vaeMatchesTheTrainingScript() {
        try (Vae vae = Vae.create(weights.vae(), config.vae())) {
            assertClose("vae.decoded", vae.decode(reference.view("vae.latents"), (float) config.scaleFactor(), arena),
                    reference.view("vae.decoded"));
            Vae.Posterior p = vae.encode(reference.view("vae.image"), arena);
            assertClose("vae.posterior_mean", p.mean(), reference.view("vae.posterior_mean"));
        }
    }
}
