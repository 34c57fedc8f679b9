package dev.atelier.engine.lora;

import dev.atelier.engine.testing.MaxError;
import static dev.atelier.engine.testing.MaxError.assertClose;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.lora.LoraKeys.Network;
import dev.atelier.engine.names.NameConverter;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.safetensors.SafeTensorsWriter;
import dev.atelier.engine.sd.StableDiffusionWeights;
import dev.atelier.engine.sd.TextEncoder;
import dev.atelier.engine.sd.TextEncoderParams;
import dev.atelier.engine.sd.UNet;
import dev.atelier.engine.sd.UNetParams;
import dev.atelier.engine.testing.Fixtures;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * LoRA parity on the sd15-tiny fixtures: lora_kohya.safetensors at multiplier 0.8
 * (cases.safetensors meta.lora) gives lora.text.hidden and lora.unet.eps within 1e-4 of max|ref|,
 * merged and unmerged; clearing restores the base outputs bit for bit; a batch whose samples use
 * different LoRAs equals the samples run separately; the diffusers and PEFT namings of the same
 * adapters give the same outputs; unmatched keys are reported; a LoRA for another architecture is
 * a clear error.
 */
class LoraParityTest {
    private static final double TOLERANCE = 1e-4;
    private static final float MULTIPLIER = 0.8f; // meta.lora.multiplier
    private static StableDiffusionWeights model;
    private static SafeTensorsFile cases;
    private static LoraKeys keys;
    private static Arena arena;

    @BeforeAll
    static void open() {
        model = StableDiffusionWeights.open(Fixtures.sd15Tiny().resolve("model/model.safetensors"));
        cases = SafeTensorsFile.open(Fixtures.sd15Tiny().resolve("cases.safetensors"));
        keys = new LoraKeys(NameConverter.sd15(), model.checkpoint().tensors().keySet());
        arena = Arena.ofShared();
    }

    @AfterAll
    static void close() {
        arena.close();
        cases.close();
        model.close();
    }

    private static Path kohyaPath() {
        return Fixtures.sd15Tiny().resolve("lora_kohya.safetensors");
    }

    private static TextEncoder textEncoder() {
        return TextEncoder.create(model.textEncoder(), TextEncoderParams.defaults().withNumHeads(2));
    }

    private static UNet unet() {
        return UNet.create(model.unet(), UNetParams.defaults().withHeads(4, -1));
    }

