package dev.atelier.engine.train;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import javax.imageio.ImageIO;

/** Small synthetic "photos" for training tests: smooth coloured blobs on a gradient, seeded. */
final class TrainingPhotos {
    private TrainingPhotos() {}

    static void write(Path dir, int count, int width, int height, long seed) throws IOException {
        Files.createDirectories(dir);
        Random rng = new Random(seed);
        for (int i = 0; i < count; i++) {
            BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
            double cx = rng.nextDouble() * width, cy = rng.nextDouble() * height, r = (0.2 + 0.3 * rng.nextDouble()) * width;
            int base = rng.nextInt(0xffffff);
            for (int y = 0; y < height; y++) {
                for (int x = 0; x < width; x++) {
                    double d = Math.hypot(x - cx, y - cy) / r;
                    int inside = d < 1 ? 180 : 0;
                    int red = ((base >> 16) & 0xff) / 2 + (x * 100 / width);
                    int green = ((base >> 8) & 0xff) / 2 + inside / 3;
                    int blue = (base & 0xff) / 2 + (y * 100 / height) - inside / 4;
                    img.setRGB(x, y, (clamp(red) << 16) | (clamp(green) << 8) | clamp(blue));
                }
            }
            ImageIO.write(img, i % 2 == 0 ? "png" : "jpg", dir.resolve(String.format("photo%02d.%s", i, i % 2 == 0 ? "png" : "jpg")).toFile());
        }
    }

    private static int clamp(int v) {
        return Math.max(0, Math.min(255, v));
    }
}
