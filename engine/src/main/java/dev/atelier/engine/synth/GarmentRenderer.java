package dev.atelier.engine.synth;

import dev.atelier.engine.embed.BoundingBox;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.synth.Silhouette.Part;
import dev.atelier.engine.synth.Silhouette.Role;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.GradientPaint;
import java.awt.Graphics2D;
import java.awt.LinearGradientPaint;
import java.awt.RenderingHints;
import java.awt.Shape;
import java.awt.geom.AffineTransform;
import java.awt.geom.Area;
import java.awt.geom.Path2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.awt.image.DataBufferInt;
import java.util.SplittableRandom;

/**
 * Draws a garment as a product photo: centred on a light, slightly varying background, filling
 * about 72-84% of the frame, with its pattern, mild fabric shading, seams and a soft shadow.
 * Deterministic: the same spec, size, seed and view give the same pixels. The seed fixes the
 * garment (its exact shape, shade and pattern phase) and, with the view, the framing; the two
 * views of one seed show the same garment.
 */
public final class GarmentRenderer {
    /** The smallest and largest image sides accepted. */
    public static final int MIN_SIZE = 32, MAX_SIZE = 1024;

    /** How the garment is framed: front on, or turned a little (narrower, framed differently). */
    public enum View { FRONT, SIDE }

    // Drawn at twice the size and averaged down: smooth clip edges and thin seams at 64 px.
    private static final int SUPERSAMPLE = 2;

    private GarmentRenderer() {}

    /** The front view of the garment of `seed`, size x size pixels. */
    public static RenderedGarment render(GarmentSpec spec, int size, long seed) {
        return render(spec, size, seed, View.FRONT);
    }

