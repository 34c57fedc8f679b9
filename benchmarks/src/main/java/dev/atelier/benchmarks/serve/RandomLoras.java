package dev.atelier.benchmarks.serve;

import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.names.ModelLayout;
import dev.atelier.engine.names.NameConverter;
import dev.atelier.engine.safetensors.SafeTensorsWriter;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.regex.Pattern;

/**
 * kohya LoRA files with random adapters on the layers kohya's default network trains (the
 * transformer blocks' attention and feed-forward Linears, proj_in and proj_out, and the text
 * encoder's attention and MLP), for serving benchmarks: real files of the real size, random values.
 */
final class RandomLoras {
    private static final Pattern UNET_TARGET = Pattern.compile(
            "model\\.diffusion_model\\..*\\.(proj_in|proj_out|transformer_blocks\\.\\d+\\.(attn[12]\\.(to_q|to_k|to_v|to_out\\.0)|ff\\.net\\.(0\\.proj|2)))\\.weight");
    private static final Pattern TEXT_TARGET = Pattern.compile(
            "cond_stage_model\\.transformer\\.text_model\\.encoder\\.layers\\.\\d+\\.(self_attn\\.(q_proj|k_proj|v_proj|out_proj)|mlp\\.(fc1|fc2))\\.weight");

    private RandomLoras() {}

    /** Writes one file of rank-r adapters for every target of the checkpoint whose tensors are given (name -> shape). */
    static void write(Path file, Map<String, long[]> checkpoint, int rank, long seed) {
        NameConverter names = new NameConverter(ModelLayout.fromLdmNames(checkpoint.keySet()));
        SplittableRandom random = new SplittableRandom(seed);
        SafeTensorsWriter w = new SafeTensorsWriter();
        try (Arena arena = Arena.ofConfined()) {
            for (Map.Entry<String, long[]> e : checkpoint.entrySet()) {
                String name = e.getKey();
                if (!UNET_TARGET.matcher(name).matches() && !TEXT_TARGET.matcher(name).matches()) {
                    continue;
                }
                String kohya = names.kohyaName(name).orElse(null);
                if (kohya == null) {
                    continue;
                }
                long[] shape = e.getValue();
                long out = shape[0], in = shape[1];
                boolean conv = shape.length == 4;
                w.add(kohya + ".lora_down.weight", random(arena, random, conv ? new long[] {rank, in, 1, 1} : new long[] {rank, in}, 0.05));
                w.add(kohya + ".lora_up.weight", random(arena, random, conv ? new long[] {out, rank, 1, 1} : new long[] {out, rank}, 0.05));
                w.add(kohya + ".alpha", TensorView.ofFloats(arena, new float[] {rank}));
            }
            w.write(file);
        }
    }

    private static TensorView random(Arena arena, SplittableRandom random, long[] shape, double scale) {
        float[] v = new float[Math.toIntExact(TensorView.numel(shape))];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) ((random.nextDouble() * 2 - 1) * scale);
        }
        return TensorView.ofFloats(arena, v, shape);
    }
}
