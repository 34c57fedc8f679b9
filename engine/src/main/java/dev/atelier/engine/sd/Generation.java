package dev.atelier.engine.sd;

import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.safetensors.SafeTensorsWriter;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What a {@link Pipeline#generate} request made.
 *
 * @param request the request
 * @param images  one per image, in seed order
 * @param latents the final latents before decoding, [images, 4, H/8, W/8] row-major
 * @param shape   the latents' shape
 */
public record Generation(GenerationRequest request, List<GeneratedImage> images, float[] latents, long[] shape) {
    /** Writes the latents as safetensors with one tensor {@code latents}, atomically. */
    public void saveLatents(Path target) {
        saveLatents(target, latents, shape);
    }

    /** Writes latents of the given shape as safetensors with one tensor {@code latents}, atomically. */
    public static void saveLatents(Path target, float[] latents, long[] shape) {
        try (Arena arena = Arena.ofConfined()) {
            new SafeTensorsWriter().add("latents", TensorView.ofFloats(arena, latents, shape)).write(target);
        }
    }

    /** Writes image k to dir/NAME-k-SEED.png for every image, each atomically. */
    public List<Path> writePngs(Path dir, String name) {
        List<Path> out = new ArrayList<>();
        for (int k = 0; k < images.size(); k++) {
            GeneratedImage img = images.get(k);
            Path p = dir.resolve(String.format("%s-%05d-%d.png", name, k, img.seed()));
            img.writePng(p);
            out.add(p);
        }
        return out;
    }
}