    private static TensorView timesteps() {
        TensorView t = cases.view("unet.t");
        float[] f = new float[(int) t.numel()];
        for (int i = 0; i < f.length; i++) {
            f[i] = t.data().getAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i);
        }
        return TensorView.ofFloats(arena, f, f.length);
    }

    private static TensorView eps(UNet u) {
        return u.forward(cases.view("unet.x"), timesteps(), cases.view("unet.context"), arena);
    }

    /**
     * lora.unet.eps is the UNet with the LoRA on the text encoder's output with the LoRA: unet.context
     * is text.hidden[0:2], so its LoRA counterpart is lora.text.hidden[0:2].
     */
    private static TensorView loraEps(UNet u) {
        TensorView h = cases.view("lora.text.hidden");
        long[] s = h.shape();
        TensorView context = TensorView.of(h.data().asSlice(0, 2 * s[1] * s[2] * 4), DType.F32, 2, s[1], s[2]);
        return u.forward(cases.view("unet.x"), timesteps(), context, arena);
    }

    private static TensorView hidden(TextEncoder te) {
        return te.forward(cases.view("text.input_ids"), 1, arena);
    }

    @Test
    void kohyaFileMapsEveryKey() {
        try (LoraFile f = LoraFile.open(kohyaPath(), keys)) {
            assertEquals(java.util.List.of(), f.unmatchedKeys());
            assertEquals(192, f.lora(Network.UNET).orElseThrow().count());
            assertEquals(12, f.lora(Network.TEXT_ENCODER).orElseThrow().count());
        }
    }

    @ParameterizedTest
    @EnumSource(LoraMode.class)
    void textEncoderMatchesMergedReference(LoraMode mode) {
        try (LoraFile f = LoraFile.open(kohyaPath(), keys); TextEncoder te = textEncoder()) {
            float[] base = hidden(te).toFloatArray();
            assertEquals(mode == LoraMode.MERGED ? -1 : 0,
                    te.applyLora(f.lora(Network.TEXT_ENCODER).orElseThrow(), MULTIPLIER, mode));
            assertClose("lora.text.hidden " + mode, hidden(te), cases.view("lora.text.hidden"), TOLERANCE);
            te.clearLora();
            assertArrayEquals(base, hidden(te).toFloatArray(), "clearing restores the base outputs bit for bit");
        }
    }

    @ParameterizedTest
    @EnumSource(LoraMode.class)
    void unetMatchesMergedReference(LoraMode mode) {
        try (LoraFile f = LoraFile.open(kohyaPath(), keys); UNet u = unet()) {
            float[] base = eps(u).toFloatArray();
            u.applyLora(f.lora(Network.UNET).orElseThrow(), MULTIPLIER, mode);
            assertClose("lora.unet.eps " + mode, loraEps(u), cases.view("lora.unet.eps"), TOLERANCE);
            u.clearLora();
            assertArrayEquals(base, eps(u).toFloatArray(), "clearing restores the base outputs bit for bit");
        }
    }

    /** Sample i of a batch with its own LoRA equals sample i run alone with that LoRA. */
    @Test
    void perSampleLorasInOneBatchEqualSeparateRuns() {
        try (LoraFile f = LoraFile.open(kohyaPath(), keys); UNet u = unet(); TextEncoder te = textEncoder()) {
            Lora ul = f.lora(Network.UNET).orElseThrow();
            assertEquals(0, u.applyLora(ul, MULTIPLIER, LoraMode.UNMERGED));
            assertEquals(1, u.applyLora(ul, -1.5f, LoraMode.UNMERGED));
            u.selectLora(1, 0);
            float[] batch = eps(u).toFloatArray();
            TensorView x = cases.view("unet.x"), c = cases.view("unet.context");
            float[] t = timesteps().toFloatArray();
            int[] slots = {1, 0};
            int per = batch.length / 2;
            for (int i = 0; i < 2; i++) {
                u.selectLora(slots[i]);
                float[] one = u.forward(sample(x, i), TensorView.ofFloats(arena, new float[] {t[i]}, 1), sample(c, i), arena)
                        .toFloatArray();
                assertArraysClose(java.util.Arrays.copyOfRange(batch, i * per, (i + 1) * per), one, "unet sample " + i);
            }
            // Slot 0 alone on both samples is the merged reference.
            u.selectLora(0, 0);
            assertClose("lora.unet.eps selected", loraEps(u), cases.view("lora.unet.eps"), TOLERANCE);

            Lora tl = f.lora(Network.TEXT_ENCODER).orElseThrow();
            te.applyLora(tl, MULTIPLIER, LoraMode.UNMERGED);
            te.applyLora(tl, -1.5f, LoraMode.UNMERGED);
            int[] textSlots = {0, -1, 1, 0};
            te.selectLora(textSlots);
            float[] hb = hidden(te).toFloatArray();
            TensorView ids = cases.view("text.input_ids");
            int perText = hb.length / 4;
            for (int i = 0; i < 4; i++) {
                te.selectLora(textSlots[i]);
                float[] one = te.forward(sample(ids, i), 1, arena).toFloatArray();
                assertArraysClose(java.util.Arrays.copyOfRange(hb, i * perText, (i + 1) * perText), one, "text sample " + i);
            }
            te.selectLora(-1, -1, -1, -1);
            assertClose("text.hidden with no LoRA selected", hidden(te), cases.view("text.hidden"), TOLERANCE);
            assertThrows(InvalidInputException.class, () -> te.selectLora(2));
        }
    }

    private static TensorView sample(TensorView v, int i) {
        long[] shape = v.shape().clone();
        long per = v.numel() / shape[0];
        shape[0] = 1;
        long bytes = per * v.dtype().byteSize();
        return TensorView.of(v.data().asSlice(i * bytes, bytes), v.dtype(), shape);
    }

    private static void assertArraysClose(float[] expected, float[] got, String what) {
        double err = 0, scale = 0;
        for (int i = 0; i < expected.length; i++) {
            err = Math.max(err, Math.abs(expected[i] - got[i]));
            scale = Math.max(scale, Math.abs(expected[i]));
        }
        System.out.printf("%s: batch vs alone max diff / max = %.3g%n", what, err / scale);
        assertTrue(err <= 1e-5 * scale, what + ": " + err);
    }

    /** The same adapters under diffusers, PEFT and LDM-style kohya names load and give the same outputs. */
    @ParameterizedTest
    @EnumSource(Naming.class)
    void otherNamingsGiveTheSameOutputs(Naming naming, @TempDir Path dir) {
        Path file = dir.resolve("lora.safetensors");
        rewrite(file, naming);
        // diffusers and PEFT files carry no alpha: scale = multiplier (alpha = rank); kohya's is 2/4.
        float m = naming == Naming.KOHYA_LDM ? MULTIPLIER : MULTIPLIER * 2f / 4f;
        try (LoraFile f = LoraFile.open(file, keys); UNet u = unet(); TextEncoder te = textEncoder()) {
            assertEquals(java.util.List.of(), f.unmatchedKeys());
            u.applyLora(f.lora(Network.UNET).orElseThrow(), m, LoraMode.UNMERGED);
            te.applyLora(f.lora(Network.TEXT_ENCODER).orElseThrow(), m, LoraMode.MERGED);
            assertClose("lora.unet.eps " + naming, loraEps(u), cases.view("lora.unet.eps"), TOLERANCE);
            assertClose("lora.text.hidden " + naming, hidden(te), cases.view("lora.text.hidden"), TOLERANCE);
        }
    }

    enum Naming {
        DIFFUSERS, PEFT, KOHYA_LDM
    }

    // Renames every kohya key of the fixture through the name table.
    private static void rewrite(Path target, Naming naming) {
        NameConverter names = NameConverter.sd15();
        Map<String, String> kohya = names.kohyaIndex(model.checkpoint().tensors().keySet());
        try (SafeTensorsFile src = SafeTensorsFile.open(kohyaPath())) {
            SafeTensorsWriter w = new SafeTensorsWriter();
            for (String key : src.tensors().keySet()) {
                int dot = key.indexOf('.');
                String module = key.substring(0, dot), part = key.substring(dot + 1);
                String ldm = kohya.get(module);
                String diffusers = names.toDiffusers(ldm).orElseThrow().name();
                String name = switch (naming) {
                    case DIFFUSERS -> part.equals("alpha") ? null
                            : diffusers + (part.startsWith("lora_down") ? ".lora.down.weight" : ".lora.up.weight");
                    case PEFT -> part.equals("alpha") ? null
                            : "base_model.model." + diffusers.substring(diffusers.indexOf('.') + 1)
                                    + (part.startsWith("lora_down") ? ".lora_A.weight" : ".lora_B.weight");
                    case KOHYA_LDM -> ldm.startsWith(StableDiffusionWeights.UNET_PREFIX)
                            ? "lora_unet_" + ldm.substring(StableDiffusionWeights.UNET_PREFIX.length()).replace('.', '_')
                                    + "." + part
                            : key;
                };
                if (name != null) {
                    w.add(name, src.view(key));
                }
            }
            w.write(target);
        }
    }

    @Test
    void unmatchedKeysAreReportedNotDropped(@TempDir Path dir) {
        Path file = dir.resolve("extra.safetensors");
        copyWith(file, w -> w.add("lora_unet_no_such_layer.lora_down.weight", randomView(new Random(1), 4, 32))
                .add("something_else", randomView(new Random(2), 3)));
        try (LoraFile f = LoraFile.open(file, keys)) {
            assertEquals(java.util.Set.of("lora_unet_no_such_layer.lora_down.weight", "something_else"),
                    java.util.Set.copyOf(f.unmatchedKeys()));
            assertEquals(192, f.lora(Network.UNET).orElseThrow().count());
        }
    }

    @Test
    void anotherArchitectureIsAClearError(@TempDir Path dir) {
        Path sdxl = dir.resolve("sdxl.safetensors");
        copyWith(sdxl, w -> w.add("lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight",
                randomView(new Random(3), 4, 32)));
        FormatException e = assertThrows(FormatException.class, () -> LoraFile.open(sdxl, keys).close());
        assertTrue(e.getMessage().contains("SDXL"), e.getMessage());

        Path nothing = dir.resolve("nothing.safetensors");
        new SafeTensorsWriter().add("lora_unet_foo.lora_down.weight", randomView(new Random(4), 4, 8)).write(nothing);
        assertThrows(FormatException.class, () -> LoraFile.open(nothing, keys).close());

        // Right names, wrong widths (an SD2/SDXL-sized layer): refused at apply, network unchanged.
        Path wide = dir.resolve("wide.safetensors");
        new SafeTensorsWriter()
                .add("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight",
                        randomView(new Random(5), 4, 1024))
                .add("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight",
                        randomView(new Random(6), 32, 4))
                .write(wide);
        try (LoraFile f = LoraFile.open(wide, keys); UNet u = unet()) {
            float[] base = eps(u).toFloatArray();
            InvalidInputException ex = assertThrows(InvalidInputException.class,
                    () -> u.applyLora(f.lora(Network.UNET).orElseThrow(), 1f, LoraMode.MERGED));
            assertTrue(ex.getMessage().contains("another architecture") && ex.getMessage().contains("attn2.to_k"),
                    ex.getMessage());
            assertArrayEquals(base, eps(u).toFloatArray());
        }
    }

    /** LoCon on a 3x3 conv: unmerged (two convs at run time) equals merged (flattened kernels). */
    @Test
    void convLoraMergedEqualsUnmerged(@TempDir Path dir) {
        Path file = dir.resolve("locon.safetensors");
        Random rnd = new Random(7);
        new SafeTensorsWriter()
                .add("lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight", randomView(rnd, 4, 32, 3, 3))
                .add("lora_unet_down_blocks_0_resnets_0_conv1.lora_up.weight", randomView(rnd, 32, 4, 1, 1))
                .add("lora_unet_down_blocks_0_resnets_0_conv1.alpha", TensorView.ofFloats(arena, new float[] {2f}))
                .write(file);
        try (LoraFile f = LoraFile.open(file, keys); UNet u = unet()) {
            Lora l = f.lora(Network.UNET).orElseThrow();
            float[] base = eps(u).toFloatArray();
            u.applyLora(l, 0.7f, LoraMode.MERGED);
            TensorView merged = eps(u);
            u.clearLora();
            u.applyLora(l, 0.7f, LoraMode.UNMERGED);
            TensorView unmerged = eps(u);
            assertClose("LoCon unmerged vs merged", unmerged, merged, 1e-5);
            assertTrue(MaxError.relative(merged, TensorView.ofFloats(arena, base, merged.shape())) > 1e-3,
                    "the LoCon changes the output");
        }
    }

    private static TensorView randomView(Random rnd, long... shape) {
        float[] v = new float[(int) TensorView.numel(shape)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (rnd.nextGaussian() * 0.1);
        }
        return TensorView.ofFloats(arena, v, shape);
    }

    private static void copyWith(Path target, UnaryOperator<SafeTensorsWriter> extra) {
        try (SafeTensorsFile src = SafeTensorsFile.open(kohyaPath())) {
            SafeTensorsWriter w = new SafeTensorsWriter();
            for (String key : src.tensors().keySet()) {
                w.add(key, src.view(key));
            }
            extra.apply(w).write(target);
        }
    }
}
