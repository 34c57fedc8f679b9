package dev.atelier.tools;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.embed.ImageEmbedder;
import dev.atelier.engine.safetensors.SafeTensorsWriter;
import dev.atelier.engine.util.BoundedImageReader;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code atelier embed}: image features into a safetensors file. */
@Command(name = "embed", mixinStandardHelpOptions = true,
        description = "Embed images with MobileNetV3-Large into a safetensors file: tensor \"embeddings\" [n, d], "
                + "metadata \"paths\" (JSON list, row order).",
        footer = {"", "Examples:",
                "  atelier embed --model mnv3.pth --images wardrobe/ --out wardrobe.safetensors",
                "  atelier embed --model mnv3.onnx --backend onnx --weights v2 \\",
                "      --images a.jpg b.png --out e.safetensors",
                "  atelier embed --model mnv3.pth --images wardrobe/ --out e.safetensors \\",
                "      --batch-size 64 --threads 4 --json"})
final class EmbedCommand extends CliCommand {
    @Mixin
    EmbedderOptionsMixin embedder;

    @Option(names = "--images", required = true, arity = "1..*", paramLabel = "DIR|FILE",
            description = "Image files, or folders searched recursively.")
    List<Path> images;

    @Option(names = "--out", required = true, paramLabel = "FILE.safetensors", description = "Where to write the embeddings (atomically).")
    Path out;

    @Override
    public Integer call() throws Exception {
        List<Path> files = ImageArgs.expand(images);
        // Every header first (a fraction of a millisecond each): a bad image is refused before the
        // embedder and the native library load.
        files.forEach(BoundedImageReader::checkHeader);
        float[][] rows;
        try (ImageEmbedder e = embedder.open()) {
            rows = e.embedPaths(files, new ProgressBar("embed", "img"));
        }
        int d = rows[0].length;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(ValueLayout.JAVA_FLOAT, (long) rows.length * d);
            for (int i = 0; i < rows.length; i++) {
                MemorySegment.copy(rows[i], 0, data, ValueLayout.JAVA_FLOAT, (long) i * d * Float.BYTES, d);
            }
            ObjectMapper m = new ObjectMapper();
            new SafeTensorsWriter().add("embeddings", TensorView.of(data, DType.F32, rows.length, d))
                    .metadata("paths", m.writeValueAsString(files.stream().map(Path::toString).toList()))
                    .metadata("model", embedder.model.toString()).metadata("weights", embedder.weights)
                    .metadata("backend", embedder.backend).metadata("feature", embedder.feature)
                    .write(out);
        }
        if (json()) {
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("images", rows.length);
            result.put("dim", d);
            result.put("out", out.toString());
            result.put("paths", files.stream().map(Path::toString).toList());
            printJson(result);
        } else {
            out().println("embedded " + rows.length + " images (" + d + "-d) into " + out);
        }
        return 0;
    }
}
