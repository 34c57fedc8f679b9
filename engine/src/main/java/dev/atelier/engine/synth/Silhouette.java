package dev.atelier.engine.synth;

import java.awt.Shape;
import java.awt.geom.AffineTransform;
import java.awt.geom.Area;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Path2D;
import java.awt.geom.Rectangle2D;
import java.util.ArrayList;
import java.util.List;

/**
 * A garment as drawable pieces in garment units (about -1..1 each way, y down): fabric parts
 * from back to front and the details drawn over them. The renderer decides colours and patterns
 * from each part's {@link Role}.
 */
final class Silhouette {
    /** What a part is, which decides its colour and whether it carries the pattern. */
    enum Role {
        /** The inside of the garment seen through an opening: a darker primary, no pattern. */
        INSIDE,
        /** The main fabric; in colorblock, the part inside {@link #block} takes the secondary. */
        BODY,
        /** Sleeves: patterned; all secondary in colorblock. */
        SLEEVE,
        /** Collars, lapels, hoods, pockets: patterned; secondary in colorblock. */
        FACING,
        /** Ribbing, cuffs, waistbands, belts: plain, slightly darker; secondary in colorblock. */
        TRIM
    }

    record Part(Shape shape, Role role) {}

    /** Lines and small things drawn over the fabric. */
    sealed interface Detail {}

    /** A stitched seam or an edge: a thin dark line. */
    record Seam(Shape path) implements Detail {}

    /** A soft fold: a wide, faint dark line. */
    record Fold(Shape path) implements Detail {}

    /** A button of radius r. */
    record Button(double x, double y, double r) implements Detail {}

    /** A drawstring in the secondary colour. */
    record Cord(Shape path) implements Detail {}

    final List<Part> parts = new ArrayList<>();
    final List<Detail> details = new ArrayList<>();
    /** Where BODY parts take the secondary colour in colorblock; null for none. */
    Shape block;

    Silhouette part(Shape shape, Role role) {
        parts.add(new Part(shape, role));
        return this;
    }

    /** Adds the shape and its mirror image across x = 0. */
    Silhouette pair(Shape shape, Role role) {
        parts.add(new Part(shape, role));
        parts.add(new Part(mirror(shape), role));
        return this;
    }

    Silhouette seam(Shape path) {
        details.add(new Seam(path));
        return this;
    }

    Silhouette seams(Shape path) {
        details.add(new Seam(path));
        details.add(new Seam(mirror(path)));
        return this;
    }

    Silhouette fold(Shape path) {
        details.add(new Fold(path));
        return this;
    }

    Silhouette folds(Shape path) {
        details.add(new Fold(path));
        details.add(new Fold(mirror(path)));
        return this;
    }

    Silhouette button(double x, double y, double r) {
        details.add(new Button(x, y, r));
        return this;
    }

    Silhouette detail(Detail d) {
        details.add(d);
        return this;
    }

    /** The union of the parts' bounds. */
    Rectangle2D bounds() {
        Rectangle2D b = null;
        for (Part p : parts) {
            Rectangle2D r = p.shape().getBounds2D();
            if (b == null) {
                b = r;
            } else {
                b.add(r);
            }
        }
        return b == null ? new Rectangle2D.Double() : b;
    }

    static Shape mirror(Shape s) {
        return AffineTransform.getScaleInstance(-1, 1).createTransformedShape(s);
    }

    /** The part of `shape` inside `within` (for belts and bands that follow the body's edge). */
    static Shape clipTo(Shape shape, Shape within) {
        Area a = new Area(shape);
        a.intersect(new Area(within));
        return a;
    }

    static Shape rect(double x1, double y1, double x2, double y2) {
        return new Rectangle2D.Double(x1, y1, x2 - x1, y2 - y1);
    }

    static Shape circle(double x, double y, double r) {
        return new Ellipse2D.Double(x - r, y - r, 2 * r, 2 * r);
    }

    /** A path builder with short names, for the outlines in {@link Silhouettes}. */
    static final class P {
        private final Path2D.Double path = new Path2D.Double();

        static P at(double x, double y) {
            P p = new P();
            p.path.moveTo(x, y);
            return p;
        }

        P to(double x, double y) {
            path.lineTo(x, y);
            return this;
        }

        P q(double cx, double cy, double x, double y) {
            path.quadTo(cx, cy, x, y);
            return this;
        }

        P c(double c1x, double c1y, double c2x, double c2y, double x, double y) {
            path.curveTo(c1x, c1y, c2x, c2y, x, y);
            return this;
        }

        /** The open path (a line). */
        Shape open() {
            return path;
        }

        /** The closed outline. */
        Shape closed() {
            path.closePath();
            return path;
        }
    }
}
