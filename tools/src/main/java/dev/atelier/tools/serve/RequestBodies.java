package dev.atelier.tools.serve;

import io.javalin.http.Context;
import java.io.IOException;
import java.io.InputStream;

/** Reads a request body up to a byte limit: a larger one (declared or sent) is refused with 413. */
final class RequestBodies {
    private RequestBodies() {}

    static byte[] read(Context ctx, long max) {
        long declared = ctx.req().getContentLengthLong();
        if (declared > max) {
            throw tooLarge(max, declared + " bytes");
        }
        try (InputStream in = ctx.req().getInputStream()) {
            byte[] body = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, max + 1));
            if (body.length > max) {
                throw tooLarge(max, "more");
            }
            return body;
        } catch (IOException e) {
            throw ApiException.badRequest("the body could not be read: " + e.getMessage());
        }
    }

    private static ApiException tooLarge(long max, String got) {
        return new ApiException(413, "body too large", "the body may have at most " + max + " bytes, got " + got);
    }
}
