package dev.atelier.engine.eval;

import static dev.atelier.engine.report.Html.esc;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.atelier.engine.util.AtomicFiles;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import dev.atelier.engine.util.BoundedImageReader;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Base64;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import javax.imageio.ImageIO;

/**
 * Writes an evaluation {@link StyleEvaluation.Report} as {@code evaluation.json},
 * {@code similarity.csv}, {@code catalog.csv} and one self-contained {@code evaluation.html}
 * (thumbnails embedded as data URIs, no network), each atomically.
 */
public final class ReportFiles {
    private static final int THUMB = 160;

    private ReportFiles() {}

    public static void write(StyleEvaluation.Report report, Path dir) {
        AtomicFiles.write(dir.resolve("evaluation.json"), json(report).getBytes(StandardCharsets.UTF_8));
        AtomicFiles.write(dir.resolve("similarity.csv"), similarityCsv(report).getBytes(StandardCharsets.UTF_8));
        AtomicFiles.write(dir.resolve("catalog.csv"), catalogCsv(report).getBytes(StandardCharsets.UTF_8));
        AtomicFiles.write(dir.resolve("evaluation.html"), html(report).getBytes(StandardCharsets.UTF_8));
    }

    public static String json(StyleEvaluation.Report report) {
        try {
            return new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(tree(report));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** evaluation.json's content as a JSON tree (what {@code atelier serve} answers an evaluation with). */
    public static ObjectNode tree(StyleEvaluation.Report report) {
        ObjectNode root = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
        root.put("mean_best_similarity", report.meanBest());
        root.put("mean_similarity", report.meanSimilarity());
        ArrayNode wardrobe = root.putArray("wardrobe");
        report.wardrobe().forEach(p -> wardrobe.add(p.toString()));
        ArrayNode results = root.putArray("generated");
        for (StyleEvaluation.GeneratedResult r : report.results()) {
            ObjectNode o = results.addObject();
            o.put("image", r.image().toString());
            o.put("best_wardrobe", report.wardrobe().get(r.bestWardrobe()).toString());
            o.put("best_similarity", r.bestSimilarity());
            ArrayNode sims = o.putArray("similarities");
            for (float s : r.similarities()) {
                sims.add(s);
            }
            ArrayNode catalog = o.putArray("catalog");
            for (StyleEvaluation.CatalogMatch c : r.catalog()) {
                ObjectNode h = catalog.addObject();
                h.put("path", c.item().path());
                h.put("item_id", c.item().itemId());
                h.put("category", c.item().category());
                h.put("score", c.score());
            }
        }
        report.garment().ifPresent(g -> {
            ObjectNode o = root.putObject("garment");
            o.put("garment", g.garment());
            g.typeFidelity().ifPresent(v -> o.put("type_fidelity", v));
            g.catalogTypeShare().ifPresent(v -> o.put("catalog_type_share", v));
            ArrayNode seen = o.putArray("seen_types");
            g.seenTypes().forEach(seen::add);
        });
        report.retrieval().ifPresent(r -> {
            ObjectNode o = root.putObject("retrieval");
            o.put("k", r.k());
            figure(o.putObject("type"), r.type());
            r.pattern().ifPresent(p -> figure(o.putObject("pattern"), p));
        });
        return root;
    }

    private static void figure(ObjectNode o, RetrievalPrecision.Figure f) {
        o.put("precision", f.precision());
        o.put("queries", f.queries());
        ObjectNode by = o.putObject("by_label");
        f.byLabel().forEach(by::put);
    }

    static String similarityCsv(StyleEvaluation.Report report) {
        StringBuilder s = new StringBuilder("generated,wardrobe,cosine,best\n");
        for (StyleEvaluation.GeneratedResult r : report.results()) {
            for (int j = 0; j < report.wardrobe().size(); j++) {
                s.append(csv(r.image().toString())).append(',').append(csv(report.wardrobe().get(j).toString())).append(',')
                        .append(String.format(Locale.ROOT, "%.6f", r.similarities()[j])).append(',')
                        .append(j == r.bestWardrobe()).append('\n');
            }
        }
        return s.toString();
    }

    static String catalogCsv(StyleEvaluation.Report report) {
        StringBuilder s = new StringBuilder("generated,rank,path,item_id,category,score\n");
        for (StyleEvaluation.GeneratedResult r : report.results()) {
            int rank = 1;
            for (StyleEvaluation.CatalogMatch c : r.catalog()) {
                s.append(csv(r.image().toString())).append(',').append(rank++).append(',').append(csv(c.item().path()))
                        .append(',').append(csv(c.item().itemId())).append(',').append(csv(c.item().category())).append(',')
                        .append(String.format(Locale.ROOT, "%.6f", c.score())).append('\n');
            }
        }
        return s.toString();
    }

    private static String csv(String v) {
        return v.contains(",") || v.contains("\"") || v.contains("\n") ? "\"" + v.replace("\"", "\"\"") + "\"" : v;
    }

    static String html(StyleEvaluation.Report report) {
        Map<String, String> thumbs = new HashMap<>();
        StringBuilder h = new StringBuilder();
        h.append("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Atelier evaluation</title><style>")
                .append("body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}")
                .append("td{padding:6px;vertical-align:top;text-align:center;font-size:12px}img{width:")
                .append(THUMB).append("px;height:auto;border-radius:4px}.score{font-weight:bold}")
                .append("h2{margin-top:2em}</style></head><body><h1>Style evaluation</h1>")
                .append(String.format(Locale.ROOT, "<p>Mean best wardrobe similarity <span class=\"score\" id=\"mean-best\">%.4f</span>, "
                        + "mean over all pairs <span class=\"score\" id=\"mean-all\">%.4f</span> (cosine on 128-d PCA features).</p>",
                        report.meanBest(), report.meanSimilarity()))
                .append(garmentHtml(report))
                .append("<h2>Generated image beside its best wardrobe match, and the nearest catalog items</h2><table>");
        for (StyleEvaluation.GeneratedResult r : report.results()) {
            Path best = report.wardrobe().get(r.bestWardrobe());
            h.append("<tr><td>").append(img(r.image().toString(), thumbs)).append("<br>").append(esc(r.image().getFileName().toString()))
                    .append("</td><td>").append(img(best.toString(), thumbs)).append("<br>best match<br><span class=\"score\">")
                    .append(String.format(Locale.ROOT, "%.4f", r.bestSimilarity())).append("</span></td>");
            for (StyleEvaluation.CatalogMatch c : r.catalog()) {
                h.append("<td>").append(img(c.item().path(), thumbs)).append("<br>").append(esc(c.item().category())).append("<br>")
                        .append(esc(c.item().itemId())).append("<br><span class=\"score\">")
                        .append(String.format(Locale.ROOT, "%.4f", c.score())).append("</span></td>");
            }
            h.append("</tr>");
        }
        h.append("</table></body></html>\n");
        return h.toString();
    }

    /** Prompt fidelity and retrieval precision as sentences, when measured. */
    private static String garmentHtml(StyleEvaluation.Report report) {
        StringBuilder h = new StringBuilder();
        report.garment().ifPresent(g -> {
            h.append("<p>Garment asked for: <b>").append(esc(g.garment())).append("</b>.");
            g.typeFidelity().ifPresent(v -> h.append(String.format(Locale.ROOT,
                    " Seen as that garment by the embedder's type head: <span class=\"score\" id=\"type-fidelity\">%.0f%%</span>.", 100 * v)));
            g.catalogTypeShare().ifPresent(v -> h.append(String.format(Locale.ROOT,
                    " Catalog items of that category among the nearest: <span class=\"score\" id=\"catalog-type-share\">%.0f%%</span>.", 100 * v)));
            h.append("</p>");
        });
        report.retrieval().ifPresent(r -> {
            h.append(String.format(Locale.ROOT, "<p>Catalog search on %d query images of the catalog: precision@%d by garment type "
                    + "<span class=\"score\" id=\"precision-type\">%.3f</span>", r.type().queries(), r.k(), r.type().precision()));
            r.pattern().ifPresent(p -> h.append(String.format(Locale.ROOT,
                    ", by pattern <span class=\"score\" id=\"precision-pattern\">%.3f</span>", p.precision())));
            h.append(".</p>");
        });
        return h.toString();
    }

    /** An img tag with the picture embedded (downscaled PNG), or a note when the file cannot be read. */
    static String img(String path, Map<String, String> cache) {
        String uri = cache.computeIfAbsent(path, ReportFiles::dataUri);
        return uri.isEmpty() ? "<em>(unreadable)</em>" : "<img alt=\"" + esc(path) + "\" src=\"" + uri + "\">";
    }

    private static String dataUri(String path) {
        try {
            BufferedImage src = BoundedImageReader.read(Path.of(path));
            int w = Math.min(THUMB, src.getWidth());
            int h = Math.max(1, src.getHeight() * w / src.getWidth());
            BufferedImage thumb = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
            Graphics2D g = thumb.createGraphics();
            g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
            g.drawImage(src, 0, 0, w, h, java.awt.Color.WHITE, null);
            g.dispose();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ImageIO.write(thumb, "png", out);
            return "data:image/png;base64," + Base64.getEncoder().encodeToString(out.toByteArray());
        } catch (IOException | RuntimeException e) {
            return "";
        }
    }
}
