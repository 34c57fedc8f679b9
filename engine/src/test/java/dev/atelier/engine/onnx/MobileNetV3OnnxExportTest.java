package dev.atelier.engine.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.testing.Fixtures;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Atelier's own ONNX export of torchvision's MobileNetV3-Large, run by ONNX Runtime, against the
 * torchvision outputs in the fixture (random weights, IMAGENET1K_V1 preprocessing).
 */
class MobileNetV3OnnxExportTest {
    @TempDir
    static Path dir;
    static SafeTensorsFile weightsFile, expected;
    static Map<String, TensorView> weights;
    static Path onnx;

    @BeforeAll
    static void export() {
        Path fixture = Fixtures.sd15Tiny().resolve("mobilenet_v3_large");
        weightsFile = SafeTensorsFile.open(fixture.resolve("mobilenet_v3_large.safetensors"));
        expected = SafeTensorsFile.open(fixture.resolve("expected.safetensors"));
        weights = new HashMap<>();
        for (String name : weightsFile.tensors().keySet()) {
            weights.put(name, weightsFile.view(name));
        }
        onnx = dir.resolve("mobilenet_v3_large.onnx");
        MobileNetV3OnnxExport.write(onnx, weights);
    }

    @AfterAll
    static void closeFiles() {
        weightsFile.close();
        expected.close();
    }

    @Test
    void matchesTorchvisionOnTheFixtureInput() {
        try (OnnxImageModel model = OnnxImageModel.open(onnx, OnnxOptions.threads(1))) {
            assertEquals(List.of("pooled", "prelogits", "logits"), model.outputNames());
            assertArrayEquals(new long[] {-1, 3, 224, 224}, model.input().shape());
            // The input view is the read-only file mapping itself: ONNX Runtime reads it in place.
            Map<String, float[][]> out = model.run(expected.view("input"), List.of("pooled", "prelogits", "logits"));
            assertClose("pooled", expected.view("pooled"), out.get("pooled"));
            assertClose("logits", expected.view("logits"), out.get("logits"));
            assertEquals(4, out.get("prelogits").length);
            assertEquals(1280, out.get("prelogits")[0].length);
            assertArrayEquals(out.get("pooled"), model.run(expected.view("input")), "run(input) is pooled");
        }
    }

    @Test
    void runIntoWritesCallerMemoryAndBatchesAgreeWithSingleImages() {
        TensorView input = expected.view("input");
        long perImage = 3L * 224 * 224 * 4;
        try (OnnxImageModel model = OnnxImageModel.open(onnx, OnnxOptions.threads(2)); Arena arena = Arena.ofConfined()) {
            TensorView pooled = TensorView.allocate(arena, DType.F32, 4, 960);
            model.runInto(input, Map.of("pooled", pooled));
            float[] batched = pooled.toFloatArray();
            float[] ref = expected.view("pooled").toFloatArray();
            for (int i = 0; i < 4; i++) {
                TensorView one = TensorView.of(input.data().asSlice(i * perImage, perImage), DType.F32, 1, 3, 224, 224);
                float[] single = model.run(one)[0];
                float maxRef = 0, maxDiff = 0;
                for (int k = 0; k < 960; k++) {
                    maxRef = Math.max(maxRef, Math.abs(ref[i * 960 + k]));
                    maxDiff = Math.max(maxDiff, Math.abs(single[k] - batched[i * 960 + k]));
                }
                assertTrue(maxDiff <= 1e-5 * maxRef, "image " + i + ": batch-1 vs batch-4 max diff " + maxDiff);
            }
        }
    }

    @Test
    void inputTensorsWrapTheCallersMemoryWithoutCopy() throws Exception {
        try (OnnxImageModel model = OnnxImageModel.open(onnx, OnnxOptions.DEFAULT);
             var tensor = model.tensorOver(expected.view("input"))) {
            // ownsBuffer is ONNX Runtime's flag for "copied into a buffer of my own".
            assertTrue(!tensor.ownsBuffer(), "the read-only file mapping is handed over as it is");
            var buffer = (java.nio.FloatBuffer) tensor.getBufferRef().orElseThrow();
            assertTrue(buffer.isDirect());
            assertEquals(expected.view("input").data().address(), MemorySegment.ofBuffer(buffer).address());
        }
    }

