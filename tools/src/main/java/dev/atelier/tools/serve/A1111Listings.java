package dev.atelier.tools.serve;

import dev.atelier.engine.sd.Pipeline;
import dev.atelier.engine.sd.Sampler;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/** The bodies of A1111's listings: /sdapi/v1/sd-models, /samplers and /loras, in A1111's JSON shapes. */
final class A1111Listings {
    private A1111Listings() {}

    /** One entry: title "NAME [hash]", model_name, hash, sha256 (not computed: null), filename, config. */
    static List<Map<String, Object>> sdModels(Pipeline.Parts model, Path file) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("title", file.getFileName() + " [" + model.modelHash() + "]");
        m.put("model_name", model.modelName());
        m.put("hash", model.modelHash());
        m.put("sha256", null);
        m.put("filename", file.toAbsolutePath().toString());
        m.put("config", null);
        return List.of(m);
    }

    /** name (what sampler_name takes), aliases (Atelier's id), options. */
    static List<Map<String, Object>> samplers() {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Sampler s : Sampler.values()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", s.displayName());
            m.put("aliases", List.of(s.id()));
            m.put("options", Map.of());
            out.add(m);
        }
        return out;
    }

    static String samplerNames() {
        return Arrays.stream(Sampler.values()).map(s -> "\"" + s.displayName() + "\"").collect(Collectors.joining(", "));
    }

    /**
     * The .safetensors files under folder: name (what {@code <lora:NAME:W>} takes: the path below
     * the folder without the extension, "/"-separated), alias (the same), path, metadata.
     */
    static List<Map<String, Object>> loras(Path folder) {
        if (!Files.isDirectory(folder)) {
            return List.of();
        }
        Path root = folder.toAbsolutePath().normalize();
        try (Stream<Path> s = Files.walk(root)) {
            return s.filter(p -> Files.isRegularFile(p)
                            && p.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".safetensors"))
                    .sorted()
                    .map(p -> {
                        String rel = root.relativize(p).toString().replace('\\', '/');
                        String name = rel.substring(0, rel.length() - ".safetensors".length());
                        Map<String, Object> m = new LinkedHashMap<>();
                        m.put("name", name);
                        m.put("alias", name);
                        m.put("path", p.toString());
                        m.put("metadata", Map.of());
                        return m;
                    })
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException(folder + ": " + e.getMessage(), e);
        }
    }
}
