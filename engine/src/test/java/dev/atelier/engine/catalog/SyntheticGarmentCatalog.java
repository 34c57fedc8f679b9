package dev.atelier.engine.catalog;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.Rectangle;
import java.awt.RenderingHints;
import java.awt.Shape;
import java.awt.geom.AffineTransform;
import java.awt.geom.GeneralPath;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import javax.imageio.ImageIO;

/**
 * A synthetic DeepFashion In-shop catalog of drawn garments, written by tests: each item is a
 * silhouette (dress, skirt, shirt or trousers) in its own colour and pattern (solid, stripes,
 * dots or checks), seen in {@link #VIEWS} JPEG views that differ by a pose-like transform (small
 * rotation, shift and scale), a random crop of the canvas and a colour shift. Layout and list
 * files as DeepFashion ships them (count line, header line): {@code img/<GENDER>/<Category>/<id>/NN_view.jpg},
 * {@code Eval/list_eval_partition.txt}, {@code Anno/list_bbox_inshop.txt} (the garment's box in
 * the view), {@code Anno/list_item_inshop.txt}. The first {@code trainItems} items are train
 * images; of the others, view 1 is a query and the remaining views are gallery images.
 */
public final class SyntheticGarmentCatalog {
    public static final String[] VIEW_NAMES = {"1_front", "2_side", "3_back", "4_full", "5_additional"};
    public static final int VIEWS = VIEW_NAMES.length;
    private static final String[] CATEGORIES = {"WOMEN/Dresses", "WOMEN/Skirts", "MEN/Shirts_Polos", "MEN/Pants"};
    private static final int WIDTH = 256;
    private static final int HEIGHT = 320;

    private SyntheticGarmentCatalog() {}

    /** Writes items x VIEWS images and the list files under root; returns root. */
    public static Path write(Path root, int items, int trainItems, long seed) throws IOException {
        Random random = new Random(seed);
        List<String> partition = new ArrayList<>();
        List<String> bbox = new ArrayList<>();
        List<String> itemIds = new ArrayList<>();
        for (int i = 0; i < items; i++) {
            String itemId = String.format("id_%08d", i + 1);
            itemIds.add(itemId);
            int kind = i % CATEGORIES.length;
            Garment garment = new Garment(kind, randomColour(random), randomColour(random), random.nextInt(4),
                    6 + random.nextInt(18), random.nextDouble() * Math.PI);
            for (int v = 0; v < VIEWS; v++) {
                String name = "img/" + CATEGORIES[kind] + "/" + itemId + "/" + String.format("%02d_", v + 1) + VIEW_NAMES[v] + ".jpg";
                Rectangle box = drawView(root.resolve(name), garment, random);
                String status = i < trainItems ? "train" : v == 0 ? "query" : "gallery";
                partition.add(name + " " + itemId + " " + status);
                // clothes_type 1-3 (upper, lower, full body), pose_type 1-5 (view)
                bbox.add(name + " " + (kind == 0 ? 3 : kind == 2 ? 1 : 2) + " " + (v + 1) + " "
                        + box.x + " " + box.y + " " + (box.x + box.width) + " " + (box.y + box.height));
            }
        }
        SyntheticInShop.writeList(root.resolve("Eval/list_eval_partition.txt"), "image_name item_id evaluation_status", partition);
        SyntheticInShop.writeList(root.resolve("Anno/list_bbox_inshop.txt"), "image_name clothes_type pose_type x_1 y_1 x_2 y_2", bbox);
        SyntheticInShop.writeList(root.resolve("Anno/list_item_inshop.txt"), "item_id", itemIds);
        return root;
    }

    /** What makes an item recognisable across its views. */
    private record Garment(int kind, Color colour, Color accent, int pattern, int period, double patternAngle) {}

    private static Color randomColour(Random random) {
        return Color.getHSBColor(random.nextFloat(), 0.35f + 0.6f * random.nextFloat(), 0.3f + 0.65f * random.nextFloat());
    }

