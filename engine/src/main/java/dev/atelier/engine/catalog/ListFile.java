package dev.atelier.engine.catalog;

import dev.atelier.engine.embed.BoundingBox;
import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.util.RelativeNames;
import dev.atelier.engine.util.TextFiles;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A DeepFashion list file: a count line, a header line, then one whitespace-separated record per
 * line. Every error names the file and the line (1-based).
 */
final class ListFile {
    /** One record: the first field (an image name, which may hold spaces) and the fixed fields after it. */
    record Row(int line, String name, String[] fields) {}

    private final Path path;
    private final List<Row> rows;

    private ListFile(Path path, List<Row> rows) {
        this.path = path;
        this.rows = rows;
    }

    List<Row> rows() {
        return rows;
    }

    Path path() {
        return path;
    }

    /** A FormatException naming this file and line. */
    FormatException error(int line, String message) {
        return new FormatException(path + ":" + line + ": " + message);
    }

    /**
     * Reads path, whose records have a name then {@code fields} more columns. With
     * {@code hasHeader} false the second line is a record too (list_item_inshop.txt).
     */
    static ListFile read(Path path, int fields, boolean hasHeader) {
        List<String> lines;
        try {
            lines = TextFiles.readLines(path);
        } catch (NoSuchFileException e) {
            throw new FormatException(AtelierException.IO, path + ": missing");
        } catch (IOException e) {
            throw new FormatException(AtelierException.IO, path + ": cannot read: " + e.getMessage());
        }
        // Trailing blank lines are common; blank lines inside are not records either.
        int end = lines.size();
        while (end > 0 && lines.get(end - 1).isBlank()) {
            end--;
        }
        if (end == 0) {
            throw new FormatException(path + ":1: empty file; expected a count line");
        }
        long count;
        try {
            count = Long.parseLong(lines.get(0).trim());
        } catch (NumberFormatException e) {
            throw new FormatException(path + ":1: expected the number of records, got \"" + lines.get(0).trim() + "\"");
        }
        int first = hasHeader ? 2 : 1;
        if (hasHeader && end < 2) {
            throw new FormatException(path + ":2: missing header line");
        }
        List<Row> rows = new ArrayList<>();
        for (int i = first; i < end; i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty()) {
                continue;
            }
            String[] tokens = line.split("\\s+");
            if (tokens.length < fields + 1) {
                throw new FormatException(path + ":" + (i + 1) + ": expected " + (fields + 1) + " fields, got "
                        + tokens.length + ": \"" + line + "\"");
            }
            int nameTokens = tokens.length - fields;
            String name = String.join(" ", Arrays.copyOfRange(tokens, 0, nameTokens));
            requireInside(path, i + 1, name);
            rows.add(new Row(i + 1, name, Arrays.copyOfRange(tokens, nameTokens, tokens.length)));
        }
        if (rows.size() != count) {
            throw new FormatException(path + ":1: the count line says " + count + " records, the file has " + rows.size());
        }
        return new ListFile(path, rows);
    }

    /**
     * A record's name is a path inside the dataset folder (image names) or a plain id: an absolute
     * name or one that climbs out ("../x", "a/../../x") would read files from elsewhere.
     */
    private static void requireInside(Path path, int line, String name) {
        if (!RelativeNames.staysInside(name)) {
            throw new FormatException(path + ":" + line + ": \"" + name + "\" leaves the dataset folder");
        }
    }

    /** Field i of row as an int, or a FormatException naming the line. */
    int intField(Row row, int i, String what) {
        try {
            return Integer.parseInt(row.fields()[i]);
        } catch (NumberFormatException e) {
            throw error(row.line(), what + " must be an integer, got \"" + row.fields()[i] + "\"");
        }
    }

    /** A box from four int fields starting at field `from`. */
    BoundingBox box(Row row, int from) {
        int x1 = intField(row, from, "x_1"), y1 = intField(row, from + 1, "y_1");
        int x2 = intField(row, from + 2, "x_2"), y2 = intField(row, from + 3, "y_2");
        if (x1 < 0 || y1 < 0 || x2 <= x1 || y2 <= y1) {
            throw error(row.line(), "bounding box (" + x1 + ", " + y1 + ", " + x2 + ", " + y2
                    + ") must have 0 <= x_1 < x_2 and 0 <= y_1 < y_2");
        }
        return new BoundingBox(x1, y1, x2, y2);
    }
}
