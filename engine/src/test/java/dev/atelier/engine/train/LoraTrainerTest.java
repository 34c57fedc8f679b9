package dev.atelier.engine.train;

import dev.atelier.engine.testing.MaxError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.core.Weights;
import dev.atelier.engine.names.ModelLayout;
import dev.atelier.engine.names.NameConverter;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.sd.LdmConfig;
import dev.atelier.engine.sd.Sampling;
import dev.atelier.engine.sd.StableDiffusionWeights;
import dev.atelier.engine.sd.UNet;
import dev.atelier.engine.testing.Fixtures;
import dev.atelier.engine.testing.OneNativeThread;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The native step through its Java wrapper: a LoRA file written after training, loaded back
 * through the kohya name table and merged into the base weights (W += alpha/rank * up @ down,
 * kohya's merge), reproduces the trained model's UNet output; closing the trainer restores the
 * base model.
 */
@ExtendWith(OneNativeThread.class)
class LoraTrainerTest {
    private static final double TOLERANCE = 1e-4; // within 1e-4 of max|ref|

    @TempDir
    Path tmp;

    private static TensorView random(Arena arena, Random rng, long... shape) {
        float[] v = new float[(int) TensorView.numel(shape)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) rng.nextGaussian();
        }
        return TensorView.ofFloats(arena, v, shape);
    }

    @Test
    void savedLoraMergedIntoTheBaseReproducesTheTrainedUNet() {
        LdmConfig ldm = LdmConfig.load(Fixtures.sd15Tiny().resolve("model/model.yaml"));
        Path file = tmp.resolve("trained.safetensors");
        Random rng = new Random(5);
        try (StableDiffusionWeights w = StableDiffusionWeights.open(Fixtures.sd15Tiny().resolve("model/model.safetensors"));
                Arena arena = Arena.ofConfined();
                UNet unet = UNet.create(w.unet(), ldm.unet())) {
            TensorView x = random(arena, rng, 2, 4, 8, 8);
            TensorView t = TensorView.ofFloats(arena, new float[] {10, 700}, 2);
            TensorView ctx = random(arena, rng, 2, 77, 32);
            float[] base = unet.forward(x, t, ctx, arena).toFloatArray();
            ModelLayout layout = ModelLayout.fromLdmNames(w.checkpoint().tensors().keySet());
            List<LoraModule> modules = LoraTargets.select(w.checkpoint().tensors(), layout, 1, 0, 4, 2f, 2, 1f);
            float[] trained;
            try (LoraTrainer trainer = LoraTrainer.create(unet, null, modules, Sampling.alphasCumprod(ldm, arena),
                    LoraTrainer.StepOptions.defaults(9))) {
                for (int step = 1; step <= 3; step++) {
                    float loss = trainer.accumulate(random(arena, rng, 2, 4, 8, 8), ctx, null, step, 1f);
                    assertTrue(Float.isFinite(loss));
                    trainer.update(step, 5e-3f, 0f);
                }
                trained = unet.forward(x, t, ctx, arena).toFloatArray();
                KohyaLoraWriter.write(trainer, Map.of("ss_network_module", "networks.lora"), file);
            }
            double changed = MaxError.relative(trained, base);
            System.out.printf("trained vs base UNet output: %.3g of max|base|%n", changed);
            assertTrue(changed > 1e-3, "training did not change the UNet output");
            // Closing the trainer removed its adapters.
            assertEquals(0.0, MaxError.relative(unet.forward(x, t, ctx, arena).toFloatArray(), base), 0.0);

            try (Weights merged = mergedUNet(w, file, layout, arena); UNet loaded = UNet.create(merged, ldm.unet())) {
                double e = MaxError.relative(loaded.forward(x, t, ctx, arena).toFloatArray(), trained);
                System.out.printf("merged file vs trained UNet output: %.3g of max|ref| (tolerance %.0e)%n", e, TOLERANCE);
                assertTrue(e <= TOLERANCE, "merged LoRA differs from the trained model: " + e);
            }
        }
    }

    /** Losses of 4 updates, AdamW's first moment after update 2, and the trained UNet's output. */
    private record TinyRun(float[] losses, float[] moment, float[] output) {}

    /** Trains the tiny model's UNet LoRA for 4 updates; select: a "no LoRA" selection set first. */
    private static TinyRun trainTiny(long seed, LoraTrainer.StepOptions options, boolean select) {
        LdmConfig ldm = LdmConfig.load(Fixtures.sd15Tiny().resolve("model/model.yaml"));
        Random rng = new Random(seed);
        try (StableDiffusionWeights w = StableDiffusionWeights.open(Fixtures.sd15Tiny().resolve("model/model.safetensors"));
                Arena arena = Arena.ofConfined();
                UNet unet = UNet.create(w.unet(), ldm.unet())) {
            if (select) {
                unet.selectLora(-1, -1); // "no LoRA" for both samples of a generation batch
            }
            TensorView x = random(arena, rng, 2, 4, 8, 8);
            TensorView t = TensorView.ofFloats(arena, new float[] {10, 700}, 2);
            TensorView ctx = random(arena, rng, 2, 77, 32);
            ModelLayout layout = ModelLayout.fromLdmNames(w.checkpoint().tensors().keySet());
            List<LoraModule> modules = LoraTargets.select(w.checkpoint().tensors(), layout, 1, 0, 4, 2f, 2, 1f);
            float[] losses = new float[4];
            float[] moment = null;
            try (LoraTrainer trainer = LoraTrainer.create(unet, null, modules, Sampling.alphasCumprod(ldm, arena), options)) {
                for (int step = 1; step <= 4; step++) {
                    losses[step - 1] = trainer.accumulate(random(arena, rng, 2, 4, 8, 8), ctx, null, step, 1f);
                    trainer.update(step, 5e-3f, 0f);
                    if (step == 2) { // the first step with gradients for both down and up (up starts at 0)
                        moment = trainer.state(false, LoraTrainer.StateKind.EXP_AVG, arena).toFloatArray();
                    }
                }
                return new TinyRun(losses, moment, unet.forward(x, t, ctx, arena).toFloatArray());
            }
        }
    }

    /**
     * A per-sample LoRA selection set for generation neither masks the trainer's adapters during
     * its steps nor in what the network renders while the trainer exists: the loss curve and the
     * trained output equal those of the same run without a selection.
     */
    @Test
    void theTrainersAdaptersApplyWhateverTheSampleSelection() {
        TinyRun plain = trainTiny(11, LoraTrainer.StepOptions.defaults(9), false);
        TinyRun selected = trainTiny(11, LoraTrainer.StepOptions.defaults(9), true);
        System.out.printf("without selection %s%nwith selection    %s%n", java.util.Arrays.toString(plain.losses()),
                java.util.Arrays.toString(selected.losses()));
        org.junit.jupiter.api.Assertions.assertArrayEquals(plain.losses(), selected.losses(), "loss curve changed by the selection");
        assertEquals(0.0, MaxError.relative(selected.output(), plain.output()), 0.0, "the selection masked the trained adapters");
    }

    /**
     * Atelier's fused LoRA forward and backward (the default where they apply) train the same
     * adapters as plain libtorch ops: the same loss curve, the same gradients (AdamW's first
     * moment, which unlike the update is not invariant to the gradient's scale) and the same trained
     * UNet output, within F32 rounding carried through AdamW.
     */
    @Test
    void fusedKernelsTrainLikeLibtorchOps() {
        TinyRun fused = trainTiny(17, LoraTrainer.StepOptions.defaults(9).withFusedKernels(true), false);
        TinyRun ops = trainTiny(17, LoraTrainer.StepOptions.defaults(9).withFusedKernels(false), false);
        double g = MaxError.relative(fused.moment(), ops.moment());
        System.out.printf("fused vs libtorch gradient moments: %.3g of max|ref|%n", g);
        assertTrue(g <= 1e-3, "fused gradients differ from libtorch's: " + g);
        System.out.printf("fused   %s%nlibtorch %s%n", java.util.Arrays.toString(fused.losses()),
                java.util.Arrays.toString(ops.losses()));
        for (int i = 0; i < fused.losses().length; i++) {
            assertEquals(ops.losses()[i], fused.losses()[i], 1e-4 * Math.abs(ops.losses()[i]), "loss of step " + (i + 1));
        }
        double e = MaxError.relative(fused.output(), ops.output());
        System.out.printf("fused vs libtorch trained UNet output: %.3g of max|ref| (tolerance %.0e)%n", e, TOLERANCE);
        assertTrue(e <= TOLERANCE, "fused training differs from libtorch ops: " + e);
    }

    /** The checkpoint's UNet tensors with the LoRA file merged in: W += alpha/rank * up @ down. */
    private static Weights mergedUNet(StableDiffusionWeights w, Path file, ModelLayout layout, Arena arena) {
        Map<String, TensorView> replaced = new HashMap<>();
        try (SafeTensorsFile lora = SafeTensorsFile.open(file)) {
            Map<String, String> index = new NameConverter(layout).kohyaIndex(w.checkpoint().tensors().keySet());
            for (String name : lora.tensors().keySet()) {
                if (!name.endsWith(".alpha")) {
                    continue;
                }
                String kohya = name.substring(0, name.length() - ".alpha".length());
                String ldm = index.get(kohya);
                assertTrue(ldm != null, "file module " + kohya + " matches no model module");
                TensorView base = w.checkpoint().tensors().get(ldm + ".weight");
                TensorView down = lora.view(kohya + ".lora_down.weight"), up = lora.view(kohya + ".lora_up.weight");
                float alpha = lora.view(name).toFloatArray()[0];
                long rank = down.shape()[0];
                long out = up.shape()[0];
                long in = down.numel() / rank; // [r, in, k, k] flattened: in * k * k
                float[] wv = base.toFloatArray(), d = down.toFloatArray(), u = up.toFloatArray();
                assertEquals(out * in, wv.length, ldm);
                float scale = alpha / rank;
                for (int o = 0; o < out; o++) {
                    for (int i = 0; i < in; i++) {
                        double s = 0;
                        for (int r = 0; r < rank; r++) {
                            s += (double) u[(int) (o * rank + r)] * d[(int) (r * in + i)];
                        }
                        wv[(int) (o * in + i)] += (float) (scale * s);
                    }
                }
                replaced.put(ldm.substring(StableDiffusionWeights.UNET_PREFIX.length()) + ".weight",
                        TensorView.ofFloats(arena, wv, base.shape()));
            }
        }
        assertTrue(replaced.size() > 100, "few modules merged: " + replaced.size());
        Weights merged = new Weights();
        w.checkpoint().tensors().forEach((name, view) -> {
            if (name.startsWith(StableDiffusionWeights.UNET_PREFIX)) {
                String n = name.substring(StableDiffusionWeights.UNET_PREFIX.length());
                TensorView v = replaced.getOrDefault(n, view);
                assertEquals(DType.F32, v.dtype());
                merged.add(n, v, replaced.containsKey(n) ? null : w.checkpoint()); // arena: closed after merged
            }
        });
        return merged;
    }
}
