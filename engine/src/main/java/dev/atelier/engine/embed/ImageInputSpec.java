package dev.atelier.engine.embed;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.TensorView;
import java.util.Arrays;

/**
 * The NCHW input of an image model. Sizes are -1 where the model leaves them free.
 *
 * @param name     the input's name in the model
 * @param batch    batch size, usually -1 (free)
 * @param channels channels (3 for RGB models)
 * @param height   height in pixels
 * @param width    width in pixels
 */
public record ImageInputSpec(String name, long batch, long channels, long height, long width) {
    public long[] shape() {
        return new long[] {batch, channels, height, width};
    }

    /** Checks that input is a contiguous F32 [n, C, H, W] tensor this spec accepts. */
    public void check(TensorView input) {
        long[] s = input.shape();
        if (input.dtype() != dev.atelier.engine.core.DType.F32 || s.length != 4 || !input.isContiguous()) {
            throw new InvalidInputException("image model input " + name + ": expected a contiguous F32 [n, C, H, W]"
                    + " tensor, got " + input.dtype() + " " + Arrays.toString(s));
        }
        long[] want = shape();
        for (int i = 0; i < 4; i++) {
            if (want[i] >= 0 && s[i] != want[i]) {
                throw new InvalidInputException("image model input " + name + ": shape " + Arrays.toString(s)
                        + " does not fit the model's " + Arrays.toString(want) + " (-1 = any size)");
            }
        }
    }
}
