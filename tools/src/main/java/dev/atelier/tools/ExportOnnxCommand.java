package dev.atelier.tools;

import dev.atelier.engine.onnx.MobileNetV3Config;
import dev.atelier.engine.onnx.MobileNetV3OnnxExport;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code atelier export-onnx}: MobileNetV3-Large weights to an .onnx file written by Atelier. */
@Command(name = "export-onnx", mixinStandardHelpOptions = true,
        description = "Export MobileNetV3-Large weights to ONNX (opset 13, BatchNorm folded, outputs pooled, prelogits, logits).",
        footer = {"", "Examples:", "  atelier export-onnx --model mobilenet_v3_large.pth --out mnv3.onnx",
                "  atelier export-onnx --model mnv3.pth --out any-size.onnx --size 0 --json"})
final class ExportOnnxCommand extends CliCommand {
    @Option(names = "--model", required = true, paramLabel = "PATH", description = "Weights: .safetensors or .pth.")
    Path model;

    @Option(names = "--out", required = true, paramLabel = "FILE.onnx", description = "The ONNX file to write (atomically).")
    Path out;

    @Option(names = "--size", defaultValue = "224", paramLabel = "PIXELS", description = "Input height and width; 0 leaves them free. Default: ${DEFAULT-VALUE}.")
    int size;

    @Override
    public Integer call() {
        MobileNetV3OnnxExport.writeFromFile(out, model, MobileNetV3Config.LARGE, new MobileNetV3OnnxExport.Options(size, size));
        if (json()) {
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("model", model.toString());
            result.put("out", out.toString());
            result.put("size", size);
            printJson(result);
        } else {
            out().println("wrote " + out);
        }
        return 0;
    }
}
