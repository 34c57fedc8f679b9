package dev.atelier.engine.embed;

import dev.atelier.engine.core.AtelierException.InvalidInputException;

/**
 * A pixel rectangle, PIL's crop box convention: {@code left <= x < right}, {@code top <= y < bottom}
 * (DeepFashion's {@code x_1 y_1 x_2 y_2} bounding boxes read this way).
 */
public record BoundingBox(int left, int top, int right, int bottom) {
    public BoundingBox {
        if (left < 0 || top < 0 || right <= left || bottom <= top) {
            throw new InvalidInputException("bounding box (" + left + ", " + top + ", " + right + ", " + bottom
                    + ") must have 0 <= left < right and 0 <= top < bottom");
        }
    }

    public int width() {
        return right - left;
    }

    public int height() {
        return bottom - top;
    }

    /** This box cut to a width x height image; throws when nothing of it lies inside. */
    public BoundingBox clampTo(int width, int height) {
        int r = Math.min(right, width);
        int b = Math.min(bottom, height);
        if (left >= r || top >= b) {
            throw new InvalidInputException("bounding box " + this + " lies outside the " + width + "x" + height + " image");
        }
        return new BoundingBox(left, top, r, b);
    }
}
