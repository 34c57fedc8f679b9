package dev.atelier.engine.report;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Just enough reading of a serialised DOM (Chromium's --dump-dom, or the writer's own output) for
 * the tests: elements of one tag with their attributes and, for leaf elements, their text.
 */
public final class Dom {
    private static final Pattern ATTR = Pattern.compile("([A-Za-z_:][-A-Za-z0-9_:.]*)(?:=\"([^\"]*)\")?");

    /** An element: its attributes (unescaped) and its text when it has no child elements, else null. */
    public record Element(Map<String, String> attrs, String text) {
        public String attr(String name) {
            return attrs.get(name);
        }

        public boolean has(String name, String value) {
            return value.equals(attrs.get(name));
        }
    }

    private Dom() {}

    /** Every element with this tag name, in document order. */
    public static List<Element> all(String dom, String tag) {
        Pattern open = Pattern.compile("<" + tag + "((?:\\s+[^>]*?)?)\\s*/?>(?:([^<]*)</" + tag + ">)?");
        List<Element> out = new ArrayList<>();
        Matcher m = open.matcher(dom);
        while (m.find()) {
            Map<String, String> attrs = new LinkedHashMap<>();
            Matcher a = ATTR.matcher(m.group(1));
            while (a.find()) {
                attrs.put(a.group(1), a.group(2) == null ? "" : unescape(a.group(2)));
            }
            out.add(new Element(attrs, m.group(2) == null ? null : unescape(m.group(2))));
        }
        return out;
    }

    /** Elements with this tag and attribute value. */
    public static List<Element> where(String dom, String tag, String attr, String value) {
        return all(dom, tag).stream().filter(e -> e.has(attr, value)).toList();
    }

    /** The one element with this tag and attribute value. */
    public static Element one(String dom, String tag, String attr, String value) {
        List<Element> found = where(dom, tag, attr, value);
        if (found.size() != 1) {
            throw new AssertionError("expected one <" + tag + " " + attr + "=\"" + value + "\">, found " + found.size());
        }
        return found.get(0);
    }

    static String unescape(String s) {
        return s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&nbsp;", "\u00a0")
                .replace("&amp;", "&");
    }
}
