package dev.atelier.engine.train;

import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.safetensors.SafeTensorsWriter;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Writes trained adapters as a kohya-format LoRA (sd-scripts {@code networks/lora.py}
 * {@code save_weights}): for each module {@code <kohya name>.lora_down.weight},
 * {@code .lora_up.weight} and a scalar {@code .alpha}, F32, plus {@code ss_*} metadata; atomically.
 */
public final class KohyaLoraWriter {
    private KohyaLoraWriter() {}

    /** The tensor names of one module, in the order they are written. */
    public static List<String> tensorNames(LoraModule m) {
        return List.of(m.kohyaName() + ".lora_down.weight", m.kohyaName() + ".lora_up.weight", m.kohyaName() + ".alpha");
    }

    public static void write(LoraTrainer trainer, Map<String, String> metadata, Path target) {
        try (Arena arena = Arena.ofConfined()) {
            SafeTensorsWriter w = new SafeTensorsWriter();
            List<LoraModule> modules = trainer.modules();
            for (int i = 0; i < modules.size(); i++) {
                LoraModule m = modules.get(i);
                List<String> names = tensorNames(m);
                w.add(names.get(0), trainer.down(i, arena));
                w.add(names.get(1), trainer.up(i, arena));
                w.add(names.get(2), TensorView.ofFloats(arena, new float[] {m.alpha()}));
            }
            w.metadata(metadata);
            w.write(target);
        }
    }
}
