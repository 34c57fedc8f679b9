package dev.atelier.benchmarks.search;

import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.NativeInfo;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.embed.TorchEmbedder;
import dev.atelier.engine.embed.EmbedderOptions;
import dev.atelier.engine.embed.ImageTransform;
import dev.atelier.engine.embed.RgbImage;
import dev.atelier.engine.index.IndexSpec;
import dev.atelier.engine.index.Pca;
import dev.atelier.engine.index.VectorIndex;
import dev.atelier.engine.onnx.MobileNetV3Config;
import dev.atelier.engine.onnx.MobileNetV3OnnxExport;
import dev.atelier.engine.onnx.OnnxImageModel;
import dev.atelier.engine.onnx.OnnxOptions;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import javax.imageio.ImageIO;

/**
 * End to end, JPEG bytes to the top 5 of a catalog: decode (ImageIO, as the engine's decoder),
 * torchvision's transforms, MobileNetV3-Large on the libtorch backend (batch 1, one thread),
 * (and the same on the ONNX Runtime backend, Atelier's own export), PCA 960 -> 128 with L2 normalisation, then a FAISS search (flat and HNSW32) of n synthetic
 * clustered 128-d catalog vectors, one request at a time on one thread. The PCA is trained on
 * the embeddings of the request images themselves (the catalog vectors are synthetic: embedding
 * 800,000 real images is not part of a search benchmark), so the projected queries come from
 * another distribution than the catalog's; flat search costs the same either way.
 *
 * <pre>java --enable-native-access=ALL-UNNAMED -Xmx4g -cp benchmarks/target/benchmarks.jar \
 *     dev.atelier.benchmarks.search.EndToEndSearch --weights mobilenet_v3_large.safetensors \
 *     [--n 100000] [--requests 300] [--images 160] [--indexes "flat;hnsw" (';'-separated: FAISS factory strings hold commas)] [--backends torch,onnx]</pre>
 */
public final class EndToEndSearch {
    private EndToEndSearch() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> opt = SearchBenchmark.options(args);
        Path weights = Path.of(opt.get("weights"));
        int n = Integer.parseInt(opt.getOrDefault("n", "100000"));
        int requests = Integer.parseInt(opt.getOrDefault("requests", "300"));
        int images = Integer.parseInt(opt.getOrDefault("images", "160"));
        List<String> indexes = List.of(opt.getOrDefault("indexes", "flat;hnsw").split(";"));
        List<String> backends = List.of(opt.getOrDefault("backends", "torch,onnx").split(","));
        NativeInfo.setThreads(2); // builds; single searches run on one thread regardless
        System.out.printf("end to end: n=%d requests=%d images=%d; load at start: %s%n", n, requests, images,
                SearchBenchmark.loadAverage());