    /** Draws one view into a JPEG file and returns the garment's bounding box in it. */
    private static Rectangle drawView(Path file, Garment g, Random random) throws IOException {
        // A larger canvas, then a random crop of the output size from it: the crop is the camera framing.
        int margin = 24;
        BufferedImage canvas = new BufferedImage(WIDTH + 2 * margin, HEIGHT + 2 * margin, BufferedImage.TYPE_INT_RGB);
        Graphics2D gr = canvas.createGraphics();
        gr.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        int shade = 200 + random.nextInt(50);
        gr.setColor(new Color(shade, shade, shade - random.nextInt(20)));
        gr.fillRect(0, 0, canvas.getWidth(), canvas.getHeight());

        // Pose: rotation up to 8 degrees, scale 0.85-1.1, shift up to 16 px, about the canvas centre.
        AffineTransform pose = new AffineTransform();
        pose.translate(canvas.getWidth() / 2.0 + (random.nextDouble() * 2 - 1) * 16,
                canvas.getHeight() / 2.0 + (random.nextDouble() * 2 - 1) * 16);
        pose.rotate(Math.toRadians((random.nextDouble() * 2 - 1) * 8));
        double scale = 0.85 + 0.25 * random.nextDouble();
        pose.scale(scale, scale);
        Shape silhouette = pose.createTransformedShape(silhouette(g.kind()));

        gr.setClip(silhouette);
        gr.setColor(g.colour());
        gr.fill(silhouette);
        drawPattern(gr, g, pose, canvas.getWidth(), canvas.getHeight());
        gr.setClip(null);
        gr.setColor(g.colour().darker().darker());
        gr.setStroke(new BasicStroke(2f));
        gr.draw(silhouette);
        gr.dispose();

        int cx = random.nextInt(2 * margin + 1), cy = random.nextInt(2 * margin + 1);
        BufferedImage view = new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
        // Colour shift: a gain per channel of 0.85-1.15 (lighting and white balance).
        double[] gain = {0.85 + 0.3 * random.nextDouble(), 0.85 + 0.3 * random.nextDouble(), 0.85 + 0.3 * random.nextDouble()};
        for (int y = 0; y < HEIGHT; y++) {
            for (int x = 0; x < WIDTH; x++) {
                int rgb = canvas.getRGB(x + cx, y + cy);
                int r = clamp(((rgb >> 16) & 255) * gain[0] + random.nextGaussian() * 3);
                int gg = clamp(((rgb >> 8) & 255) * gain[1] + random.nextGaussian() * 3);
                int b = clamp((rgb & 255) * gain[2] + random.nextGaussian() * 3);
                view.setRGB(x, y, (r << 16) | (gg << 8) | b);
            }
        }
        Files.createDirectories(file.getParent());
        if (!ImageIO.write(view, "jpg", file.toFile())) {
            throw new IOException("no JPEG writer");
        }
        Rectangle bounds = silhouette.getBounds();
        bounds.translate(-cx, -cy);
        return bounds.intersection(new Rectangle(0, 0, WIDTH, HEIGHT));
    }

    private static void drawPattern(Graphics2D gr, Garment g, AffineTransform pose, int w, int h) {
        if (g.pattern() == 0) {
            return; // solid
        }
        Graphics2D p = (Graphics2D) gr.create();
        p.transform(pose);
        p.rotate(g.patternAngle());
        p.setColor(g.accent());
        int extent = Math.max(w, h);
        int period = g.period();
        for (int a = -extent; a < extent; a += period) {
            switch (g.pattern()) {
                case 1 -> p.fillRect(a, -extent, period / 2, 2 * extent); // stripes
                case 2 -> { // dots
                    for (int b = -extent; b < extent; b += period) {
                        p.fillOval(a, b, period / 2, period / 2);
                    }
                }
                default -> { // checks
                    p.fillRect(a, -extent, Math.max(1, period / 4), 2 * extent);
                    p.fillRect(-extent, a, 2 * extent, Math.max(1, period / 4));
                }
            }
        }
        p.dispose();
    }

    /** A garment outline centred on the origin, about 200 x 260 px. */
    private static Shape silhouette(int kind) {
        GeneralPath s = new GeneralPath();
        switch (kind) {
            case 0 -> { // dress: straps, fitted bodice, flared skirt
                s.moveTo(-40, -130); s.lineTo(-25, -130); s.lineTo(-15, -100); s.lineTo(15, -100);
                s.lineTo(25, -130); s.lineTo(40, -130); s.lineTo(45, -40); s.lineTo(100, 130);
                s.lineTo(-100, 130); s.lineTo(-45, -40);
            }
            case 1 -> { // skirt: waistband and A-line
                s.moveTo(-55, -90); s.lineTo(55, -90); s.lineTo(95, 100); s.lineTo(-95, 100);
            }
            case 2 -> { // shirt: shoulders, sleeves, body
                s.moveTo(-30, -120); s.lineTo(30, -120); s.lineTo(100, -90); s.lineTo(110, -20);
                s.lineTo(70, -15); s.lineTo(70, 120); s.lineTo(-70, 120); s.lineTo(-70, -15);
                s.lineTo(-110, -20); s.lineTo(-100, -90);
            }
            default -> { // trousers: waist, two legs
                s.moveTo(-60, -130); s.lineTo(60, -130); s.lineTo(70, 130); s.lineTo(15, 130);
                s.lineTo(0, -40); s.lineTo(-15, 130); s.lineTo(-70, 130);
            }
        }
        s.closePath();
        return s;
    }

    private static int clamp(double v) {
        return (int) Math.max(0, Math.min(255, Math.round(v)));
    }
}
