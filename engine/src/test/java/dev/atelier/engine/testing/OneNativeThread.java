package dev.atelier.engine.testing;

import dev.atelier.engine.core.NativeInfo;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Runs a test class's native work on one thread, and gives the native library all cores back
 * afterwards ({@code @ExtendWith(OneNativeThread.class)}). A tiny model's training step is hundreds
 * of small ops, which two OpenMP threads on a busy 2-core machine make many times slower (each op
 * waits for the slower thread).
 */
public final class OneNativeThread implements BeforeAllCallback, AfterAllCallback {
    @Override
    public void beforeAll(ExtensionContext context) {
        NativeInfo.setThreads(1);
    }

    @Override
    public void afterAll(ExtensionContext context) {
        NativeInfo.setThreads(0);
    }
}
