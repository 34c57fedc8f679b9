package dev.atelier.engine.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.NativeHandle;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.names.ModelLayout;
import dev.atelier.engine.sd.CheckpointTensors;
import dev.atelier.engine.sd.LdmConfig;
import dev.atelier.engine.sd.Sampling;
import dev.atelier.engine.sd.StableDiffusionWeights;
import dev.atelier.engine.sd.TextEncoder;
import dev.atelier.engine.sd.UNet;
import dev.atelier.engine.testing.Fixtures;
import dev.atelier.engine.testing.OneNativeThread;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A trainer uses the networks it is attached to, and the networks read the checkpoint's mapped
 * memory: whatever order the owners close them in, or when they are dropped and the Cleaner
 * frees them in its own order, nothing reads freed memory, and everything is freed in the end.
 */
@ExtendWith(OneNativeThread.class)
class LoraTrainerOwnershipTest {
    private static final LdmConfig LDM = LdmConfig.load(Fixtures.sd15Tiny().resolve("model/model.yaml"));

    /** The checkpoint, both networks and a trainer on both; inputs for one step. */
    private static final class Setup {
        final StableDiffusionWeights weights = StableDiffusionWeights.open(Fixtures.sd15Tiny().resolve("model/model.safetensors"));
        final TextEncoder text = TextEncoder.create(weights.textEncoder(), LDM.text());
        final UNet unet = UNet.create(weights.unet(), LDM.unet());
        final LoraTrainer trainer;
        final TensorView latents;
        final TensorView ids;

        Setup(Arena arena) {
            ModelLayout layout = ModelLayout.fromLdmNames(weights.checkpoint().tensors().keySet());
            List<LoraModule> modules = LoraTargets.select(weights.checkpoint().tensors(), layout, 1,
                    text.config().layers(), 4, 2f, 0, 1f);
            assertTrue(modules.stream().anyMatch(LoraModule::textEncoder), "no text encoder module");
            trainer = LoraTrainer.create(unet, text, modules, Sampling.alphasCumprod(LDM, arena),
                    LoraTrainer.StepOptions.defaults(3));
            Random rng = new Random(8);
            float[] x = new float[2 * 4 * 8 * 8];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) rng.nextGaussian();
            }
            latents = TensorView.ofFloats(arena, x, 2, 4, 8, 8);
            long[] tokens = new long[2 * 77];
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = i % 77 == 0 ? 0 : 1 + rng.nextInt(100);
            }
            ids = TensorView.of(arena.allocateFrom(ValueLayout.JAVA_LONG, tokens), DType.I64, 2, 77);
        }

        /** The loss of the same pass; it runs the text encoder and the UNet with the adapters. */
        float loss() {
            return trainer.accumulate(latents, null, ids, 5, 1f);
        }
    }

    /** Every order of closing the checkpoint, the two networks and the trainer. */
    @Test
    void closingInAnyOrderKeepsWhatTheOthersUse() {
        List<int[]> orders = new ArrayList<>();
        permutations(new int[] {0, 1, 2, 3}, 0, orders);
        for (int[] order : orders) {
            try (Arena arena = Arena.ofConfined()) {
                Setup s = new Setup(arena);
                CheckpointTensors checkpoint = s.weights.checkpoint();
                float expected = s.loss();
                assertTrue(Float.isFinite(expected));
                List<AutoCloseable> owners = List.of(s.weights, s.text, s.unet, s.trainer);
                StringBuilder done = new StringBuilder();
                for (int k : order) {
                    close(owners.get(k));
                    done.append(k == 0 ? "checkpoint " : k == 1 ? "text encoder " : k == 2 ? "unet " : "trainer ");
                    if (!s.trainer.isClosed()) {
                        // The trainer still runs both networks on the mapped weights.
                        assertEquals(expected, s.loss(), 0f, "after closing " + done);
                    }
                }
                // The last holder is gone: the file is unmapped.
                assertThrows(IllegalStateException.class, checkpoint::retain, "still mapped after closing " + done);
            }
        }
    }

    /** Handles dropped without close(): the Cleaner frees them in whatever order, the trainer's dependencies last. */
    @Test
    void droppedHandlesAreFreedByTheCleanerInASafeOrder() throws InterruptedException {
        long leakedBefore = NativeHandle.leakedCount();
        CheckpointTensors checkpoint;
        try (Arena arena = Arena.ofConfined()) {
            checkpoint = dropAllButTheCheckpoint(arena);
            for (int round = 0; round < 500; round++) {
                System.gc();
                Thread.sleep(10);
                if (!mapped(checkpoint)) {
                    break;
                }
            }
        }
        assertTrue(!mapped(checkpoint), "the networks or the trainer were never freed");
        assertTrue(NativeHandle.leakedCount() >= leakedBefore + 3,
                "leaks reported: " + (NativeHandle.leakedCount() - leakedBefore));
    }

    /** Builds everything, trains one step, closes only the checkpoint's opener and drops the rest. */
    private static CheckpointTensors dropAllButTheCheckpoint(Arena arena) {
        Setup s = new Setup(arena);
        assertTrue(Float.isFinite(s.loss()));
        s.trainer.update(1, 1e-3f, 1e-3f);
        s.weights.close(); // the networks and the trainer are never closed
        return s.weights.checkpoint();
    }

    private static boolean mapped(CheckpointTensors checkpoint) {
        try {
            checkpoint.retain();
        } catch (IllegalStateException e) {
            return false;
        }
        checkpoint.release();
        return true;
    }

    private static void close(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    private static void permutations(int[] a, int k, List<int[]> out) {
        if (k == a.length) {
            out.add(a.clone());
            return;
        }
        for (int i = k; i < a.length; i++) {
            int t = a[k];
            a[k] = a[i];
            a[i] = t;
            permutations(a, k + 1, out);
            a[i] = a[k];
            a[k] = t;
        }
    }
}