        byte[][] jpegs = new byte[images][];
        Random random = new Random(7);
        for (int i = 0; i < images; i++) {
            jpegs[i] = drawJpeg(random);
        }
        ClusteredVectors catalog = ClusteredVectors.generate(n, 0, 128, Math.max(1, n / 200), 0.05f, 42);
        Path onnxFile = Files.createTempFile("atelier-e2e", ".onnx");
        MobileNetV3OnnxExport.writeFromFile(onnxFile, weights, MobileNetV3Config.LARGE, MobileNetV3OnnxExport.Options.DEFAULT);
        try (TorchEmbedder embedder = TorchEmbedder.open(weights, EmbedderOptions.defaults().withThreads(1));
             OnnxImageModel onnx = OnnxImageModel.open(onnxFile, new OnnxOptions(1, false, true));
             Pca pca = Pca.create(960, 128, 0f);
             Arena arena = Arena.ofShared()) {
            Files.delete(onnxFile); // the session holds the model
            ImageTransform transform = embedder.transform();
            int crop = transform.cropSize();
            Map<String, Net> nets = Map.of(
                    "torch", pixels -> forward(embedder, transform, pixels),
                    "onnx", pixels -> {
                        try (Arena a = Arena.ofConfined()) {
                            return onnx.run(TensorView.ofFloats(a, pixels, 1, 3, crop, crop),
                                    List.of(MobileNetV3OnnxExport.POOLED)).get(MobileNetV3OnnxExport.POOLED)[0];
                        }
                    });
            // PCA training rows: the request images' features.
            float[] features = new float[images * 960];
            for (int i = 0; i < images; i++) {
                System.arraycopy(embed(embedder, transform, decode(jpegs[i])), 0, features, i * 960, 960);
            }
            pca.train(TensorView.ofFloats(arena, features, images, 960));
            MemorySegment base = arena.allocate(ValueLayout.JAVA_FLOAT, (long) n * 128);
            MemorySegment.copy(catalog.base(), 0, base, ValueLayout.JAVA_FLOAT, 0, catalog.base().length);
            for (String name : indexes) {
                IndexSpec spec = name.equals("flat") ? IndexSpec.flat() : name.equals("hnsw") ? IndexSpec.hnsw() : IndexSpec.of(name);
                try (VectorIndex index = VectorIndex.create(spec, 128)) {
                    long t0 = System.nanoTime();
                    if (!index.isTrained()) { // IVF: k-means on a sample (rows are in random cluster order)
                        index.train(TensorView.of(base, DType.F32, Math.min(n, 200_000), 128));
                    }
                    index.add(TensorView.of(base, DType.F32, n, 128));
                    System.out.printf("  %s built in %.1f s%n", index.description(), (System.nanoTime() - t0) / 1e9);
                    for (String backend : backends) {
                        run(backend, index, nets.get(backend), transform, pca, jpegs, requests);
                    }
                }
            }
        }
    }

    /** One backend's network: transformed pixels [3, crop, crop] to pooled features [960]. */
    private interface Net {
        float[] pooled(float[] pixels);
    }

    private static void run(String backend, VectorIndex index, Net net, ImageTransform transform, Pca pca, byte[][] jpegs,
            int requests) throws IOException {
        int warmup = Math.min(20, requests);
        long[] total = new long[requests], decode = new long[requests], network = new long[requests], search = new long[requests];
        for (int r = -warmup; r < requests; r++) {
            byte[] jpeg = jpegs[Math.floorMod(r, jpegs.length)];
            long t0 = System.nanoTime();
            float[] pixels = transform.apply(decode(jpeg));
            long t1 = System.nanoTime();
            float[] pooled = net.pooled(pixels);
            long t2 = System.nanoTime();
            try (Arena arena = Arena.ofConfined()) {
                TensorView projected = TensorView.allocate(arena, DType.F32, 1, 128);
                pca.apply(TensorView.ofFloats(arena, pooled, 1, 960), projected, true);
                long[] top = index.search(projected, 5, null).ids();
                if (top[0] < 0) {
                    throw new IllegalStateException("no result");
                }
            }
            long t3 = System.nanoTime();
            if (r >= 0) {
                total[r] = t3 - t0;
                decode[r] = t1 - t0;
                network[r] = t2 - t1;
                search[r] = t3 - t2;
            }
        }
        System.out.printf(Locale.ROOT, "  e2e %s, %s backend: p50 %.2f ms, p99 %.2f ms (target p99 < 25 ms); stage p50s: decode+transform %.2f ms, "
                        + "embed %.2f ms, PCA+search %.3f ms; %d requests, one at a time%n",
                index.description(), backend, ms(total, 0.5), ms(total, 0.99), ms(decode, 0.5), ms(network, 0.5), ms(search, 0.5), requests);
    }

    private static double ms(long[] nanos, double p) {
        long[] sorted = nanos.clone();
        Arrays.sort(sorted);
        return Measurements.percentile(sorted, p) / 1e6;
    }

    private static float[] embed(TorchEmbedder embedder, ImageTransform transform, RgbImage image) {
        return forward(embedder, transform, transform.apply(image));
    }

    private static float[] forward(TorchEmbedder embedder, ImageTransform transform, float[] pixels) {
        int crop = transform.cropSize();
        try (Arena arena = Arena.ofConfined()) {
            return embedder.forward(TensorView.ofFloats(arena, pixels, 1, 3, crop, crop), false, false).pooled();
        }
    }

    /** JPEG bytes to 8-bit RGB (ImageIO, as the engine's ImageDecoder, which reads files only). */
    static RgbImage decode(byte[] jpeg) throws IOException {
        BufferedImage image = ImageIO.read(new ByteArrayInputStream(jpeg));
        int w = image.getWidth(), h = image.getHeight();
        byte[] rgb = new byte[w * h * 3];
        int[] row = new int[w];
        for (int y = 0; y < h; y++) {
            image.getRGB(0, y, w, 1, row, 0, w);
            for (int x = 0; x < w; x++) {
                int p = (y * w + x) * 3;
                rgb[p] = (byte) (row[x] >> 16);
                rgb[p + 1] = (byte) (row[x] >> 8);
                rgb[p + 2] = (byte) row[x];
            }
        }
        return new RgbImage(w, h, rgb);
    }

    /** A 256 x 256 product-photo-like JPEG (DeepFashion In-shop's size): a garment-ish shape and stripes on a light background. */
    private static byte[] drawJpeg(Random random) throws IOException {
        BufferedImage image = new BufferedImage(256, 256, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        g.setColor(new Color(225 + random.nextInt(30), 225 + random.nextInt(30), 225 + random.nextInt(30)));
        g.fillRect(0, 0, 256, 256);
        Color c = Color.getHSBColor(random.nextFloat(), 0.4f + 0.5f * random.nextFloat(), 0.3f + 0.6f * random.nextFloat());
        g.setColor(c);
        int w = 90 + random.nextInt(80), h = 150 + random.nextInt(90);
        g.fillRoundRect(128 - w / 2, 128 - h / 2, w, h, 30, 30);
        g.setColor(c.brighter());
        int period = 6 + random.nextInt(20);
        for (int y = 128 - h / 2; y < 128 + h / 2; y += period) {
            g.fillRect(128 - w / 2, y, w, period / 2);
        }
        g.dispose();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(image, "jpg", out);
        return out.toByteArray();
    }
}
