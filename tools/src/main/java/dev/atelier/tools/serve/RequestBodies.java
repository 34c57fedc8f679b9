package dev.atelier.tools.serve;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.javalin.http.Context;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;

/** Reads a request body up to a byte limit: a larger one (declared or sent) is refused with 413. */
final class RequestBodies {
    // A refused body is read and dropped up to this many bytes before the answer: a server that
    // answers and closes while the client is still sending resets the connection, and the client
    // then sees a broken connection instead of the 413. Past this, closing is all that is left.
    private static final long DRAIN_BYTES = 16L << 20;

    private RequestBodies() {}

    static byte[] read(Context ctx, long max) {
        long declared = ctx.req().getContentLengthLong();
        if (declared > max) {
            drain(ctx);
            throw tooLarge(max, declared + " bytes");
        }
        try (InputStream in = ctx.req().getInputStream()) {
            byte[] body = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, max + 1));
            if (body.length > max) {
                drain(ctx);
                throw tooLarge(max, "more");
            }
            return body;
        } catch (IOException e) {
            throw ApiException.badRequest("the body could not be read: " + e.getMessage());
        }
    }

    /** {@link #read}, the body then being one JSON object (else a 400): its fields. */
    static JsonFields readFields(Context ctx, long max, ObjectMapper json) {
        return new JsonFields(JsonFields.readObject(read(ctx, max), json));
    }

    /**
     * Streams the body into out (a file being written) instead of memory, with read()'s limit and
     * refusal: a body over max bytes, declared or sent, is drained and refused with 413.
     */
    static void copy(Context ctx, long max, WritableByteChannel out) throws IOException {
        long declared = ctx.req().getContentLengthLong();
        if (declared > max) {
            drain(ctx);
            throw tooLarge(max, declared + " bytes");
        }
        InputStream in = ctx.req().getInputStream();
        byte[] buffer = new byte[1 << 16];
        long total = 0;
        for (int n; (n = in.read(buffer)) > 0;) {
            total += n;
            if (total > max) {
                drain(ctx);
                throw tooLarge(max, "more");
            }
            ByteBuffer b = ByteBuffer.wrap(buffer, 0, n);
            while (b.hasRemaining()) {
                out.write(b);
            }
        }
    }

    /** Reads what is left of the body and drops it (up to DRAIN_BYTES), so that an early answer reaches the client. */
    static void drain(Context ctx) {
        try {
            InputStream in = ctx.req().getInputStream();
            long left = DRAIN_BYTES;
            byte[] buffer = new byte[8192];
            for (int n; left > 0 && (n = in.read(buffer, 0, (int) Math.min(buffer.length, left))) > 0;) {
                left -= n;
            }
        } catch (IOException e) {
            // the client went away: nothing to answer
        }
    }

    private static ApiException tooLarge(long max, String got) {
        return new ApiException(413, "body too large", "the body may have at most " + max + " bytes, got " + got);
    }
}
