package dev.atelier.engine.synth;

import dev.atelier.engine.embed.BoundingBox;
import java.awt.image.BufferedImage;

/**
 * One drawn garment.
 *
 * @param image an RGB image (TYPE_INT_RGB), square
 * @param box   the garment's bounds in the image's pixels (inclusive corners, inside the image)
 * @param spec  what was drawn
 */
public record RenderedGarment(BufferedImage image, BoundingBox box, GarmentSpec spec) {}
