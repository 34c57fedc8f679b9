package dev.atelier.engine.report;

import dev.atelier.engine.util.Sha256;
import static dev.atelier.engine.report.Html.esc;

import dev.atelier.engine.report.DemoReport.CatalogHit;
import dev.atelier.engine.report.DemoReport.GeneratedEntry;
import dev.atelier.engine.report.DemoReport.LossPoint;
import dev.atelier.engine.report.DemoReport.Photo;
import dev.atelier.engine.report.DemoReport.SimilarityFigure;
import dev.atelier.engine.report.DemoReport.StageTime;
import dev.atelier.engine.report.DemoReport.Variant;
import dev.atelier.engine.util.AtomicFiles;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Writes a {@link DemoReport} as one self-contained HTML5 file: CSS and a small script inline,
 * every image embedded as a {@code data:} URI with its bytes as they are on disk, the loss curve as
 * inline SVG, and a Content-Security-Policy that forbids loading anything from anywhere else.
 *
 * <p>Stable hooks for tests and scrapers: each {@code <img>} has {@code data-role} (wardrobe,
 * generated, best-match, catalog) and {@code data-file} (the file name); the similarity figures are
 * {@code <span class="figure" data-variant="KEY">}; other numbers are {@code <span data-hook="...">}
 * (best-score, catalog-score, category, item-id, stage-time, total-time, loss-first, loss-last,
 * loss-min, verdict). On load, the page's script sets {@code data-loaded="true"|"false"} and
 * {@code data-natural-width}/{@code -height} on every image (after {@code img.decode()}), adds a
 * visible "image failed" note next to each failure, and finally sets {@code data-images-checked}
 * and {@code data-images-failed} on {@code <body>}.
 */
public final class ReportWriter {
    private static final String CSS = resource("report.css");
    private static final String SCRIPT = resource("report.js");
    private static final Pattern SEED = Pattern.compile("(?:^|[,\\n])\\s*Seed:\\s*(-?\\d+)");
    private static final DateTimeFormatter WHEN = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'").withZone(ZoneOffset.UTC);

    private ReportWriter() {}

    /**
     * Writes the report to {@code html} atomically (a temporary file in the same folder, then a
     * rename): readers see the old report or the whole new one. Every image is read here; a missing
     * or unreadable one throws {@link dev.atelier.engine.core.AtelierException.FormatException}
     * naming the file, and the old report is left as it was.
     */
    public static void write(DemoReport report, Path html) {
        byte[] bytes = render(report).getBytes(StandardCharsets.UTF_8);
        AtomicFiles.write(html, bytes);
    }

    /** The report as an HTML string (reads the image files). */
    public static String render(DemoReport report) {
        return new Page(report).html();
    }

    /** Builds one page; holds the image cache so each file is read and encoded once. */
    private static final class Page {
        private final DemoReport r;
        private final EmbeddedImage images = new EmbeddedImage();
        private final StringBuilder h = new StringBuilder(1 << 16);

        Page(DemoReport report) {
            this.r = report;
        }

        String html() {
            h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
                    .append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
                    // nothing may be fetched: images are data: URIs, style and script are inline
                    .append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; ")
                    .append("style-src 'unsafe-inline'; script-src '").append(sha256(SCRIPT)).append("'\">")
                    .append("<title>").append(esc(r.title())).append("</title><style>\n").append(CSS).append("</style></head>\n<body>\n");
            header();
            h.append("<main>\n");
            headline();
            retrieval();
            wardrobe();
            for (Variant v : r.variants()) {
                variant(v);
            }
            trainingAndTimings();
            h.append("</main>\n<footer>Self-contained report written by Atelier: every picture is embedded, nothing is loaded ")
                    .append("from the network. Scores are cosine similarities of MobileNetV3 features (1 = same direction).</footer>\n");
            h.append("<script>").append(SCRIPT).append("</script>\n</body></html>\n");
            return h.toString();
        }

