package dev.atelier.engine.sd;

import static dev.atelier.engine.testing.MaxError.assertClose;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.Device;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.core.Weights;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.testing.Fixtures;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Parity of the SD networks with the reference implementations (OpenAI CLIP text transformer,
 * CompVis LDM UNet and AutoencoderKL) on the sd15-tiny fixtures: max abs error within
 * 1e-4 of max|ref| in F32. BF16 is checked against a looser bound and reported.
 */
class SdNetworksTest {
    private static final double TOLERANCE = 1e-4;
    // BF16 keeps 8 bits of mantissa: measured 1-2 % of max|ref| on these fixtures.
    private static final double BF16_TOLERANCE = 0.05;
    private static StableDiffusionWeights model;
    private static SafeTensorsFile cases;
    private static Arena arena;

    @BeforeAll
    static void open() {
        model = StableDiffusionWeights.open(Fixtures.sd15Tiny().resolve("model/model.safetensors"));
        cases = SafeTensorsFile.open(Fixtures.sd15Tiny().resolve("cases.safetensors"));
        arena = Arena.ofShared();
    }

    @AfterAll
    static void close() {
        arena.close();
        cases.close();
        model.close();
    }

    /** The fixture's text model has 2 heads, its UNet 4 (model.yaml). */
    private static TextEncoderParams textParams() {
        return TextEncoderParams.defaults().withNumHeads(2);
    }

    private static UNetParams unetParams() {
        return UNetParams.defaults().withHeads(4, -1);
    }

    /** max|out - ref| / max|ref|. */
    @Test
    void textHiddenStatesMatchClip() {
        try (TextEncoder te = TextEncoder.create(model.textEncoder(), textParams())) {
            TextEncoderParams c = te.config();
            assertEquals(32, c.width());
            assertEquals(2, c.layers());
            assertEquals(128, c.intermediate());
            assertEquals(77, c.maxPositions());
            assertEquals(49408, c.vocabSize());
            TensorView ids = cases.view("text.input_ids");
            assertClose("text.hidden", te.forward(ids, 1, arena), cases.view("text.hidden"), TOLERANCE);
            assertClose("text.hidden_clip_skip2", te.forward(ids, 2, arena), cases.view("text.hidden_clip_skip2"),
                    TOLERANCE);
        }
    }

    @Test
    void longPromptChunksAreEncodedSeparatelyAndConcatenated() {
        try (TextEncoder te = TextEncoder.create(model.textEncoder(), textParams())) {
            TensorView chunks = cases.view("text.chunked.3.input_ids"); // [c, 77]
            long[] s = chunks.shape();
            TensorView ids = TensorView.of(chunks.data(), DType.I64, 1, s[0] * s[1]);
            assertClose("text.chunked.3.hidden", te.forward(ids, 1, arena), cases.view("text.chunked.3.hidden"),
                    TOLERANCE);
        }
    }

    @Test
    void unetEpsMatchesLdm() {
        try (UNet unet = UNet.create(model.unet(), unetParams())) {
            UNetParams c = unet.config();
            assertEquals(32, c.modelChannels());
            assertEquals(2, c.numResBlocks());
            assertEquals(32, c.contextDim());
            assertEquals(1, c.transformerDepth());
            assertArrayEquals(new int[] {1, 2, 2, 2}, c.channelMult());
            assertArrayEquals(new boolean[] {true, true, true, false}, c.attentionLevels());
            TensorView eps = unet.forward(cases.view("unet.x"), timesteps(), cases.view("unet.context"), arena);
            assertClose("unet.eps", eps, cases.view("unet.eps"), TOLERANCE);
        }
    }

