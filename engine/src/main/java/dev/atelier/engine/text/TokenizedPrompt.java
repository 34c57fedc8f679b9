package dev.atelier.engine.text;

import java.util.Arrays;

/**
 * A prompt as CLIP input ids: one row of {@link ClipTokenizer#CONTEXT_LENGTH} ids per 75-token
 * window, each row {@code BOS, tokens..., EOS, EOS padding}.
 *
 * @param ids        [chunks, 77] token ids
 * @param tokenCount how many BPE tokens the prompt had before truncation or chunking
 * @param truncated  whether tokens were dropped
 */
public record TokenizedPrompt(long[][] ids, int tokenCount, boolean truncated) {
    public TokenizedPrompt {
        ids = deepCopy(ids);
    }

    public int chunks() {
        return ids.length;
    }

    @Override
    public long[][] ids() {
        return deepCopy(ids);
    }

    /** The ids flattened row-major, [chunks * 77], ready for an I64 tensor. */
    public long[] flat() {
        long[] out = new long[ids.length * ClipTokenizer.CONTEXT_LENGTH];
        for (int i = 0; i < ids.length; i++) {
            System.arraycopy(ids[i], 0, out, i * ClipTokenizer.CONTEXT_LENGTH, ClipTokenizer.CONTEXT_LENGTH);
        }
        return out;
    }

    private static long[][] deepCopy(long[][] a) {
        long[][] c = new long[a.length][];
        for (int i = 0; i < a.length; i++) {
            c[i] = a[i].clone();
        }
        return c;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TokenizedPrompt t && Arrays.deepEquals(ids, t.ids) && tokenCount == t.tokenCount
                && truncated == t.truncated;
    }

    @Override
    public int hashCode() {
        return Arrays.deepHashCode(ids);
    }

    @Override
    public String toString() {
        return "TokenizedPrompt[" + ids.length + " chunks, " + tokenCount + " tokens" + (truncated ? ", truncated]" : "]");
    }
}
