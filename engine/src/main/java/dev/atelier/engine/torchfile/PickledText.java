package dev.atelier.engine.torchfile;

import dev.atelier.engine.torchfile.Pickled.Opaque;
import dev.atelier.engine.torchfile.Pickled.Tuple;
import java.util.List;
import java.util.Map;

/** Pickled values rendered for error messages, within a fixed budget. */
final class PickledText {
    private PickledText() {}

    /**
     * A value for a message, at most about 80 characters: containers are rendered to a fixed
     * depth and width, never through their {@code toString}, which would walk a self-containing
     * structure forever and a memo-shared one for an exponential time.
     */
    static String describe(Object o) {
        StringBuilder b = new StringBuilder();
        describe(o, b, 3);
        return b.length() > 80 ? b.substring(0, 80) + "..." : b.toString();
    }

    private static void describe(Object o, StringBuilder b, int depth) {
        if (b.length() > 80) {
            return;
        }
        switch (o) {
            case null -> b.append("None");
            case String s -> b.append('\'').append(s, 0, Math.min(s.length(), 81)).append('\'');
            case byte[] bytes -> b.append("b<").append(bytes.length).append(" bytes>");
            case Map<?, ?> m -> items(m.entrySet(), b, depth, "{", "}", m.size());
            case List<?> l -> items(l, b, depth, "[", "]", l.size());
            case Tuple t -> items(t.items(), b, depth, "(", ")", t.size());
            case Opaque op -> b.append(op.type()).append("(...)");
            case Map.Entry<?, ?> e -> {
                describe(e.getKey(), b, depth);
                b.append(": ");
                describe(e.getValue(), b, depth);
            }
            default -> b.append(o); // numbers, booleans, globals, storage and tensor records: bounded strings
        }
    }

    private static void items(Iterable<?> items, StringBuilder b, int depth, String open, String close, int size) {
        if (depth == 0) {
            b.append(open).append(size).append(" items").append(close);
            return;
        }
        b.append(open);
        int n = 0;
        for (Object item : items) {
            if (b.length() > 80) {
                break;
            }
            if (n++ > 0) {
                b.append(", ");
            }
            describe(item, b, depth - 1);
        }
        b.append(close);
    }
}