    /** unet.t is stored as I64; the UNet takes continuous F32 timesteps. */
    private static TensorView timesteps() {
        TensorView t = cases.view("unet.t");
        float[] f = new float[(int) t.numel()];
        for (int i = 0; i < f.length; i++) {
            f[i] = t.data().getAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i);
        }
        return TensorView.ofFloats(arena, f, f.length);
    }

    @Test
    void vaeDecodeAndEncodeMatchLdm() {
        try (Vae vae = Vae.create(model.vae(), VaeParams.defaults())) {
            VaeParams c = vae.config();
            assertEquals(32, c.ch());
            assertEquals(1, c.numResBlocks());
            assertArrayEquals(new int[] {1, 2, 2, 2}, c.chMult());
            assertEquals(8, c.downscale());
            TensorView image = vae.decode(cases.view("vae.latents"), Vae.SD1_SCALE_FACTOR, arena);
            assertClose("vae.decoded", image, cases.view("vae.decoded"), TOLERANCE);
            Vae.Posterior p = vae.encode(cases.view("vae.image"), arena);
            assertClose("vae.posterior_mean", p.mean(), cases.view("vae.posterior_mean"), TOLERANCE);
            assertClose("vae.posterior_logvar", p.logvar(), cases.view("vae.posterior_logvar"), TOLERANCE);
        }
    }

    @Test
    void bf16RunsAndLandsClose() {
        double bound = BF16_TOLERANCE;
        try (TextEncoder te = TextEncoder.create(model.textEncoder(), textParams().withComputeDtype(DType.BF16));
                UNet unet = UNet.create(model.unet(), unetParams().withComputeDtype(DType.BF16));
                Vae vae = Vae.create(model.vae(), VaeParams.defaults().withComputeDtype(DType.BF16))) {
            assertEquals(DType.BF16, unet.config().computeDtype());
            assertClose("bf16 text.hidden", te.forward(cases.view("text.input_ids"), 1, arena),
                    cases.view("text.hidden"), bound);
            assertClose("bf16 unet.eps", unet.forward(cases.view("unet.x"), timesteps(), cases.view("unet.context"),
                    arena), cases.view("unet.eps"), bound);
            assertClose("bf16 vae.decoded", vae.decode(cases.view("vae.latents"), Vae.SD1_SCALE_FACTOR, arena),
                    cases.view("vae.decoded"), bound);
            assertClose("bf16 vae.posterior_mean", vae.encode(cases.view("vae.image"), arena).mean(),
                    cases.view("vae.posterior_mean"), bound);
        }
    }

    /** max|a - b| / max|ref|. */
    private static double relativeDifference(TensorView a, TensorView b, TensorView ref) {
        assertArrayEquals(a.shape(), b.shape());
        float[] x = a.toFloatArray(), y = b.toFloatArray(), r = ref.toFloatArray();
        double diff = 0, scale = 0;
        for (int i = 0; i < x.length; i++) {
            diff = Math.max(diff, Math.abs(x[i] - y[i]));
            scale = Math.max(scale, Math.abs(r[i]));
        }
        return diff / scale;
    }

    /**
     * The kernels choice changes how, not what: Atelier's kernels (AUTO: AVX-512 where the CPU has
     * it; without AVX-512 it is libtorch's on both sides) give libtorch's outputs within 1e-4 of
     * max|ref|.
     */
    @Test
    void atelierKernelsAgreeWithLibtorch() {
        OpKernel kernels = OpKernel.AUTO;
        try (UNet torch = UNet.create(model.unet(), unetParams().withKernels(OpKernel.TORCH));
                UNet other = UNet.create(model.unet(), unetParams().withKernels(kernels));
                TextEncoder torchText = TextEncoder.create(model.textEncoder(), textParams().withKernels(OpKernel.TORCH));
                TextEncoder otherText = TextEncoder.create(model.textEncoder(), textParams().withKernels(kernels));
                Vae torchVae = Vae.create(model.vae(), VaeParams.defaults().withKernels(OpKernel.TORCH));
                Vae otherVae = Vae.create(model.vae(), VaeParams.defaults().withKernels(kernels))) {
            assertEquals(OpKernel.TORCH, torch.config().kernels());
            assertEquals(kernels, other.config().kernels());
            assertEquals(kernels, otherText.config().kernels());
            assertEquals(kernels, otherVae.config().kernels());
            TensorView x = cases.view("unet.x"), context = cases.view("unet.context");
            double eps = relativeDifference(other.forward(x, timesteps(), context, arena),
                    torch.forward(x, timesteps(), context, arena), cases.view("unet.eps"));
            TensorView ids = cases.view("text.input_ids");
            double text = relativeDifference(otherText.forward(ids, 1, arena), torchText.forward(ids, 1, arena),
                    cases.view("text.hidden"));
            TensorView latents = cases.view("vae.latents");
            double decoded = relativeDifference(otherVae.decode(latents, Vae.SD1_SCALE_FACTOR, arena),
                    torchVae.decode(latents, Vae.SD1_SCALE_FACTOR, arena), cases.view("vae.decoded"));
            System.out.printf("%s vs torch kernels: max difference / max|ref| unet.eps %.3g, text.hidden %.3g, "
                    + "vae.decoded %.3g (tolerance %.0e)%n", kernels.nativeName(), eps, text, decoded, TOLERANCE);
            assertTrue(eps <= TOLERANCE, "unet.eps: " + eps);
            assertTrue(text <= TOLERANCE, "text.hidden: " + text);
            assertTrue(decoded <= TOLERANCE, "vae.decoded: " + decoded);
        }
    }

    /** A fixed pseudo-random [shape] F32 tensor in [-1, 1). */
    private static TensorView noise(long seed, long... shape) {
        dev.atelier.engine.util.SplitMix64 r = new dev.atelier.engine.util.SplitMix64(seed);
        float[] f = new float[(int) java.util.Arrays.stream(shape).reduce(1, Math::multiplyExact)];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) ((r.next() >>> 11) * 0x1.0p-53 * 2 - 1);
        }
        return TensorView.ofFloats(arena, f, shape);
    }

    /**
     * Latents whose sides are not multiples of 8 (9x7: 9, 5, 3, 2 and 7, 4, 2, 1 down the
     * levels) run as in diffusers: a stride-2 convolution rounds an odd side up, and the up path
     * interpolates to each skip connection's size. The UNet's eps has the latents' shape and
     * Atelier's kernels agree with libtorch's on it within the parity tolerance; the VAE decodes
     * them to 8 times their size, also in agreement.
     */
    @Test
    void oddLatentSizesRunInBothNetworksAndKernelsAgree() {
        long n = cases.view("unet.x").shape()[0];
        TensorView x = noise(11, n, 4, 9, 7);
        TensorView context = cases.view("unet.context");
        try (UNet torch = UNet.create(model.unet(), unetParams().withKernels(OpKernel.TORCH));
                UNet auto = UNet.create(model.unet(), unetParams().withKernels(OpKernel.AUTO));
                Vae torchVae = Vae.create(model.vae(), VaeParams.defaults().withKernels(OpKernel.TORCH));
                Vae autoVae = Vae.create(model.vae(), VaeParams.defaults().withKernels(OpKernel.AUTO))) {
            TensorView ref = torch.forward(x, timesteps(), context, arena);
            assertArrayEquals(new long[] {n, 4, 9, 7}, ref.shape());
            for (float v : ref.toFloatArray()) {
                assertTrue(Float.isFinite(v));
            }
            double eps = relativeDifference(auto.forward(x, timesteps(), context, arena), ref, ref);
            TensorView decodedRef = torchVae.decode(x, Vae.SD1_SCALE_FACTOR, arena);
            assertArrayEquals(new long[] {n, 3, 72, 56}, decodedRef.shape());
            double decoded = relativeDifference(autoVae.decode(x, Vae.SD1_SCALE_FACTOR, arena), decodedRef, decodedRef);
            System.out.printf("9x7 latents, auto vs torch kernels: unet.eps %.3g, vae.decoded %.3g%n", eps, decoded);
            assertTrue(eps <= TOLERANCE, "unet.eps: " + eps);
            assertTrue(decoded <= TOLERANCE, "vae.decoded: " + decoded);
        }
    }

    /**
     * Latents of 24x24 give the first level's transformers 576 tokens a sample, enough rows for the
     * feed-forward's GEGLU projection to be gated a chunk of rows at a time inside its GEMM
     * (ops::linear_geglu, taken where every thread gets chunks: up to 3 threads here). Atelier's
     * kernels still agree with libtorch's within the parity tolerance, in F32 and in BF16.
     */
    @Test
    void latentsLargeEnoughForTheFusedGegluAgreeWithLibtorch() {
        long n = cases.view("unet.x").shape()[0];
        TensorView x = noise(12, n, 4, 24, 24);
        TensorView context = cases.view("unet.context");
        for (DType compute : new DType[] {DType.F32, DType.BF16}) {
            try (UNet torch = UNet.create(model.unet(), unetParams().withComputeDtype(compute).withKernels(OpKernel.TORCH));
                    UNet auto = UNet.create(model.unet(), unetParams().withComputeDtype(compute).withKernels(OpKernel.AUTO))) {
                TensorView ref = torch.forward(x, timesteps(), context, arena);
                double eps = relativeDifference(auto.forward(x, timesteps(), context, arena), ref, ref);
                double tolerance = compute == DType.F32 ? TOLERANCE : BF16_TOLERANCE;
                System.out.printf("24x24 latents, %s, auto vs torch kernels: unet.eps %.3g (tolerance %.0e)%n",
                        compute, eps, tolerance);
                assertTrue(eps <= tolerance, compute + " unet.eps: " + eps);
            }
        }
    }

    @Test
    void f32WeightsAreUsedWithoutACopy() {
        // The native side holds the mapped address itself: nothing was copied on the way in.
        String name = "input_blocks.1.0.in_layers.2.weight";
        assertEquals(model.checkpoint().tensors().get(StableDiffusionWeights.UNET_PREFIX + name).data().address(),
                model.unet().address(name));
    }

    @Test
    void badWeightsGiveOneErrorListingEveryProblem() {
        String missing = "middle_block.1.proj_in.bias";
        String misShaped = "output_blocks.3.0.out_layers.3.weight";
        CheckpointTensors file = model.checkpoint();
        try (Weights w = new Weights()) {
            for (String full : file.tensors().keySet()) {
                if (!full.startsWith(StableDiffusionWeights.UNET_PREFIX)) {
                    continue;
                }
                String name = full.substring(StableDiffusionWeights.UNET_PREFIX.length());
                if (name.equals(missing)) {
                    continue;
                }
                TensorView v = file.tensors().get(full);
                if (name.equals(misShaped)) {
                    v = TensorView.of(v.data(), v.dtype(), v.shape()[0], v.shape()[1], 9); // [64, 64, 9]
                }
                w.add(name, v, file);
            }
            w.add("extra.weight", file.tensors().get(StableDiffusionWeights.UNET_PREFIX + "out.0.bias"), file);
            FormatException e = assertThrows(FormatException.class, () -> UNet.create(w, unetParams()));
            String m = e.getMessage();
            assertTrue(m.contains("3 problem(s)"), m);
            assertTrue(m.contains("missing " + missing), m);
            assertTrue(m.contains(misShaped + ": shape [64, 64, 9], expected [64, 64, 3, 3]"), m);
            assertTrue(m.contains("unexpected extra.weight"), m);
        }
    }

    @Test
    void bf16StoredWeightsAreConvertedForF32Compute() {
        // The text model's weights rounded to BF16 in memory (the top half of each float), as a
        // BF16 checkpoint would hold them; F32 compute converts each one once at creation.
        CheckpointTensors file = model.checkpoint();
        try (Weights w = new Weights()) {
            for (String full : file.tensors().keySet()) {
                if (!full.startsWith(StableDiffusionWeights.TEXT_PREFIX)) {
                    continue;
                }
                TensorView v = file.tensors().get(full);
                if (v.dtype() == DType.F32) {
                    v = toBf16(v);
                }
                w.add(full.substring(StableDiffusionWeights.TEXT_PREFIX.length()), v, null);
            }
            try (TextEncoder te = TextEncoder.create(w, textParams())) {
                assertClose("bf16-stored text.hidden", te.forward(cases.view("text.input_ids"), 1, arena),
                        cases.view("text.hidden"), 0.05);
            }
        }
    }

    private static TensorView toBf16(TensorView v) {
        long n = v.numel();
        MemorySegment out = arena.allocate(n * 2, 64);
        for (long i = 0; i < n; i++) {
            int bits = v.data().getAtIndex(ValueLayout.JAVA_INT_UNALIGNED, i);
            bits += 0x7FFF + ((bits >>> 16) & 1); // round to nearest even
            out.setAtIndex(ValueLayout.JAVA_SHORT, i, (short) (bits >>> 16));
        }
        return TensorView.of(out, DType.BF16, v.shape());
    }

    @Test
    void clipSkipOutsideTheLayersIsRefused() {
        try (TextEncoder te = TextEncoder.create(model.textEncoder(), textParams())) {
            InvalidInputException e = assertThrows(InvalidInputException.class,
                    () -> te.forward(cases.view("text.input_ids"), 3, arena));
            assertTrue(e.getMessage().contains("clip_skip 3"), e.getMessage());
        }
    }

    @Test
    void configThatDisagreesWithTheWeightsIsRefused() {
        UNetParams p = new UNetParams(DType.F32, 4, -1, 4, 4, 320, 2, 768, 1, new int[] {1, 2, 4, 4},
                new boolean[] {true, true, true, false}, OpKernel.AUTO, Device.CPU);
        FormatException e = assertThrows(FormatException.class, () -> UNet.create(model.unet(), p));
        assertTrue(e.getMessage().contains("model_channels=320"), e.getMessage());
    }
}
