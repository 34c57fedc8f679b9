package dev.atelier.engine.report;

import dev.atelier.engine.report.DemoReport.LossPoint;
import java.util.ArrayList;
import java.util.List;

/**
 * The training loss as an inline SVG line chart: axes with round ticks, the raw loss, and over it
 * a smoothed line when there are many (noisy) points.
 */
final class LossChart {
    /** From this many points on, the raw line is drawn faint and a smoothed one over it. */
    static final int SMOOTH_FROM = 30;
    private static final int W = 760, H = 260, LEFT = 58, RIGHT = 18, TOP = 14, BOTTOM = 40;

    private LossChart() {}

    static String svg(List<LossPoint> points) {
        int n = points.size();
        double minX = points.get(0).step(), maxX = points.get(n - 1).step();
        double minY = Double.POSITIVE_INFINITY, maxY = Double.NEGATIVE_INFINITY;
        for (LossPoint p : points) {
            minY = Math.min(minY, p.loss());
            maxY = Math.max(maxY, p.loss());
        }
        if (maxX == minX) {
            minX -= 1;
            maxX += 1;
        }
        double pad = maxY > minY ? 0.05 * (maxY - minY) : Math.max(1e-3, Math.abs(maxY) * 0.1);
        minY -= pad;
        maxY += pad;
        Scale x = new Scale(minX, maxX, LEFT, W - RIGHT);
        Scale y = new Scale(minY, maxY, H - BOTTOM, TOP);
        boolean smooth = n >= SMOOTH_FROM;

        StringBuilder s = new StringBuilder();
        s.append("<svg class=\"loss-chart\" data-role=\"loss-chart\" data-points=\"").append(n)
                .append("\" viewBox=\"0 0 ").append(W).append(' ').append(H)
                .append("\" role=\"img\" aria-label=\"training loss over ").append(n).append(" steps\">");
        // grid and ticks
        s.append("<g class=\"grid\">");
        for (double t : ticks(minY, maxY, 5)) {
            double py = y.at(t);
            s.append(line(LEFT, py, W - RIGHT, py, "gridline"));
            s.append("<text class=\"tick\" x=\"").append(f(LEFT - 8)).append("\" y=\"").append(f(py + 4))
                    .append("\" text-anchor=\"end\">").append(label(t, maxY - minY)).append("</text>");
        }
        for (double t : ticks(minX, maxX, 6)) {
            if (t < minX || t > maxX) {
                continue;
            }
            double px = x.at(t);
            s.append(line(px, H - BOTTOM, px, H - BOTTOM + 5, "axis"));
            s.append("<text class=\"tick\" x=\"").append(f(px)).append("\" y=\"").append(f(H - BOTTOM + 19))
                    .append("\" text-anchor=\"middle\">").append(label(t, maxX - minX)).append("</text>");
        }
        s.append("</g>");
        s.append(line(LEFT, TOP, LEFT, H - BOTTOM, "axis")).append(line(LEFT, H - BOTTOM, W - RIGHT, H - BOTTOM, "axis"));
        s.append("<text class=\"axis-title\" x=\"").append(f((LEFT + W - RIGHT) / 2.0)).append("\" y=\"").append(H - 4)
                .append("\" text-anchor=\"middle\">step</text>");
        s.append("<text class=\"axis-title\" transform=\"rotate(-90)\" x=\"").append(f(-(TOP + H - BOTTOM) / 2.0))
                .append("\" y=\"13\" text-anchor=\"middle\">loss</text>");

        List<double[]> raw = new ArrayList<>();
        for (LossPoint p : points) {
            raw.add(new double[] {p.step(), p.loss()});
        }
        s.append(polyline(raw, x, y, smooth ? "raw faint" : "raw"));
        if (smooth) {
            s.append(polyline(smoothed(points), x, y, "smooth"));
        } else {
            for (double[] p : raw) {
                s.append("<circle class=\"dot\" cx=\"").append(f(x.at(p[0]))).append("\" cy=\"").append(f(y.at(p[1])))
                        .append("\" r=\"2.5\"/>");
            }
        }
        s.append("</svg>");
        return s.toString();
    }

    /**
     * Exponential moving average with start-up bias correction (Adam's debiasing, Kingma & Ba
     * 2015, Algorithm 1; TensorBoard smooths its scalar plots the same way). The weight grows with
     * the number of points so that a long run is averaged over about a tenth of its steps.
     */
    static List<double[]> smoothed(List<LossPoint> points) {
        double w = Math.min(0.98, Math.max(0.6, 1 - 10.0 / points.size()));
        List<double[]> out = new ArrayList<>(points.size());
        double avg = 0, weight = 1;
        for (LossPoint p : points) {
            avg = w * avg + (1 - w) * p.loss();
            weight *= w;
            out.add(new double[] {p.step(), avg / (1 - weight)});
        }
        return out;
    }

    /** Round tick values ("nice numbers": 1, 2 or 5 times a power of ten) covering [lo, hi]. */
    static List<Double> ticks(double lo, double hi, int target) {
        double raw = (hi - lo) / Math.max(1, target - 1);
        double mag = Math.pow(10, Math.floor(Math.log10(raw)));
        double r = raw / mag;
        double step = (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
        List<Double> out = new ArrayList<>();
        for (double t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
            out.add(Math.abs(t) < step * 1e-9 ? 0.0 : t);
        }
        return out;
    }

    private static String label(double v, double range) {
        int decimals = Math.max(0, (int) Math.ceil(-Math.log10(range / 5)) );
        return Html.num(v, Math.min(decimals, 6));
    }

    private static String polyline(List<double[]> pts, Scale x, Scale y, String cls) {
        StringBuilder s = new StringBuilder("<polyline class=\"").append(cls).append("\" points=\"");
        for (double[] p : pts) {
            s.append(f(x.at(p[0]))).append(',').append(f(y.at(p[1]))).append(' ');
        }
        return s.append("\"/>").toString();
    }

    private static String line(double x1, double y1, double x2, double y2, String cls) {
        return "<line class=\"" + cls + "\" x1=\"" + f(x1) + "\" y1=\"" + f(y1) + "\" x2=\"" + f(x2) + "\" y2=\"" + f(y2) + "\"/>";
    }

    private static String f(double v) {
        return Html.num(v, 1);
    }

    private record Scale(double lo, double hi, double from, double to) {
        double at(double v) {
            return from + (v - lo) / (hi - lo) * (to - from);
        }
    }
}
