package dev.atelier.tools.serve;

import java.time.Duration;

/**
 * How the HTTP server listens and behaves.
 *
 * @param host             address to bind (127.0.0.1: this machine only)
 * @param port             TCP port; 0 picks a free one
 * @param token            bearer token every request except /healthz and /readyz must carry; null for none
 * @param limits           per-request limits
 * @param shutdownDeadline how long running requests may take to finish on shutdown before they are cancelled
 */
public record ServerOptions(String host, int port, String token, ServerLimits limits, Duration shutdownDeadline) {
    public static ServerOptions local(int port) {
        return new ServerOptions("127.0.0.1", port, null, ServerLimits.defaults(), Duration.ofSeconds(60));
    }

    public ServerOptions withToken(String t) {
        return new ServerOptions(host, port, t, limits, shutdownDeadline);
    }

    public ServerOptions withLimits(ServerLimits l) {
        return new ServerOptions(host, port, token, l, shutdownDeadline);
    }

    public ServerOptions withShutdownDeadline(Duration d) {
        return new ServerOptions(host, port, token, limits, d);
    }
}
