package dev.atelier.engine.testing;

import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.names.ModelLayout;
import dev.atelier.engine.names.NameConverter;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.safetensors.SafeTensorsWriter;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** Writes an LDM checkpoint in the diffusers folder layout, renamed and reshaped by the name table. */
public final class DiffusersCopy {
    private static final Map<String, String> FILES = Map.of(
            "unet", "unet/diffusion_pytorch_model.safetensors",
            "vae", "vae/diffusion_pytorch_model.safetensors",
            "text_encoder", "text_encoder/model.safetensors");

    private DiffusersCopy() {}

    /** Writes model into dir; with extraTensor, the UNet file gets one tensor no table maps. */
    public static void write(SafeTensorsFile model, Path dir, boolean extraTensor) throws IOException {
        NameConverter names = new NameConverter(ModelLayout.fromLdmNames(model.tensors().keySet()));
        Map<String, SafeTensorsWriter> writers = new LinkedHashMap<>();
        for (String ldm : model.tensors().keySet()) {
            names.toDiffusers(ldm).ifPresent(m -> {
                int dot = m.name().indexOf('.');
                TensorView v = model.view(ldm);
                TensorView reshaped = TensorView.of(v.data(), v.dtype(), m.reshape().toDiffusers(v.shape()));
                writers.computeIfAbsent(m.name().substring(0, dot), k -> new SafeTensorsWriter())
                        .add(m.name().substring(dot + 1), reshaped);
            });
        }
        try (Arena arena = Arena.ofConfined()) {
            if (extraTensor) {
                writers.get("unet").add("some_adapter.weight", TensorView.ofFloats(arena, new float[] {1f}, 1));
            }
            for (Map.Entry<String, SafeTensorsWriter> e : writers.entrySet()) {
                Path file = dir.resolve(FILES.get(e.getKey()));
                Files.createDirectories(file.getParent());
                e.getValue().write(file);
            }
        }
    }
}