        private void header() {
            int generated = r.variants().stream().mapToInt(v -> v.images().size()).sum();
            h.append("<header class=\"top\"><p class=\"eyebrow\">Atelier demo report</p><h1>").append(esc(r.title())).append("</h1>")
                    .append("<p class=\"sub\">").append(esc(WHEN.format(r.created()))).append(" · ")
                    .append(plural(r.wardrobe().size(), "wardrobe photo")).append(" · ").append(plural(generated, "generated image"))
                    .append(" in ").append(plural(r.variants().size(), "variant")).append(" · total time <span class=\"num\">")
                    .append(esc(Html.duration(r.totalTime()))).append("</span></p>");
            if (!r.facts().isEmpty()) {
                h.append("<dl class=\"facts\">");
                for (Map.Entry<String, String> f : r.facts().entrySet()) {
                    h.append("<div><dt>").append(esc(f.getKey())).append("</dt><dd>").append(esc(f.getValue())).append("</dd></div>");
                }
                h.append("</dl>");
            }
            h.append("</header>\n");
        }

        private void headline() {
            List<SimilarityFigure> figures = r.figures();
            h.append("<section class=\"card headline\" id=\"similarity\"><div><h3>Wardrobe similarity</h3>");
            String verdict = Verdict.sentence(figures);
            boolean up = verdict.startsWith("The LoRA moved");
            h.append("<p class=\"verdict").append(up ? " up" : "").append("\" data-hook=\"verdict\">").append(esc(verdict)).append("</p>")
                    .append("<p class=\"note\">Each figure: the mean, over a variant's generated images, of the cosine similarity ")
                    .append("to the closest wardrobe photo (MobileNetV3 features). Higher means closer to the person's style.</p></div>");
            if (figures.isEmpty()) {
                h.append("<p class=\"empty\">No similarity figures in this run.</p></section>\n");
                return;
            }
            long top = Verdict.highest(figures).map(Verdict::shown).orElseThrow();
            h.append("<div class=\"bars\">");
            for (SimilarityFigure f : figures) {
                boolean best = figures.size() > 1 && Verdict.shown(f) == top;
                double len = Math.max(0, Math.min(1, f.meanWardrobeSimilarity()));
                h.append("<div class=\"label").append(best ? " row-best" : "").append("\">").append(esc(f.description()));
                if (best) {
                    h.append("<span class=\"badge\">highest</span>");
                }
                h.append("<small>").append(esc(f.variant())).append("</small></div>")
                        .append("<svg class=\"").append(best ? "best" : "").append("\" viewBox=\"0 0 100 10\" preserveAspectRatio=\"none\" aria-hidden=\"true\">")
                        .append("<rect class=\"track\" x=\"0\" y=\"0\" width=\"100\" height=\"10\" rx=\"1\"/>")
                        .append("<rect class=\"bar\" x=\"0\" y=\"0\" width=\"").append(Html.num(100 * len, 2)).append("\" height=\"10\" rx=\"1\"/></svg>")
                        .append("<div class=\"").append(best ? "row-best" : "").append("\"><span class=\"figure\" data-variant=\"")
                        .append(esc(f.variant())).append("\"").append(best ? " data-highest=\"true\"" : "").append(">")
                        .append(Html.score(f.meanWardrobeSimilarity())).append("</span>");
                f.typeFidelity().ifPresent(v -> h.append("<small class=\"fidelity\">type kept <span data-hook=\"type-fidelity\" data-variant=\"")
                        .append(esc(f.variant())).append("\">").append(Html.percent(v)).append("</span></small>"));
                f.catalogTypeShare().ifPresent(v -> h.append("<small class=\"fidelity\">catalog top items of that type <span data-hook=\"catalog-type-share\" data-variant=\"")
                        .append(esc(f.variant())).append("\">").append(Html.percent(v)).append("</span></small>"));
                h.append("</div>");
            }
            h.append("</div>");
            if (figures.stream().anyMatch(f -> f.typeFidelity().isPresent() || f.catalogTypeShare().isPresent())) {
                h.append("<p class=\"note\">Type kept (prompt fidelity): the share of a variant's images that the embedder's garment-type ")
                        .append("head classifies as the prompted garment. Catalog top items of that type: the share of their nearest ")
                        .append("catalog items whose category is the prompted garment's.</p>");
            }
            h.append("</section>\n");
        }

