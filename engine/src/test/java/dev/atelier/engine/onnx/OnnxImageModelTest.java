package dev.atelier.engine.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.onnx.OnnxGraph.Attr;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** ONNX image models that Atelier did not export: other input sizes, wrong kinds of model, broken files. */
class OnnxImageModelTest {
    static final int H = 32, W = 48;
    static final float[] WEIGHT = {0.5f, -1f, 2f, 0.25f, 0.75f, -0.5f}; // [2, 3, 1, 1]
    static final float[] BIAS = {0.1f, -0.2f};

    @TempDir
    Path dir;

    /** A user-style model: 1x1 conv to 2 channels, then a global average pool; input [N, 3, 32, 48]. */
    Path tinyImageModel() {
        OnnxGraph g = new OnnxGraph("tiny");
        g.input("pixels", OnnxGraph.FLOAT, "N", 3L, (long) H, (long) W);
        g.initializer("w", new long[] {2, 3, 1, 1}, WEIGHT);
        g.initializer("b", new long[] {2}, BIAS);
        g.node("Conv", List.of("pixels", "w", "b"), List.of("map"), Attr.ints("kernel_shape", 1, 1));
        g.node("GlobalAveragePool", List.of("map"), List.of("gap"));
        g.node("Flatten", List.of("gap"), List.of("features"), Attr.i("axis", 1));
        g.output("features", OnnxGraph.FLOAT, "N", 2L);
        // Declared with free spatial sizes, so run() cannot pin it and reads ONNX Runtime's own buffer.
        g.output("map", OnnxGraph.FLOAT, "N", 2L, "h", "w");
        Path file = dir.resolve("tiny.onnx");
        dev.atelier.engine.util.AtomicFiles.write(file, g.toModel(13, "test", "1", "", Map.of()));
        return file;
    }

    @Test
    void userModelWithAnotherInputSizeRuns() {
        Path file = tinyImageModel();
        int n = 3, plane = H * W;
        float[] x = new float[n * 3 * plane];
        Random random = new Random(42);
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextGaussian();
        }
        try (OnnxImageModel model = OnnxImageModel.open(file); Arena arena = Arena.ofConfined()) {
            assertEquals("pixels", model.input().name());
            assertArrayEquals(new long[] {-1, 3, H, W}, model.input().shape());
            assertEquals(List.of("features", "map"), model.outputNames());
            Map<String, float[][]> out = model.run(TensorView.ofFloats(arena, x, n, 3, H, W), List.of("features", "map"));
            for (int i = 0; i < n; i++) {
                for (int o = 0; o < 2; o++) {
                    double sum = 0;
                    for (int p = 0; p < plane; p++) {
                        double v = BIAS[o];
                        for (int c = 0; c < 3; c++) {
                            v += WEIGHT[o * 3 + c] * x[(i * 3 + c) * plane + p];
                        }
                        sum += v;
                        assertEquals(v, out.get("map")[i][o * plane + p], 1e-5);
                    }
                    assertEquals(sum / plane, out.get("features")[i][o], 1e-5);
                }
            }
            var wrongSize = assertThrows(InvalidInputException.class,
                    () -> model.run(TensorView.allocate(arena, dev.atelier.engine.core.DType.F32, 1, 3, 224, 224)));
            assertTrue(wrongSize.getMessage().contains("[1, 3, 224, 224]"), wrongSize.getMessage());
            var noSuchOutput = assertThrows(InvalidInputException.class,
                    () -> model.run(TensorView.ofFloats(arena, x, n, 3, H, W), List.of("logits")));
            assertTrue(noSuchOutput.getMessage().contains("logits"), noSuchOutput.getMessage());
            var wrongType = assertThrows(InvalidInputException.class,
                    () -> model.run(TensorView.allocate(arena, dev.atelier.engine.core.DType.F16, 1, 3, H, W)));
            assertTrue(wrongType.getMessage().contains("F16"), wrongType.getMessage());
            var wrongOutput = assertThrows(InvalidInputException.class, () -> model.runInto(
                    TensorView.ofFloats(arena, x, n, 3, H, W),
                    Map.of("features", TensorView.allocate(arena, dev.atelier.engine.core.DType.F32, n, 3))));
            assertTrue(wrongOutput.getMessage().contains("features") && wrongOutput.getMessage().contains("[3, 2]"),
                    wrongOutput.getMessage());
            model.close();
            model.close(); // idempotent
        }
    }

    @Test
    void nonImageModelIsRefusedNamingTheFile() {
        OnnxGraph g = new OnnxGraph("tabular");
        g.input("x", OnnxGraph.FLOAT, "N", 10L);
        float[] w = new float[40];
        Arrays.fill(w, 0.1f);
        g.initializer("w", new long[] {4, 10}, w);
        g.initializer("b", new long[] {4}, new float[4]);
        g.node("Gemm", List.of("x", "w", "b"), List.of("y"), Attr.i("transB", 1));
        g.output("y", OnnxGraph.FLOAT, "N", 4L);
        Path file = dir.resolve("tabular.onnx");
        dev.atelier.engine.util.AtomicFiles.write(file, g.toModel(13, "test", "1", "", Map.of()));
        var e = assertThrows(FormatException.class, () -> OnnxImageModel.open(file, OnnxOptions.DEFAULT));
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("not an NCHW image"), e.getMessage());
    }

    @Test
    void corruptTruncatedOrMissingFilesGiveClearErrors() throws IOException {
        Path garbage = dir.resolve("garbage.onnx");
        byte[] bytes = new byte[4096];
        new Random(1).nextBytes(bytes);
        Files.write(garbage, bytes);
        var e = assertThrows(FormatException.class, () -> OnnxImageModel.open(garbage, OnnxOptions.DEFAULT));
        assertTrue(e.getMessage().contains(garbage.toString()) && e.getMessage().contains("not a loadable ONNX model"),
                e.getMessage());

        byte[] good = Files.readAllBytes(tinyImageModel());
        Path truncated = dir.resolve("truncated.onnx");
        Files.write(truncated, Arrays.copyOf(good, good.length / 2));
        e = assertThrows(FormatException.class, () -> OnnxImageModel.open(truncated, OnnxOptions.DEFAULT));
        assertTrue(e.getMessage().contains(truncated.toString()), e.getMessage());

        Path missing = dir.resolve("missing.onnx");
        e = assertThrows(FormatException.class, () -> OnnxImageModel.open(missing, OnnxOptions.DEFAULT));
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
    }
}
