package dev.atelier.tools.serve;

import java.util.Base64;

/** Images sent in JSON bodies: base64, optionally as a data: URI, line breaks allowed. */
final class Base64Images {
    private Base64Images() {}

    /** The bytes of field's value, or a 400 naming the field. */
    static byte[] decode(String base64, String field) {
        try {
            String body = base64.startsWith("data:") ? base64.substring(base64.indexOf(',') + 1) : base64;
            return Base64.getDecoder().decode(body.replaceAll("\\s", "")); // line breaks allowed, nothing else
        } catch (IllegalArgumentException e) {
            throw ApiException.badRequest(field + ": not base64 (" + e.getMessage() + ")");
        }
    }
}
