package dev.atelier.engine.onnx;

/**
 * ONNX Runtime session settings. Thread counts are always explicit: on a busy 2-core machine two
 * threads made batch-1 MobileNetV3 far slower than one (the two threads wait on each other while other work holds a core), so batch-1 latency
 * wants 1 and large batches want the free cores.
 *
 * @param intraOpThreads threads inside one operator (at least 1)
 * @param allowSpinning  whether idle pool threads busy-wait for work (faster hand-offs, but it
 *                       burns a core that other work on a small machine could use)
 * @param optimize       all graph optimisations (fusions, constant folding, layout) when true;
 *                       none when false (for debugging a model)
 */
public record OnnxOptions(int intraOpThreads, boolean allowSpinning, boolean optimize) {
    public static final OnnxOptions DEFAULT = new OnnxOptions(1, false, true);

    public OnnxOptions {
        if (intraOpThreads < 1) {
            throw new IllegalArgumentException("intraOpThreads must be at least 1, got " + intraOpThreads);
        }
    }

    public static OnnxOptions threads(int intraOpThreads) {
        return new OnnxOptions(intraOpThreads, false, true);
    }
}
