package dev.atelier.tools.batch;

import dev.atelier.engine.sd.GenerationRequest;

/**
 * One line of a batch file.
 *
 * @param id      the request's name in file names and the manifest: [A-Za-z0-9._-]+
 * @param line    its line number in the file, from 1
 * @param request what to generate, its seed already drawn when the line asked for -1
 */
public record BatchJob(String id, int line, GenerationRequest request) {
    /** The PNG of the request's image k (0-based) with seed: {@code <id>-<k>-<seed>.png}. */
    public String fileName(int k, long seed) {
        return id + "-" + k + "-" + seed + ".png";
    }
}
