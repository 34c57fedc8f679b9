package dev.atelier.engine.embed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.DType;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.safetensors.TensorInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * RandomMobileNetV3 writes torchvision's MobileNetV3-Large state dict layout (checked
 * against the fixture written by torchvision), with torchvision's initialisation statistics, the
 * same bytes for the same seed, and weights both backends run to finite, varied features.
 */
class RandomMobileNetV3Test {
    @TempDir
    static Path dir;
    static Path weights;
    static final MobilenetFixture FIXTURE = new MobilenetFixture();

    @BeforeAll
    static void write() {
        weights = dir.resolve("mnv3-random.safetensors");
        RandomMobileNetV3.write(weights, 42);
    }

    @Test
    void namesShapesAndDtypesAreTorchvisions() {
        try (SafeTensorsFile ours = SafeTensorsFile.open(weights); SafeTensorsFile tv = SafeTensorsFile.open(FIXTURE.weights)) {
            Map<String, String> want = layout(tv), got = layout(ours);
            assertEquals(312, want.size());
            assertEquals(want.keySet(), got.keySet());
            want.forEach((name, layout) -> assertEquals(layout, got.get(name), name));
        }
    }

    private static Map<String, String> layout(SafeTensorsFile f) {
        Map<String, String> out = new TreeMap<>();
        for (Map.Entry<String, TensorInfo> e : f.tensors().entrySet()) {
            out.put(e.getKey(), e.getValue().dtype() + java.util.Arrays.toString(e.getValue().shape()));
        }
        return out;
    }

    @Test
    void statisticsAreTorchvisionsInit() {
        try (SafeTensorsFile f = SafeTensorsFile.open(weights)) {
            // kaiming_normal_(mode="fan_out"): std sqrt(2 / (out * kh * kw)). Relative standard
            // error of a sample std is 1/sqrt(2n): 0.2% to 0.6% for these sizes; allow 3%.
            assertStd(f, "features.16.0.weight", Math.sqrt(2.0 / 960), 0.03);           // 1x1, 153,600 values
            assertStd(f, "features.14.block.1.0.weight", Math.sqrt(2.0 / (960 * 25)), 0.03); // depthwise 5x5
            assertStd(f, "features.0.0.weight", Math.sqrt(2.0 / (16 * 9)), 0.15);      // stem: 432 values
            assertStd(f, "features.13.block.2.fc1.weight", Math.sqrt(2.0 / 168), 0.03); // SE conv
            assertStd(f, "classifier.0.weight", 0.01, 0.03);                            // Linear N(0, 0.01)
            assertStd(f, "classifier.3.weight", 0.01, 0.03);
            for (Map.Entry<String, TensorInfo> e : f.tensors().entrySet()) {
                String n = e.getKey();
                if (n.endsWith("num_batches_tracked")) {
                    assertEquals(DType.I64, e.getValue().dtype());
                    assertEquals(0L, f.view(n).data().get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0), n);
                } else if (n.endsWith(".bias") || n.endsWith("running_mean")) {
                    assertAll(f.view(n).toFloatArray(), 0f, n);
                } else if (n.endsWith("running_var") || isBatchNormWeight(f, n)) {
                    assertAll(f.view(n).toFloatArray(), 1f, n);
                }
            }
        }
    }

    private static boolean isBatchNormWeight(SafeTensorsFile f, String name) {
        return name.endsWith(".weight") && f.contains(name.replace(".weight", ".running_var"));
    }

    private static void assertAll(float[] values, float want, String name) {
        for (float v : values) {
            assertEquals(want, v, name);
        }
    }

    private static void assertStd(SafeTensorsFile f, String name, double want, double relative) {
        float[] w = f.view(name).toFloatArray();
        double sum = 0, squares = 0;
        for (float v : w) {
            sum += v;
            squares += (double) v * v;
        }
        double mean = sum / w.length, std = Math.sqrt(squares / w.length - mean * mean);
        System.out.printf("%s: std %.5g, want %.5g (%+.2f%%), mean %.2g%n", name, std, want, 100 * (std / want - 1), mean);
        assertEquals(want, std, relative * want, name + " std");
        assertEquals(0, mean, 4 * want / Math.sqrt(w.length), name + " mean");
    }

    @Test
    void sameSeedSameBytesOtherSeedOtherWeights(@TempDir Path tmp) throws IOException {
        Path again = tmp.resolve("again.safetensors"), other = tmp.resolve("other.safetensors");
        RandomMobileNetV3.write(again, 42);
        RandomMobileNetV3.write(other, 43);
        assertEquals(-1L, Files.mismatch(weights, again));
        try (SafeTensorsFile a = SafeTensorsFile.open(weights); SafeTensorsFile b = SafeTensorsFile.open(other)) {
            for (String n : a.tensors().keySet()) {
                if (n.endsWith(".weight") && !isBatchNormWeight(a, n)) {
                    assertTrue(!java.util.Arrays.equals(a.view(n).toFloatArray(), b.view(n).toFloatArray()), n);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void embedsTheFixtureImagesToFiniteVariedFeatures(Backend backend) {
        float[][] rows;
        try (ImageEmbedder e = ImageEmbedder.open(weights, backend, EmbedderOptions.defaults())) {
            assertEquals(960, e.dim());
            rows = e.embedPaths(FIXTURE.images, null);
        }
        assertEquals(FIXTURE.count(), rows.length);
        for (int i = 0; i < rows.length; i++) {
            double min = Double.MAX_VALUE, max = -Double.MAX_VALUE;
            for (float v : rows[i]) {
                assertTrue(Float.isFinite(v), backend + " image " + i + ": " + v);
                min = Math.min(min, v);
                max = Math.max(max, v);
            }
            assertTrue(max > min, backend + " image " + i + ": constant feature " + min);
            for (int j = 0; j < i; j++) {
                assertTrue(!java.util.Arrays.equals(rows[i], rows[j]), "images " + j + " and " + i + " embed alike");
            }
        }
    }

    @Test
    void bothBackendsAgree() {
        float[][] torch, onnx;
        try (ImageEmbedder e = ImageEmbedder.open(weights, Backend.TORCH, EmbedderOptions.defaults())) {
            torch = e.embedPaths(FIXTURE.images, null);
        }
        try (ImageEmbedder e = ImageEmbedder.open(weights, Backend.ONNX, EmbedderOptions.defaults())) {
            onnx = e.embedPaths(FIXTURE.images, null);
        }
        assertEquals(torch.length, onnx.length);
        for (int i = 0; i < torch.length; i++) {
            double err = MobilenetFixture.maxAbsDiff(torch[i], onnx[i]), scale = MobilenetFixture.maxAbs(torch[i]);
            assertTrue(err <= 1e-4 * scale, "image " + i + ": torch and onnx differ by " + err + " (max " + scale + ")");
        }
    }
}
