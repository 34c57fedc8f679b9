package dev.atelier.tools.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Typed reads of a JSON object's fields: a missing or null field gives the default, a field of
 * the wrong type is a 400 that names it. Integers may be written as integral numbers (20.0), as
 * Python clients sometimes send them; 20.5 is not an integer.
 */
final class JsonFields {
    private final JsonNode object;

    JsonFields(JsonNode object) {
        this.object = object;
    }

    /** A request body that must be one JSON object; malformed JSON or another value is a 400. */
    static JsonNode readObject(byte[] body, ObjectMapper json) {
        JsonNode root;
        try {
            root = json.readTree(body);
        } catch (JsonProcessingException e) {
            throw ApiException.badRequest("malformed JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw ApiException.badRequest("unreadable body: " + e.getMessage());
        }
        return requireObject(root);
    }

    /** root when it is a JSON object, else a 400. */
    static JsonNode requireObject(JsonNode root) {
        if (root == null || !root.isObject()) {
            throw ApiException.badRequest("the body must be a JSON object");
        }
        return root;
    }

    boolean has(String name) {
        JsonNode v = object.get(name);
        return v != null && !v.isNull();
    }

    String string(String name, String fallback) {
        JsonNode v = object.get(name);
        if (v == null || v.isNull()) {
            return fallback;
        }
        if (!v.isTextual()) {
            throw ApiException.badRequest("field \"" + name + "\" must be a string, got " + kind(v));
        }
        return v.asText();
    }

    long integer(String name, long fallback) {
        JsonNode v = object.get(name);
        if (v == null || v.isNull()) {
            return fallback;
        }
        if (v.isIntegralNumber() && v.canConvertToLong()) {
            return v.asLong();
        }
        if (v.isFloatingPointNumber() && v.asDouble() == Math.rint(v.asDouble()) && Math.abs(v.asDouble()) < 1e15) {
            return (long) v.asDouble();
        }
        throw ApiException.badRequest("field \"" + name + "\" must be an integer, got " + kind(v));
    }

    /** An integer in [min, max]. */
    int integer(String name, int fallback, int min, int max) {
        long n = integer(name, fallback);
        if (n < min || n > max) {
            throw ApiException.badRequest("field \"" + name + "\" must be between " + min + " and " + max + ", got " + n);
        }
        return (int) n;
    }

    double number(String name, double fallback) {
        JsonNode v = object.get(name);
        if (v == null || v.isNull()) {
            return fallback;
        }
        if (!v.isNumber()) {
            throw ApiException.badRequest("field \"" + name + "\" must be a number, got " + kind(v));
        }
        return v.asDouble();
    }

    /** A required list of min to max strings. */
    List<String> strings(String name, int min, int max) {
        JsonNode v = object.get(name);
        if (v == null || v.isNull()) {
            throw ApiException.badRequest("field \"" + name + "\" is required: a list of " + min + " to " + max + " strings");
        }
        if (!v.isArray()) {
            throw ApiException.badRequest("field \"" + name + "\" must be a list of strings, got " + kind(v));
        }
        if (v.size() < min || v.size() > max) {
            throw ApiException.badRequest("field \"" + name + "\" must hold " + min + " to " + max + " strings, got " + v.size());
        }
        List<String> out = new ArrayList<>();
        for (JsonNode e : v) {
            if (!e.isTextual()) {
                throw ApiException.badRequest("field \"" + name + "\" must be a list of strings, got " + kind(e) + " in it");
            }
            out.add(e.textValue());
        }
        return out;
    }

    /** The nested object name, or an empty one. */
    JsonFields object(String name) {
        JsonNode v = object.get(name);
        if (v == null || v.isNull()) {
            return new JsonFields(com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode());
        }
        if (!v.isObject()) {
            throw ApiException.badRequest("field \"" + name + "\" must be an object, got " + kind(v));
        }
        return new JsonFields(v);
    }

    private static String kind(JsonNode v) {
        return switch (v.getNodeType()) {
            case STRING -> "a string";
            case NUMBER -> "the number " + v.asText();
            case BOOLEAN -> "a boolean";
            case ARRAY -> "an array";
            case OBJECT -> "an object";
            default -> v.getNodeType().name().toLowerCase(java.util.Locale.ROOT);
        };
    }
}