        private void retrieval() {
            if (r.retrieval().isEmpty()) {
                return;
            }
            h.append("<section class=\"card panel\" id=\"retrieval\"><h3>Catalog search</h3><p class=\"note\">Each query image of the ")
                    .append("catalog searches the index; of its nearest other items, the share that has the query's label ")
                    .append("(precision@k, averaged over queries).</p><table><thead><tr><th>Label</th><th class=\"t\">Precision</th>")
                    .append("<th class=\"t\">Queries</th><th>Per label</th></tr></thead><tbody>");
            for (DemoReport.PrecisionFigure p : r.retrieval()) {
                StringBuilder per = new StringBuilder();
                p.byLabel().forEach((label, v) -> per.append(per.isEmpty() ? "" : ", ").append(label).append(' ').append(Html.percent(v)));
                h.append("<tr><th>").append(esc(p.label())).append("</th><td class=\"t\"><span data-hook=\"precision\" data-label=\"")
                        .append(esc(p.label())).append("\" data-value=\"").append(Html.num(p.value(), 4)).append("\">precision@")
                        .append(p.k()).append(' ').append(Html.percent(p.value())).append("</span></td><td class=\"t\">").append(p.queries())
                        .append("</td><td>").append(esc(per.toString())).append("</td></tr>");
            }
            h.append("</tbody></table></section>\n");
        }

        private void wardrobe() {
            h.append("<section id=\"wardrobe\"><div class=\"section-head\"><h2>The wardrobe</h2><p>")
                    .append(plural(r.wardrobe().size(), "photo")).append(" the LoRA was trained on</p></div><div class=\"card gallery\">");
            for (Photo p : r.wardrobe()) {
                h.append("<figure>").append(thumb(p.image(), "wardrobe", p.label())).append("<figcaption>").append(esc(p.label()))
                        .append("</figcaption></figure>");
            }
            h.append("</div></section>\n");
        }

        private void variant(Variant v) {
            h.append("<section class=\"variant\" data-variant=\"").append(esc(v.name())).append("\"><div class=\"section-head\"><h2>")
                    .append(esc(v.description())).append("</h2>");
            Optional<SimilarityFigure> f = r.figure(v.name());
            if (f.isPresent()) {
                h.append("<p class=\"mean\">mean wardrobe similarity <span class=\"figure-inline\">")
                        .append(Html.score(f.get().meanWardrobeSimilarity())).append("</span></p>");
            }
            h.append("</div>");
            if (v.images().isEmpty()) {
                h.append("<p class=\"card empty\">No images in this variant.</p>");
            }
            int i = 0;
            for (GeneratedEntry e : v.images()) {
                entry(v, e, i++);
            }
            h.append("</section>\n");
        }

        private void entry(Variant v, GeneratedEntry e, int index) {
            String at = " data-variant=\"" + esc(v.name()) + "\" data-index=\"" + index + "\"";
            Matcher seed = SEED.matcher(e.settings());
            String name = seed.find() ? "Seed " + seed.group(1) : "Image " + (index + 1);
            h.append("<article class=\"card entry\"").append(at).append("><div class=\"pair\"><figure>")
                    .append(thumb(e.image(), "generated", name + " (" + v.name() + ")"))
                    .append("<figcaption><strong>").append(esc(name)).append("</strong><br>").append(esc(e.image().getFileName().toString()))
                    .append("</figcaption></figure><figure>")
                    .append(thumb(e.bestMatch().image(), "best-match", "closest wardrobe photo: " + e.bestMatch().label()))
                    .append("<figcaption>Closest wardrobe photo: <strong>").append(esc(e.bestMatch().label())).append("</strong><br>")
                    .append("similarity <span class=\"score\" data-hook=\"best-score\"").append(at).append(">").append(Html.score(e.bestScore()))
                    .append("</span></figcaption></figure></div>");
            h.append("<div class=\"catalog\"><h3>").append(e.top().isEmpty() ? "Catalog" : "Top " + plural(e.top().size(), "catalog item"))
                    .append("</h3>");
            if (e.top().isEmpty()) {
                h.append("<p class=\"empty\">No catalog items found.</p>");
            } else {
                h.append("<ol class=\"hits small\">");
                int rank = 1;
                for (CatalogHit c : e.top()) {
                    h.append("<li><span class=\"rank\">").append(rank++).append("</span><figure>")
                            .append(thumb(c.image(), "catalog", c.category() + " " + c.itemId())).append("<figcaption>")
                            .append("<span class=\"score\" data-hook=\"catalog-score\">").append(Html.score(c.score())).append("</span> ")
                            .append("<span class=\"category\" data-hook=\"category\">").append(esc(c.category())).append("</span><br>")
                            .append("<span data-hook=\"item-id\">").append(esc(c.itemId())).append("</span></figcaption></figure></li>");
                }
                h.append("</ol>");
            }
            h.append("</div><pre class=\"settings\" data-hook=\"settings\">").append(esc(e.settings())).append("</pre></article>\n");
        }