    @Test
    void freeSpatialSizeExportRunsOtherSizes() throws IOException {
        Path free = dir.resolve("free.onnx");
        MobileNetV3OnnxExport.write(free, weights, MobileNetV3Config.LARGE, new MobileNetV3OnnxExport.Options(0, 0));
        try (OnnxImageModel model = OnnxImageModel.open(free, OnnxOptions.DEFAULT); Arena arena = Arena.ofConfined()) {
            assertArrayEquals(new long[] {-1, 3, -1, -1}, model.input().shape());
            float[] values = new float[2 * 3 * 160 * 192];
            java.util.Random random = new java.util.Random(7);
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) random.nextGaussian();
            }
            float[][] pooled = model.run(TensorView.ofFloats(arena, values, 2, 3, 160, 192));
            assertEquals(2, pooled.length);
            assertEquals(960, pooled[0].length);
            assertTrue(Stream.of(pooled).allMatch(r -> Float.isFinite(r[0])));
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().endsWith(".tmp")), "no temporary file left");
        }
    }

    @Test
    void pthAndSafetensorsGiveTheSameModelFile() throws IOException {
        Path fixture = Fixtures.sd15Tiny().resolve("mobilenet_v3_large");
        Path fromPth = dir.resolve("from_pth.onnx"), fromSafetensors = dir.resolve("from_safetensors.onnx");
        var options = MobileNetV3OnnxExport.Options.DEFAULT;
        MobileNetV3OnnxExport.writeFromFile(fromPth, fixture.resolve("mobilenet_v3_large.pth"), MobileNetV3Config.LARGE, options);
        MobileNetV3OnnxExport.writeFromFile(fromSafetensors, fixture.resolve("mobilenet_v3_large.safetensors"),
                MobileNetV3Config.LARGE, options);
        assertArrayEquals(Files.readAllBytes(fromSafetensors), Files.readAllBytes(fromPth));
        assertArrayEquals(Files.readAllBytes(onnx), Files.readAllBytes(fromPth));
    }

    @Test
    void wrongOrMissingWeightsNameTheTensor() {
        Map<String, TensorView> broken = new HashMap<>(weights);
        broken.put("features.4.block.2.fc1.weight", weights.get("features.5.block.2.fc1.weight"));
        var e = assertThrows(FormatException.class,
                () -> MobileNetV3OnnxExport.export(broken, MobileNetV3Config.LARGE, MobileNetV3OnnxExport.Options.DEFAULT));
        assertTrue(e.getMessage().contains("features.4.block.2.fc1.weight"), e.getMessage());

        broken.remove("classifier.3.weight");
        broken.put("features.4.block.2.fc1.weight", weights.get("features.4.block.2.fc1.weight"));
        e = assertThrows(FormatException.class,
                () -> MobileNetV3OnnxExport.export(broken, MobileNetV3Config.LARGE, MobileNetV3OnnxExport.Options.DEFAULT));
        assertTrue(e.getMessage().contains("classifier.3.weight") && e.getMessage().contains("missing"), e.getMessage());
    }

    @Test
    void squeezeChannelsFollowTorchvision() {
        // _make_divisible(72 // 4, 8) = 24 and (960 // 4) = 240: the fc1 shapes in the fixture.
        assertEquals(24, MobileNetV3Config.LARGE.blocks().get(3).squeezeChannels());
        assertEquals(240, MobileNetV3Config.LARGE.blocks().get(14).squeezeChannels());
    }

    /** max |got - ref| <= 1e-4 * max |ref| over the tensor, and cosine >= 0.99999 per row. */
    static void assertClose(String name, TensorView refView, float[][] got) {
        int n = (int) refView.shape()[0], d = (int) refView.shape()[1];
        float[] ref = refView.toFloatArray();
        assertEquals(n, got.length, name + " rows");
        double maxRef = 0, maxDiff = 0, worstCos = 1;
        for (int i = 0; i < n; i++) {
            assertEquals(d, got[i].length, name + " width");
            double dot = 0, a2 = 0, b2 = 0;
            for (int k = 0; k < d; k++) {
                double r = ref[i * d + k], g = got[i][k];
                maxRef = Math.max(maxRef, Math.abs(r));
                maxDiff = Math.max(maxDiff, Math.abs(r - g));
                dot += r * g;
                a2 += r * r;
                b2 += g * g;
            }
            worstCos = Math.min(worstCos, dot / Math.sqrt(a2 * b2));
        }
        System.out.printf("onnx %s: max|diff| %.3g, max|ref| %.3g (ratio %.3g, limit 1e-4), worst row cosine %.9f%n",
                name, maxDiff, maxRef, maxDiff / maxRef, worstCos);
        assertTrue(maxDiff <= 1e-4 * maxRef, name + ": max diff " + maxDiff + " > 1e-4 * " + maxRef);
        assertTrue(worstCos >= 0.99999, name + ": worst cosine " + worstCos);
    }
}
