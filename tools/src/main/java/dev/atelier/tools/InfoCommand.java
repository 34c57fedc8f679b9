package dev.atelier.tools;

import dev.atelier.engine.core.NativeInfo;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Command;

/** {@code atelier info}: versions, native library, threads, CPU features, CUDA. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Print versions (Atelier, Java, libtorch, FAISS, ONNX Runtime), the native library, "
                + "threads, CPU features and CUDA availability.",
        footer = {"", "Examples:", "  atelier info", "  atelier info --json"})
final class InfoCommand extends CliCommand {
    @Override
    public Integer call() {
        Map<String, Object> info = describe();
        if (json()) {
            printJson(info);
        } else {
            info.forEach((k, v) -> out().printf("%-16s %s%n", k, v));
        }
        return 0;
    }

    static Map<String, Object> describe() {
        NativeInfo n = NativeInfo.read();
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("atelier", n.atelierVersion());
        info.put("abi", n.abiVersion());
        info.put("java", Runtime.version().toString() + " (" + System.getProperty("java.vendor") + ")");
        info.put("libtorch", n.torchVersion());
        info.put("faiss", n.faissVersion());
        info.put("onnxruntime", onnxRuntimeVersion());
        info.put("native_library", n.libraryPath());
        info.put("build", n.buildInfo());
        info.put("threads", n.threads());
        info.put("cores", n.cores());
        info.put("cpu_features", String.join(" ", n.cpuFeatures()));
        info.put("cuda", n.cudaDevices() > 0 ? n.cudaDevices() + " device(s)" : "not available");
        return info;
    }

    /** ONNX Runtime is optional at this stage; report its version when it is on the class path. */
    private static String onnxRuntimeVersion() {
        try {
            Class<?> env = Class.forName("ai.onnxruntime.OrtEnvironment");
            Object instance = env.getMethod("getEnvironment").invoke(null);
            return String.valueOf(env.getMethod("getVersion").invoke(instance));
        } catch (ReflectiveOperationException | LinkageError e) {
            return "not bundled";
        }
    }
}
