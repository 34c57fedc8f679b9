package dev.atelier.engine.names;

import java.util.Arrays;

/** A shape change that goes with a rename, where the two layouts store a weight differently. */
public enum Reshape {
    /** Same shape in both layouts. */
    NONE,
    /**
     * LDM stores a 1x1 convolution [out, in, 1, 1] where diffusers stores a Linear [out, in]
     * (the VAE's mid-block attention q/k/v/proj_out in diffusers 0.14 and later).
     */
    CONV1X1_TO_LINEAR;

    /** The shape in the diffusers layout for the LDM shape. */
    public long[] toDiffusers(long[] ldmShape) {
        if (this == CONV1X1_TO_LINEAR && ldmShape.length == 4 && ldmShape[2] == 1 && ldmShape[3] == 1) {
            return Arrays.copyOf(ldmShape, 2);
        }
        return ldmShape.clone();
    }

    /** The shape in the LDM layout for the diffusers shape. */
    public long[] toLdm(long[] diffusersShape) {
        if (this == CONV1X1_TO_LINEAR && diffusersShape.length == 2) {
            return new long[] {diffusersShape[0], diffusersShape[1], 1, 1};
        }
        return diffusersShape.clone();
    }
}
