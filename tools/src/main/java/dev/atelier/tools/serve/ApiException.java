package dev.atelier.tools.serve;

/**
 * A request the server answers with an error: its HTTP status and the JSON body
 * {@code {"error": error, "detail": detail}}. The message is meant for the client; it never
 * carries a stack trace.
 */
public final class ApiException extends RuntimeException {
    private final int status;
    private final String error;
    private final long retryAfterSeconds;

    public ApiException(int status, String error, String detail) {
        this(status, error, detail, -1);
    }

    /** retryAfterSeconds >= 0 adds a Retry-After header. */
    public ApiException(int status, String error, String detail, long retryAfterSeconds) {
        super(detail, null, false, false);
        this.status = status;
        this.error = error;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    public static ApiException badRequest(String detail) {
        return new ApiException(400, "bad request", detail);
    }

    public int status() {
        return status;
    }

    public String error() {
        return error;
    }

    public String detail() {
        return getMessage();
    }

    /** Seconds for Retry-After, or -1 for none. */
    public long retryAfterSeconds() {
        return retryAfterSeconds;
    }
}
