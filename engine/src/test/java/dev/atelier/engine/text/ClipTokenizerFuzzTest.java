package dev.atelier.engine.text;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.testing.Fixtures;
import dev.atelier.engine.testing.FuzzSeeds;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the CLIP tokenizer with any prompt (the bytes read as UTF-8, malformed sequences
 * replaced): every prompt gives windows of 77 ids from the vocabulary, each starting with BOS, in
 * chunked and truncated mode; a refusal may only be an {@link InvalidInputException}; anything
 * else (an exception, a hang in the BPE merges of a long word) is a finding. Seeds:
 * {@code ClipTokenizerFuzzTestInputs/prompt/}, made by {@link #seeds()}.
 */
class ClipTokenizerFuzzTest {
    private static final ClipTokenizer TOKENIZER = ClipTokenizer.load(Fixtures.sd15Tiny().resolve("model/tokenizer"));

    @FuzzTest(maxDuration = "60s")
    void prompt(byte[] bytes) {
        String text = new String(bytes, StandardCharsets.UTF_8);
        try {
            for (LongPromptMode mode : LongPromptMode.values()) {
                TokenizedPrompt p = TOKENIZER.encode(text, mode);
                for (long[] window : p.ids()) {
                    if (window.length != 77 || window[0] != TOKENIZER.bos()) {
                        throw new AssertionError(mode + ": a window of " + window.length + " ids starting " + window[0]);
                    }
                    for (long id : window) {
                        if (id < 0 || id >= TOKENIZER.vocabularySize()) {
                            throw new AssertionError(mode + ": id " + id + " outside the vocabulary");
                        }
                    }
                }
            }
        } catch (InvalidInputException expected) {
            // a prompt the engine refuses, with a message
        }
    }

    static Map<String, byte[]> seeds() {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("garment", "a red denim jacket, studio photo, (best quality:1.2)");
        s.put("unicode", "veste en jean délavé ✨ 夹克 \uD83D\uDC57\tnew\nline");
        s.put("long-word", "a".repeat(300) + " " + "jacket ".repeat(90));
        s.put("empty", "");
        Map<String, byte[]> out = new LinkedHashMap<>();
        s.forEach((k, v) -> out.put(k, v.getBytes(StandardCharsets.UTF_8)));
        out.put("malformed-utf8", new byte[] {'a', (byte) 0xc3, (byte) 0x28, (byte) 0xff, ' ', 'b'});
        return out;
    }

    @Test
    void committedSeedsAreGenerated() {
        FuzzSeeds.check(ClipTokenizerFuzzTest.class, "prompt", seeds());
    }
}
