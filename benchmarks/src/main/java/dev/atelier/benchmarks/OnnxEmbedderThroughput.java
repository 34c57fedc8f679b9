package dev.atelier.benchmarks;

import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.onnx.MobileNetV3OnnxExport;
import dev.atelier.engine.onnx.OnnxImageModel;
import dev.atelier.engine.onnx.OnnxOptions;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * MobileNetV3-Large images per second on ONNX Runtime: Atelier exports the network from a
 * torchvision state dict, then times batch 1 on one thread and batch 32 on two threads.
 * benchmarks/embedder/compare.sh runs it beside torchvision in PyTorch eager.
 *
 * <pre>java --enable-native-access=ALL-UNNAMED -cp benchmarks/target/benchmarks.jar \
 *     dev.atelier.benchmarks.OnnxEmbedderThroughput WEIGHTS.safetensors [SECONDS]</pre>
 *
 * Prints one line per setting: {@code onnx batch=B threads=T images_per_s=X p50_ms=Y runs=N}.
 */
public final class OnnxEmbedderThroughput {
    private OnnxEmbedderThroughput() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: OnnxEmbedderThroughput WEIGHTS.safetensors [SECONDS per setting]");
            System.exit(2);
        }
        double seconds = args.length > 1 ? Double.parseDouble(args[1]) : 5;
        Path onnx = Files.createTempFile("mobilenet_v3_large", ".onnx");
        try (SafeTensorsFile weights = SafeTensorsFile.open(Path.of(args[0]))) {
            Map<String, TensorView> views = new HashMap<>();
            weights.tensors().keySet().forEach(name -> views.put(name, weights.view(name)));
            MobileNetV3OnnxExport.write(onnx, views);
        }
        try {
            measure(onnx, 1, 1, seconds);
            measure(onnx, 32, 2, seconds);
        } finally {
            Files.deleteIfExists(onnx);
        }
    }

    private static void measure(Path onnx, int batch, int threads, double seconds) {
        // Spinning pool threads are ONNX Runtime's default; they help batch hand-offs on free cores.
        try (OnnxImageModel model = OnnxImageModel.open(onnx, new OnnxOptions(threads, threads > 1, true));
             Arena arena = Arena.ofConfined()) {
            TensorView input = EmbedderTiming.randomImages(arena, batch);
            TensorView pooled = TensorView.allocate(arena, DType.F32, batch, 960);
            Map<String, TensorView> out = Map.of(MobileNetV3OnnxExport.POOLED, pooled);
            EmbedderTiming.time("onnx", batch, threads, seconds, () -> model.runInto(input, out));
        }
    }
}