        private void trainingAndTimings() {
            h.append("<section class=\"two\"><div class=\"card panel\" id=\"training\"><h3>LoRA training loss</h3>");
            List<LossPoint> loss = r.loss();
            if (loss.isEmpty()) {
                h.append("<p class=\"empty\">The LoRA was not trained in this run, so there is no loss curve.</p>");
            } else {
                double min = loss.stream().mapToDouble(LossPoint::loss).min().orElseThrow();
                h.append(LossChart.svg(loss)).append("<ul class=\"legend\"><li>steps <strong class=\"num\" data-hook=\"loss-steps\">")
                        .append(loss.size()).append("</strong></li><li>first <strong class=\"num\" data-hook=\"loss-first\">")
                        .append(Html.num(loss.get(0).loss(), 4)).append("</strong></li><li>last <strong class=\"num\" data-hook=\"loss-last\">")
                        .append(Html.num(loss.get(loss.size() - 1).loss(), 4)).append("</strong></li><li>lowest <strong class=\"num\" data-hook=\"loss-min\">")
                        .append(Html.num(min, 4)).append("</strong></li>");
                if (loss.size() >= LossChart.SMOOTH_FROM) {
                    h.append("<li>thin line: every step; thick line: smoothed</li>");
                }
                h.append("</ul>");
            }
            h.append("</div><div class=\"card panel\" id=\"timings\"><h3>Timings</h3>");
            if (r.timings().isEmpty()) {
                h.append("<p class=\"empty\">No timings recorded.</p>");
            } else {
                Duration total = r.totalTime();
                h.append("<table><thead><tr><th>Stage</th><th></th><th class=\"t\">Time</th></tr></thead><tbody>");
                for (StageTime t : r.timings()) {
                    double share = total.isZero() ? 0 : 100.0 * t.time().toNanos() / total.toNanos();
                    h.append("<tr").append(t.reused() ? " class=\"reused\"" : "").append("><th>").append(esc(t.stage()));
                    if (t.reused()) {
                        h.append("<span class=\"badge reused\" title=\"taken from an earlier run\">reused</span>");
                    }
                    h.append("</th><td class=\"share\"><div class=\"share-bar\" style=\"width:").append(Html.num(share, 1))
                            .append("%\"></div></td><td class=\"t\"><span data-hook=\"stage-time\" data-stage=\"").append(esc(t.stage()))
                            .append("\" data-seconds=\"").append(Html.seconds(t.time())).append("\"").append(t.reused() ? " data-reused=\"true\"" : "")
                            .append(">").append(esc(Html.duration(t.time()))).append("</span></td></tr>");
                }
                h.append("</tbody><tfoot><tr class=\"total\"><th>Total</th><td></td><td class=\"t\"><span data-hook=\"total-time\" data-seconds=\"")
                        .append(Html.seconds(total)).append("\">").append(esc(Html.duration(total))).append("</span></td></tr></tfoot></table>");
            }
            h.append("</div></section>\n");
        }

        private String thumb(Path image, String role, String alt) {
            return "<div class=\"thumb\"><img data-role=\"" + role + "\" data-file=\"" + esc(image.getFileName().toString()) + "\" alt=\""
                    + esc(alt) + "\" src=\"" + images.uri(image) + "\"></div>";
        }
    }

    private static String plural(int n, String noun) {
        return n + " " + noun + (n == 1 ? "" : "s");
    }

    /** A CSP source expression for an inline script: 'sha256-' and the base64 digest of its text. */
    private static String sha256(String script) {
        return "sha256-" + Base64.getEncoder().encodeToString(Sha256.digest(script.getBytes(StandardCharsets.UTF_8)));
    }

    private static String resource(String name) {
        try (InputStream in = ReportWriter.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("missing resource " + name + " next to " + ReportWriter.class.getName());
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
