package dev.atelier.engine.catalog;

/** A box in image pixels, as DeepFashion's list_bbox files give it: top-left and bottom-right corners. */
public record BoundingBox(int x1, int y1, int x2, int y2) {}
