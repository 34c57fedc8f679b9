package dev.atelier.engine.embed;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.testing.Fixtures;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/** The torchvision MobileNetV3-Large reference outputs in sd15-tiny/mobilenet_v3_large. */
final class MobilenetFixture {
    static final int PIXELS = 3 * 224 * 224;

    final Path dir = Fixtures.sd15Tiny().resolve("mobilenet_v3_large");
    final Path weights = dir.resolve("mobilenet_v3_large.safetensors");
    final List<Path> images;
    final float[] input;  // [n, 3, 224, 224]
    final float[] pooled; // [n, 960]
    final float[] logits; // [n, 1000]

    MobilenetFixture() {
        try (SafeTensorsFile expected = SafeTensorsFile.open(dir.resolve("expected.safetensors"))) {
            String[] names = new ObjectMapper().readValue(expected.metadata().get("images"), String[].class);
            images = Arrays.stream(names).map(n -> dir.resolve("images").resolve(n)).toList();
            input = expected.view("input").toFloatArray();
            pooled = expected.view("pooled").toFloatArray();
            logits = expected.view("logits").toFloatArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    int count() {
        return images.size();
    }

    static float[] row(float[] all, int i, int width) {
        return Arrays.copyOfRange(all, i * width, (i + 1) * width);
    }

    static double maxAbs(float[] a) {
        double m = 0;
        for (float v : a) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    static double maxAbsDiff(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new AssertionError("lengths differ: " + a.length + " vs " + b.length);
        }
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    static double cosine(float[] a, float[] b) {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += (double) a[i] * b[i];
            na += (double) a[i] * a[i];
            nb += (double) b[i] * b[i];
        }
        return dot / Math.sqrt(na * nb);
    }
}
