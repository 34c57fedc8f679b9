package dev.atelier.engine.embed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.demo.DefaultModel;
import dev.atelier.engine.onnx.MobileNetV3Config;
import dev.atelier.engine.onnx.MobileNetV3OnnxExport;
import dev.atelier.engine.onnx.OnnxImageModel;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.safetensors.TensorInfo;
import dev.atelier.engine.synth.GarmentColour;
import dev.atelier.engine.synth.GarmentPattern;
import dev.atelier.engine.synth.GarmentType;
import dev.atelier.engine.synth.TrainingSet;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The embedded default's trained MobileNetV3-Large (scripts/embedder): torchvision's layout in
 * fp16, its card (preprocessing and heads), parity of both backends with torchvision's outputs on
 * the exported weights (reference.safetensors, written by train.py), and garments it never saw
 * classified by type, pattern and colour.
 */
class TrainedEmbedderTest {
    private static final Path WEIGHTS = DefaultModel.locate().embedder();
    private static final Path REFERENCE = WEIGHTS.resolveSibling("reference.safetensors");

    @Test
    void torchvisionLayoutInFp16WithItsCard() throws Exception {
        assertTrue(Files.size(WEIGHTS) < 12L << 20, "weights under 12 MB: " + Files.size(WEIGHTS));
        try (SafeTensorsFile f = SafeTensorsFile.open(WEIGHTS)) {
            for (Map.Entry<String, TensorInfo> e : f.tensors().entrySet()) {
                DType want = e.getKey().endsWith("num_batches_tracked") ? DType.I64 : DType.F16;
                assertEquals(want, e.getValue().dtype(), e.getKey());
            }
            assertEquals(List.of(25L, 1280L), Arrays.stream(f.tensors().get("classifier.3.weight").shape()).boxed().toList());
        }
        EmbedderCard card = EmbedderCard.of(WEIGHTS);
        ImageTransform t = card.transform().orElseThrow();
        assertEquals(128, t.resizeSize());
        assertEquals(128, t.cropSize());
        assertTrue(Arrays.equals(ImageTransform.IMAGENET_MEAN, t.mean()) && Arrays.equals(ImageTransform.IMAGENET_STD, t.std()));
        ClassHeads heads = card.heads().orElseThrow();
        assertEquals(List.of("type", "pattern", "color"), List.copyOf(heads.heads().keySet()));
        assertEquals(Arrays.stream(GarmentType.values()).map(GarmentType::word).toList(), heads.labels("type").orElseThrow());
        assertEquals(Arrays.stream(GarmentPattern.values()).map(GarmentPattern::word).toList(), heads.labels("pattern").orElseThrow());
        assertEquals(Arrays.stream(GarmentColour.values()).map(GarmentColour::word).toList(), heads.labels("color").orElseThrow());
        try (TorchEmbedder e = TorchEmbedder.open(WEIGHTS, EmbedderOptions.defaults())) {
            assertEquals(128, e.transform().cropSize(), "the card's transform, not ImageNet's 224");
            assertEquals(25, e.dim(Feature.LOGITS));
        }
    }

    @Test
    void bothBackendsGiveTorchvisionsOutputs(@TempDir Path tmp) {
        try (SafeTensorsFile ref = SafeTensorsFile.open(REFERENCE); Arena arena = Arena.ofConfined()) {
            TensorView input = TensorView.ofFloats(arena, ref.view("input").toFloatArray(), ref.view("input").shape());
            Map<String, float[]> want = Map.of("pooled", ref.view("pooled").toFloatArray(), "prelogits",
                    ref.view("prelogits").toFloatArray(), "logits", ref.view("logits").toFloatArray());
            try (TorchEmbedder e = TorchEmbedder.open(WEIGHTS, EmbedderOptions.defaults())) {
                TorchEmbedder.Outputs out = e.forward(input, true, true);
                assertClose("torch pooled", want.get("pooled"), out.pooled());
                assertClose("torch prelogits", want.get("prelogits"), out.prelogits());
                assertClose("torch logits", want.get("logits"), out.logits());
            }
            Path onnx = tmp.resolve("trained.onnx");
            MobileNetV3OnnxExport.writeFromFile(onnx, WEIGHTS, MobileNetV3Config.LARGE, new MobileNetV3OnnxExport.Options(128, 128));
            try (OnnxImageModel m = OnnxImageModel.open(onnx)) {
                Map<String, float[][]> out = m.run(input, List.of("pooled", "prelogits", "logits"));
                for (String name : want.keySet()) {
                    assertClose("onnx " + name, want.get(name), flat(out.get(name)));
                }
            }
        }
    }

    /** Garments drawn from a seed apart from the training and validation sets, at 128 px and at 64 px (generated images' size). */
    @ParameterizedTest
    @EnumSource(Backend.class)
    void classifiesGarmentsItNeverSaw(Backend backend, @TempDir Path tmp) throws Exception {
        for (int size : new int[] {128, 64}) {
            Path dir = tmp.resolve("set" + size);
            TrainingSet.write(dir, 90, size, 777_001);
            com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
            List<Map<String, String>> rows = new java.util.ArrayList<>();
            for (String line : Files.readAllLines(dir.resolve(TrainingSet.METADATA))) {
                rows.add(json.readValue(line, new com.fasterxml.jackson.core.type.TypeReference<Map<String, String>>() {}));
            }
            float[][] logits;
            ClassHeads heads;
            try (ImageEmbedder e = ImageEmbedder.open(WEIGHTS, backend, EmbedderOptions.defaults())) {
                heads = e.card().heads().orElseThrow();
                logits = e.embed(rows.stream().map(r -> ImageInput.of(dir.resolve(r.get("file")))).toList(), Feature.LOGITS, null);
            }
            double[] right = new double[3];
            String[][] heads3 = {{"type", "category"}, {"pattern", "pattern"}, {"color", "color"}};
            for (int i = 0; i < rows.size(); i++) {
                for (int h = 0; h < 3; h++) {
                    right[h] += heads.classify(logits[i], heads3[h][0]).equals(rows.get(i).get(heads3[h][1])) ? 1 : 0;
                }
            }
            double type = right[0] / rows.size(), pattern = right[1] / rows.size(), colour = right[2] / rows.size();
            System.out.printf("%s %d px: type %.3f, pattern %.3f, colour %.3f%n", backend, size, type, pattern, colour);
            assertTrue(type >= 0.9, size + " px type accuracy " + type);
            assertTrue(pattern >= 0.75, size + " px pattern accuracy " + pattern);
            assertTrue(colour >= 0.75, size + " px colour accuracy " + colour);
        }
    }

    private static float[] flat(float[][] rows) {
        int n = rows.length, d = rows[0].length;
        float[] out = new float[n * d];
        for (int i = 0; i < n; i++) {
            System.arraycopy(rows[i], 0, out, i * d, d);
        }
        return out;
    }

    private static void assertClose(String what, float[] want, float[] got) {
        assertEquals(want.length, got.length, what);
        double err = MobilenetFixture.maxAbsDiff(want, got), scale = MobilenetFixture.maxAbs(want);
        assertTrue(err <= 1e-4 * scale, what + ": differs from torchvision by " + err + " (max |ref| " + scale + ")");
    }
}