    /** One view of the garment of `seed`, size x size pixels. */
    public static RenderedGarment render(GarmentSpec spec, int size, long seed, View view) {
        checkSize(size);
        SplittableRandom garment = Seeds.random(seed, 0);
        SplittableRandom framing = Seeds.random(seed, 1 + view.ordinal());
        Silhouette s = Silhouettes.of(spec.type(), garment);
        Color primary = vary(spec.colour().rgb(), garment);
        Color secondary = vary(spec.secondary().rgb(), garment);
        Shape pattern = patternShape(spec.pattern(), garment);

        int n = size * SUPERSAMPLE;
        BufferedImage big = new BufferedImage(n, n, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = big.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_STROKE_CONTROL, RenderingHints.VALUE_STROKE_PURE);
            g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
            background(g, n, framing);
            AffineTransform place = placement(s, view, n, framing);
            g.transform(place);
            Rectangle2D bounds = s.bounds();
            shadow(g, s);
            for (Part p : s.parts) {
                paintPart(g, p, s, spec.pattern(), primary, secondary, pattern, bounds);
            }
            paintDetails(g, s, primary, secondary);
            Rectangle2D box = place.createTransformedShape(bounds).getBounds2D();
            BufferedImage image = downsample(big, size);
            addNoise(image, Seeds.random(seed, 10 + view.ordinal()));
            return new RenderedGarment(image, pixelBox(box, size), spec);
        } finally {
            g.dispose();
        }
    }

    static void checkSize(int size) {
        if (size < MIN_SIZE || size > MAX_SIZE) {
            throw new InvalidInputException("image size must be between " + MIN_SIZE + " and " + MAX_SIZE + " pixels, got " + size);
        }
    }

    /** The same colour in a slightly different shade, as two dyes of one colour differ. */
    private static Color vary(Color c, SplittableRandom r) {
        float[] hsb = Color.RGBtoHSB(c.getRed(), c.getGreen(), c.getBlue(), null);
        float hue = hsb[0] + (float) (r.nextDouble() - 0.5) * 0.016f;
        float sat = clamp01(hsb[1] * (float) (0.94 + 0.12 * r.nextDouble()));
        float bri = clamp01(hsb[2] * (float) (0.94 + 0.12 * r.nextDouble()));
        return Color.getHSBColor(hue - (float) Math.floor(hue), sat, bri);
    }

    private static float clamp01(float v) {
        return Math.max(0f, Math.min(1f, v));
    }

    /** A light neutral studio backdrop: a grey with a slight warm or cool tint, lighter at the top. */
    private static void background(Graphics2D g, int n, SplittableRandom r) {
        int l = 226 + r.nextInt(18), tint = r.nextInt(11) - 5;
        Color top = rgb(l + 6 + tint, l + 6, l + 6 - tint), bottom = rgb(l - 8 + tint, l - 8, l - 8 - tint);
        g.setPaint(new GradientPaint(0, 0, top, 0, n, bottom));
        g.fillRect(0, 0, n, n);
    }

    /** Garment units to pixels: fill 72-84% of the frame with the longer side, centre, jitter by up to 3.5%. */
    private static AffineTransform placement(Silhouette s, View view, int n, SplittableRandom r) {
        AffineTransform turn = view == View.SIDE ? AffineTransform.getScaleInstance(0.86, 1.0) : new AffineTransform();
        Rectangle2D b = turn.createTransformedShape(s.bounds()).getBounds2D();
        double fill = 0.72 + 0.12 * r.nextDouble();
        double scale = fill * n / Math.max(b.getWidth(), b.getHeight());
        double jx = (r.nextDouble() * 2 - 1) * 0.035 * n, jy = (r.nextDouble() * 2 - 1) * 0.035 * n;
        AffineTransform t = new AffineTransform();
        t.translate(n / 2.0 + jx, n / 2.0 + jy);
        t.scale(scale, scale);
        t.translate(-b.getCenterX(), -b.getCenterY());
        t.concatenate(turn);
        return t;
    }

    /** A soft shadow down and to the right: the silhouette three times, offset, faint. */
    private static void shadow(Graphics2D g, Silhouette s) {
        Area all = new Area();
        for (Part p : s.parts) {
            all.add(new Area(p.shape()));
        }
        for (int i = 1; i <= 3; i++) {
            Graphics2D h = (Graphics2D) g.create();
            h.translate(0.012 * i, 0.018 * i);
            h.setColor(new Color(40, 40, 50, 22));
            h.fill(all);
            h.dispose();
        }
    }

    /**
     * The pattern in garment units as one shape, drawn in the secondary colour over the patterned
     * parts. Repeats are large on purpose (see {@link GarmentPattern}); the phase is seeded.
     */
    private static Shape patternShape(GarmentPattern pattern, SplittableRandom r) {
        Path2D.Double p = new Path2D.Double();
        double extent = 1.4;
        switch (pattern) {
            case STRIPED -> {
                double period = 0.30 + 0.04 * r.nextDouble(), phase = r.nextDouble() * period;
                for (double y = -extent - phase; y < extent; y += period) {
                    p.append(new Rectangle2D.Double(-extent, y, 2 * extent, period * 0.5), false);
                }
            }
            case CHECKED -> {
                // Horizontal and vertical bands; CHECKED paints this shape twice (see paintPart).
                double period = 0.38 + 0.06 * r.nextDouble(), phase = r.nextDouble() * period;
                for (double a = -extent - phase; a < extent; a += period) {
                    p.append(new Rectangle2D.Double(-extent, a, 2 * extent, period * 0.5), false);
                }
            }
            case DOTTED -> {
                double period = 0.30 + 0.04 * r.nextDouble(), d = period * 0.50;
                double px = r.nextDouble() * period, py = r.nextDouble() * period;
                int row = 0;
                for (double y = -extent - py; y < extent; y += period * 0.87, row++) {
                    double shift = (row % 2) * period / 2;
                    for (double x = -extent - px + shift; x < extent; x += period) {
                        p.append(Silhouette.circle(x, y, d / 2), false);
                    }
                }
            }
            case PLAIN, COLORBLOCK -> {
                return null;
            }
        }
        return p;
    }

    private static void paintPart(Graphics2D g, Part part, Silhouette s, GarmentPattern pattern, Color primary,
            Color secondary, Shape patternShape, Rectangle2D garmentBounds) {
        boolean block = pattern == GarmentPattern.COLORBLOCK;
        Shape shape = part.shape();
        Color fill = switch (part.role()) {
            case INSIDE -> scale(primary, 0.6);
            case BODY -> primary;
            case SLEEVE, FACING -> block ? secondary : primary;
            case TRIM -> block ? secondary : scale(primary, 0.86);
        };
        g.setColor(fill);
        g.fill(shape);
        Shape oldClip = g.getClip();
        boolean patterned = part.role() == Role.BODY || part.role() == Role.SLEEVE || part.role() == Role.FACING;
        if (patterned && patternShape != null) {
            g.clip(shape);
            if (pattern == GarmentPattern.CHECKED) {
                // Gingham: each band half-covers; where they cross the secondary shows almost solid.
                Color half = new Color(secondary.getRed(), secondary.getGreen(), secondary.getBlue(), 150);
                g.setColor(half);
                g.fill(patternShape);
                g.fill(AffineTransform.getRotateInstance(Math.PI / 2).createTransformedShape(patternShape));
            } else {
                g.setColor(secondary);
                g.fill(patternShape);
            }
            g.setClip(oldClip);
        } else if (block && part.role() == Role.BODY && s.block != null) {
            g.clip(shape);
            g.setColor(secondary);
            g.fill(s.block);
            g.setClip(oldClip);
            // The seam where the two colours meet.
            Rectangle2D b = s.block.getBounds2D();
            g.setColor(new Color(0, 0, 0, 60));
            g.setStroke(new BasicStroke(0.014f));
            g.draw(Silhouette.clipTo(new Rectangle2D.Double(b.getX(), b.getY() - 0.007, b.getWidth(), 0.014), shape));
        }
        if (part.role() != Role.INSIDE) {
            shade(g, shape, garmentBounds);
        }
        g.setColor(scale(fill, 0.5));
        g.setStroke(new BasicStroke(0.022f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
        g.draw(shape);
    }

    /** Fabric shading: darker towards the part's sides (a cylinder), lit from the top. */
    private static void shade(Graphics2D g, Shape shape, Rectangle2D garment) {
        Rectangle2D b = shape.getBounds2D();
        if (b.getWidth() > 1e-6) {
            Color dark = new Color(0, 0, 0, 48), clear = new Color(0, 0, 0, 0), light = new Color(255, 255, 255, 22);
            g.setPaint(new LinearGradientPaint((float) b.getMinX(), 0f, (float) b.getMaxX(), 0f,
                    new float[] {0f, 0.25f, 0.45f, 0.75f, 1f}, new Color[] {dark, clear, light, clear, dark}));
            g.fill(shape);
        }
        g.setPaint(new GradientPaint(0f, (float) garment.getMinY(), new Color(255, 255, 255, 20),
                0f, (float) garment.getMaxY(), new Color(0, 0, 0, 30)));
        g.fill(shape);
    }

    private static void paintDetails(Graphics2D g, Silhouette s, Color primary, Color secondary) {
        boolean dark = luminance(primary) < 70;
        Color seam = dark ? new Color(255, 255, 255, 50) : new Color(0, 0, 0, 75);
        Color fold = dark ? new Color(0, 0, 0, 70) : new Color(0, 0, 0, 30);
        BasicStroke thin = new BasicStroke(0.014f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND);
        BasicStroke wide = new BasicStroke(0.05f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND);
        // Buttons and cords stand out from the primary: the secondary, or a contrast if it is too close.
        Color accent = distance(primary, secondary) > 80 ? secondary : luminance(primary) < 128 ? new Color(225, 220, 205) : new Color(40, 40, 40);
        for (Silhouette.Detail d : s.details) {
            switch (d) {
                case Silhouette.Fold f -> {
                    g.setColor(fold);
                    g.setStroke(wide);
                    g.draw(f.path());
                }
                case Silhouette.Seam m -> {
                    g.setColor(seam);
                    g.setStroke(thin);
                    g.draw(m.path());
                }
                case Silhouette.Button b -> {
                    Shape c = Silhouette.circle(b.x(), b.y(), b.r());
                    g.setColor(accent);
                    g.fill(c);
                    g.setColor(scale(accent, 0.5));
                    g.setStroke(thin);
                    g.draw(c);
                }
                case Silhouette.Cord c -> {
                    g.setColor(accent);
                    g.setStroke(new BasicStroke(0.024f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
                    g.draw(c.path());
                    Rectangle2D end = c.path().getBounds2D();
                    g.setColor(new Color(170, 170, 175));
                    g.fill(Silhouette.rect(end.getMaxX() - 0.03, end.getMaxY() - 0.03, end.getMaxX() + 0.015, end.getMaxY() + 0.03));
                }
            }
        }
    }

    /** Averages SUPERSAMPLE x SUPERSAMPLE blocks into one pixel. */
    private static BufferedImage downsample(BufferedImage big, int size) {
        int[] src = ((DataBufferInt) big.getRaster().getDataBuffer()).getData();
        BufferedImage out = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
        int[] dst = ((DataBufferInt) out.getRaster().getDataBuffer()).getData();
        int n = big.getWidth(), k = SUPERSAMPLE, count = k * k;
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                int r = 0, gr = 0, b = 0;
                for (int dy = 0; dy < k; dy++) {
                    int row = (y * k + dy) * n + x * k;
                    for (int dx = 0; dx < k; dx++) {
                        int p = src[row + dx];
                        r += (p >> 16) & 255;
                        gr += (p >> 8) & 255;
                        b += p & 255;
                    }
                }
                dst[y * size + x] = ((r + count / 2) / count) << 16 | ((gr + count / 2) / count) << 8 | (b + count / 2) / count;
            }
        }
        return out;
    }

    /** Faint per-pixel noise, as a camera adds: the image looks less like flat clip-art. */
    private static void addNoise(BufferedImage image, SplittableRandom r) {
        int[] px = ((DataBufferInt) image.getRaster().getDataBuffer()).getData();
        for (int i = 0; i < px.length; i++) {
            int p = px[i], e = r.nextInt(5) - 2;
            px[i] = clamp(((p >> 16) & 255) + e) << 16 | clamp(((p >> 8) & 255) + e) << 8 | clamp((p & 255) + e);
        }
    }

    private static BoundingBox pixelBox(Rectangle2D box, int size) {
        double k = SUPERSAMPLE;
        int x1 = Math.max(0, (int) Math.floor(box.getMinX() / k)), y1 = Math.max(0, (int) Math.floor(box.getMinY() / k));
        int x2 = Math.min(size - 1, (int) Math.ceil(box.getMaxX() / k)), y2 = Math.min(size - 1, (int) Math.ceil(box.getMaxY() / k));
        return new BoundingBox(x1, y1, x2, y2);
    }

    private static Color scale(Color c, double f) {
        return rgb((int) Math.round(c.getRed() * f), (int) Math.round(c.getGreen() * f), (int) Math.round(c.getBlue() * f));
    }

    private static Color rgb(int r, int g, int b) {
        return new Color(clamp(r), clamp(g), clamp(b));
    }

    private static int clamp(int v) {
        return Math.max(0, Math.min(255, v));
    }

    private static double luminance(Color c) {
        return 0.2126 * c.getRed() + 0.7152 * c.getGreen() + 0.0722 * c.getBlue(); // Rec. 709 luma weights
    }

    private static double distance(Color a, Color b) {
        return Math.hypot(Math.hypot(a.getRed() - b.getRed(), a.getGreen() - b.getGreen()), a.getBlue() - b.getBlue());
    }
}
