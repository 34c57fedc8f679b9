package dev.atelier.engine.embed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.AtelierException.CancelledException;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.Progress;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TorchEmbedderTest {
    private static final MobilenetFixture FIXTURE = new MobilenetFixture();

    /** The network on the reference input: pooled and logits within 1e-4 of max|ref|. */
    private static void checkNetwork(EmbedderOptions options, String label) {
        try (TorchEmbedder e = TorchEmbedder.open(FIXTURE.weights, options); Arena arena = Arena.ofConfined()) {
            TensorView input = TensorView.ofFloats(arena, FIXTURE.input, FIXTURE.count(), 3, 224, 224);
            TorchEmbedder.Outputs out = e.forward(input, true, true);
            double pooledErr = MobilenetFixture.maxAbsDiff(out.pooled(), FIXTURE.pooled);
            double logitsErr = MobilenetFixture.maxAbsDiff(out.logits(), FIXTURE.logits);
            double pooledTol = 1e-4 * MobilenetFixture.maxAbs(FIXTURE.pooled);
            double logitsTol = 1e-4 * MobilenetFixture.maxAbs(FIXTURE.logits);
            System.out.printf("network (%s): pooled max abs error %.3g (tolerance %.3g), logits %.3g (tolerance %.3g)%n",
                    label, pooledErr, pooledTol, logitsErr, logitsTol);
            assertTrue(pooledErr <= pooledTol, label + ": pooled error " + pooledErr + " > " + pooledTol);
            assertTrue(logitsErr <= logitsTol, label + ": logits error " + logitsErr + " > " + logitsTol);
            assertEquals(FIXTURE.count() * 1280, out.prelogits().length);
        }
    }

    @Test
    void networkMatchesTorchvisionWithFoldedBatchNorm() {
        checkNetwork(EmbedderOptions.defaults(), "folded BatchNorm");
    }

    @Test
    void networkMatchesTorchvisionWithSeparateBatchNorm() {
        checkNetwork(EmbedderOptions.defaults().withFoldBatchNorm(false), "separate BatchNorm");
    }

    @Test
    void networkMatchesTorchvisionInNchwOnTwoThreads() {
        checkNetwork(EmbedderOptions.defaults().withChannelsLast(false).withThreads(2), "NCHW, 2 threads");
    }

    @Test
    void endToEndFromImageFiles() {
        try (TorchEmbedder e = TorchEmbedder.open(FIXTURE.weights, EmbedderOptions.defaults().withBatchSize(3))) {
            List<long[]> reports = new ArrayList<>();
            float[][] features = e.embed(FIXTURE.images.stream().map(ImageInput::of).toList(),
                    (done, total) -> reports.add(new long[] {done, total}));
            assertEquals(2, reports.size()); // batches of 3 and 1
            assertEquals(FIXTURE.count(), reports.get(1)[0]);
            for (int i = 0; i < FIXTURE.count(); i++) {
                assertEquals(960, features[i].length);
                double cos = MobilenetFixture.cosine(features[i], MobilenetFixture.row(FIXTURE.pooled, i, 960));
                System.out.printf("end to end %s: cosine %.7f (needs >= 0.9995)%n", FIXTURE.images.get(i).getFileName(), cos);
                assertTrue(cos >= 0.9995, FIXTURE.images.get(i) + ": cosine " + cos);
            }
            try (TorchEmbedder p = TorchEmbedder.open(FIXTURE.weights, EmbedderOptions.defaults().withFeature(Feature.PRELOGITS))) {
                float[][] pre = p.embed(List.of(ImageInput.of(FIXTURE.images.get(0))), null);
                assertEquals(1280, pre[0].length);
            }
            assertEquals(1280, e.dim(Feature.PRELOGITS));
            assertEquals(1000, e.numClasses());
        }
    }

    @Test
    void embedFollowsTheConfiguredFeature() {
        try (TorchEmbedder e = TorchEmbedder.open(FIXTURE.weights, EmbedderOptions.defaults().withFeature(Feature.PRELOGITS))) {
            float[][] f = e.embedPaths(FIXTURE.images.subList(1, 3), Progress.NONE);
            assertEquals(2, f.length);
            assertEquals(1280, f[0].length);
            org.junit.jupiter.api.Assertions.assertArrayEquals(f[1], e.embedPaths(List.of(FIXTURE.images.get(2)), Progress.NONE)[0], 1e-6f);
        }
    }

    @Test
    void cancellingStopsBetweenBatches() {
        try (TorchEmbedder e = TorchEmbedder.open(FIXTURE.weights, EmbedderOptions.defaults().withBatchSize(1))) {
            assertThrows(CancelledException.class, () -> e.embed(
                    FIXTURE.images.stream().map(ImageInput::of).toList(), (done, total) -> done < 2));
        }
    }

    @Test
    void badImageFailsNamingTheFile(@TempDir Path dir) throws IOException {
        Path bad = dir.resolve("not-an-image.png");
        Files.writeString(bad, "hello");
        try (TorchEmbedder e = TorchEmbedder.open(FIXTURE.weights, EmbedderOptions.defaults())) {
            List<Path> paths = new ArrayList<>(FIXTURE.images);
            paths.add(1, bad);
            FormatException ex = assertThrows(FormatException.class, () -> e.embedPaths(paths, Progress.NONE));
            assertTrue(ex.getMessage().contains("not-an-image.png"), ex.getMessage());
        }
    }

    @Test
    void mismatchedWeightsListEveryProblem() {
        try (SafeTensorsFile file = SafeTensorsFile.open(FIXTURE.weights)) {
            Map<String, TensorView> tensors = new LinkedHashMap<>();
            for (String name : file.tensors().keySet()) {
                tensors.put(name, file.view(name));
            }
            tensors.remove("features.4.block.2.fc1.weight");
            tensors.put("classifier.0.weight", file.view("features.0.0.weight"));
            FormatException e = assertThrows(FormatException.class,
                    () -> new TorchEmbedder(tensors, file, EmbedderOptions.defaults()).close());
            assertTrue(e.getMessage().contains("2 problems"), e.getMessage());
            assertTrue(e.getMessage().contains("missing tensor features.4.block.2.fc1.weight [24, 72, 1, 1]"), e.getMessage());
            assertTrue(e.getMessage().contains("classifier.0.weight: shape [16, 3, 3, 3], expected [1280, 960]"), e.getMessage());
        }
    }

    @Test
    void concurrentCallsGiveTheSameFeatures() throws Exception {
        try (TorchEmbedder e = TorchEmbedder.open(FIXTURE.weights, EmbedderOptions.defaults().withBatchSize(2))) {
            float[][] alone = e.embedPaths(FIXTURE.images, Progress.NONE);
            var pool = java.util.concurrent.Executors.newFixedThreadPool(3);
            try {
                var futures = new ArrayList<java.util.concurrent.Future<float[][]>>();
                for (int t = 0; t < 3; t++) {
                    futures.add(pool.submit(() -> e.embedPaths(FIXTURE.images, Progress.NONE)));
                }
                for (var f : futures) {
                    float[][] got = f.get();
                    for (int i = 0; i < alone.length; i++) {
                        org.junit.jupiter.api.Assertions.assertArrayEquals(alone[i], got[i], 1e-6f);
                    }
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void wrongWeightsFileNamesTheFileAndTheProblem() {
        // A valid safetensors file that is not MobileNetV3: the expected outputs.
        Path notAModel = FIXTURE.dir.resolve("expected.safetensors");
        FormatException e = assertThrows(FormatException.class, () -> TorchEmbedder.open(notAModel, EmbedderOptions.defaults()));
        assertTrue(e.getMessage().startsWith(notAModel + ": weights do not match"), e.getMessage());
    }

    @Test
    void theEmbedderKeepsItsWeightsFileMappedUntilItCloses() {
        TorchEmbedder e;
        TensorView firstWeight;
        try (SafeTensorsFile file = SafeTensorsFile.open(FIXTURE.weights)) {
            Map<String, TensorView> tensors = new LinkedHashMap<>();
            for (String name : file.tensors().keySet()) {
                tensors.put(name, file.view(name));
            }
            e = new TorchEmbedder(tensors, file, EmbedderOptions.defaults());
            firstWeight = file.view("features.0.0.weight");
        } // the opener's close: the embedder still reads the mapping
        float before = firstWeight.data().get(java.lang.foreign.ValueLayout.JAVA_FLOAT, 0);
        assertEquals(960, e.embedPaths(List.of(FIXTURE.images.get(0)), Progress.NONE)[0].length);
        e.close();
        e.close();
        assertTrue(e.isClosed());
        // The embedder was the last holder: the file is unmapped now.
        assertThrows(IllegalStateException.class, () -> firstWeight.data().get(java.lang.foreign.ValueLayout.JAVA_FLOAT, 0),
                "mapping still readable after " + before);
    }

    @Test
    void forwardWithoutOptionalOutputs() {
        try (TorchEmbedder e = TorchEmbedder.open(FIXTURE.weights, EmbedderOptions.defaults()); Arena arena = Arena.ofConfined()) {
            TensorView input = TensorView.ofFloats(arena, MobilenetFixture.row(FIXTURE.input, 0, MobilenetFixture.PIXELS),
                    1, 3, 224, 224);
            TorchEmbedder.Outputs out = e.forward(input, false, false);
            assertNull(out.prelogits());
            assertNull(out.logits());
            assertTrue(MobilenetFixture.maxAbsDiff(out.pooled(), MobilenetFixture.row(FIXTURE.pooled, 0, 960))
                    <= 1e-4 * MobilenetFixture.maxAbs(FIXTURE.pooled));
        }
    }
}
