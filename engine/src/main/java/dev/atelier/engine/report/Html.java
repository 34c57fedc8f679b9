package dev.atelier.engine.report;

import java.time.Duration;
import java.util.Locale;

/** Escaping and number formatting shared by the HTML reports (the demo report and evaluate's). */
public final class Html {
    private Html() {}

    /** Escapes text for element content and double-quoted attribute values. */
    public static String esc(String s) {
        StringBuilder out = new StringBuilder(s.length() + 16);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '&' -> out.append("&amp;");
                case '<' -> out.append("&lt;");
                case '>' -> out.append("&gt;");
                case '"' -> out.append("&quot;");
                case '\'' -> out.append("&#39;");
                default -> {
                    // C0 controls other than tab/newline/CR are not allowed in HTML text
                    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
                        out.append('\uFFFD');
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.toString();
    }

    /** A similarity or score with three decimals, independent of the default locale. */
    static String score(double v) {
        return String.format(Locale.ROOT, "%.3f", v);
    }

    /** A number with the given decimals, independent of the default locale. */
    /** A share in [0, 1] as a whole percentage: 0.874 -> "87%". */
    static String percent(double v) {
        return Math.round(100 * v) + "%";
    }

    static String num(double v, int decimals) {
        return String.format(Locale.ROOT, "%." + decimals + "f", v);
    }

    /** A duration as a person reads it: "850 ms", "12.3 s", "4 min 05 s", "1 h 02 min". */
    static String duration(Duration d) {
        long ms = d.toMillis();
        if (ms < 1000) {
            return ms + " ms";
        }
        double s = ms / 1000.0;
        if (s < 60) {
            return num(s, 1) + " s";
        }
        long sec = Math.round(s);
        if (sec < 3600) {
            return String.format(Locale.ROOT, "%d min %02d s", sec / 60, sec % 60);
        }
        return String.format(Locale.ROOT, "%d h %02d min", sec / 3600, (sec % 3600) / 60);
    }

    /** Seconds with millisecond precision, for data attributes. */
    static String seconds(Duration d) {
        return num(d.toMillis() / 1000.0, 3);
    }
}
