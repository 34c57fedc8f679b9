package dev.atelier.tools.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import io.javalin.config.RoutesConfig;
import io.javalin.http.sse.SseClient;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Progress as server-sent events: {@code GET /atelier/v1/progress/stream} sends an event
 * {@code progress} carrying the JSON of {@code /sdapi/v1/progress} when the client connects and
 * then whenever it changes (looked at every {@link #PERIOD_MS} ms; a UI follows the steps without
 * polling), and a comment line every {@link #KEEP_ALIVE_MS} ms so that proxies keep the
 * connection open. As for every server-sent event stream, the request carries
 * {@code Accept: text/event-stream} (a browser's EventSource sends it).
 */
final class ProgressEvents implements AutoCloseable {
    static final long PERIOD_MS = 200;
    static final long KEEP_ALIVE_MS = 15_000;

    private final ActiveJobs active;
    private final JsonAnswers answers;
    private final Set<SseClient> clients = ConcurrentHashMap.newKeySet();
    private final ScheduledExecutorService sender = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "atelier-progress-events");
        t.setDaemon(true);
        return t;
    });
    private String last; // the JSON last sent; only the sender thread touches it
    private long quietSince = System.nanoTime();

    ProgressEvents(ActiveJobs active, JsonAnswers answers) {
        this.active = active;
        this.answers = answers;
        sender.scheduleWithFixedDelay(this::tick, PERIOD_MS, PERIOD_MS, TimeUnit.MILLISECONDS);
    }

    void register(RoutesConfig routes) {
        routes.sse("/atelier/v1/progress/stream", client -> {
            client.keepAlive();
            client.onClose(() -> clients.remove(client));
            clients.add(client);
            String now = snapshot();
            sender.execute(() -> send(client, now));
        });
    }

    private String snapshot() {
        try {
            return answers.mapper().writeValueAsString(active.progress());
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("progress is plain maps and numbers", e);
        }
    }

    private void tick() {
        if (clients.isEmpty()) {
            last = null;
            return;
        }
        String now = snapshot();
        if (!now.equals(last)) {
            last = now;
            quietSince = System.nanoTime();
            clients.forEach(c -> send(c, now));
        } else if (System.nanoTime() - quietSince > TimeUnit.MILLISECONDS.toNanos(KEEP_ALIVE_MS)) {
            quietSince = System.nanoTime();
            clients.forEach(c -> c.sendComment("keep-alive"));
        }
    }

    private void send(SseClient client, String json) {
        if (client.terminated()) {
            clients.remove(client);
            return;
        }
        client.sendEvent("progress", json);
    }

    /** Ends every stream and stops sending. */
    @Override
    public void close() {
        sender.shutdownNow();
        clients.forEach(SseClient::close);
        clients.clear();
    }
}
