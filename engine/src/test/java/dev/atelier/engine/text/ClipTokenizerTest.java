package dev.atelier.engine.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.testing.Fixtures;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClipTokenizerTest {
    private static ClipTokenizer tokenizer;
    private static List<String> prompts;
    private static long[][] inputIds;   // [4, 77]
    private static long[][] chunked3;   // [2, 77]

    @BeforeAll
    static void load() throws IOException {
        Path dir = Fixtures.sd15Tiny();
        tokenizer = ClipTokenizer.load(dir.resolve("model/tokenizer"));
        try (SafeTensorsFile cases = SafeTensorsFile.open(dir.resolve("cases.safetensors"))) {
            JsonNode meta = new ObjectMapper().readTree(cases.metadata().get("meta"));
            prompts = new ArrayList<>();
            meta.get("prompts").forEach(p -> prompts.add(p.textValue()));
            inputIds = rows(cases.view("text.input_ids"));
            chunked3 = rows(cases.view("text.chunked.3.input_ids"));
        }
    }

    private static long[][] rows(TensorView v) {
        assertEquals(DType.I64, v.dtype());
        assertEquals(ClipTokenizer.CONTEXT_LENGTH, v.shape()[1]);
        long[] all = v.data().toArray(ValueLayout.JAVA_LONG); // little endian on x86 and arm64
        long[][] out = new long[(int) v.shape()[0]][];
        for (int i = 0; i < out.length; i++) {
            out[i] = java.util.Arrays.copyOfRange(all, i * 77, (i + 1) * 77);
        }
        return out;
    }

    @Test
    void specialIdsComeFromTheVocabulary() {
        assertEquals(49406, tokenizer.bos());
        assertEquals(49407, tokenizer.eos());
        assertEquals(49408, tokenizer.vocabularySize());
    }

    @Test
    void truncatedIdsEqualReference() {
        assertEquals(4, prompts.size());
        for (int i = 0; i < prompts.size(); i++) {
            TokenizedPrompt t = tokenizer.encode(prompts.get(i), LongPromptMode.TRUNCATE);
            assertEquals(1, t.chunks());
            assertArrayEquals(inputIds[i], t.ids()[0], "prompt " + i);
        }
        assertTrue(tokenizer.encode(prompts.get(3), LongPromptMode.TRUNCATE).truncated());
        assertFalse(tokenizer.encode(prompts.get(1), LongPromptMode.TRUNCATE).truncated());
    }

    @Test
    void chunkedIdsEqualReference() {
        TokenizedPrompt t = tokenizer.encode(prompts.get(3));
        assertEquals(2, t.chunks());
        assertEquals(107, t.tokenCount());
        assertArrayEquals(chunked3[0], t.ids()[0]);
        assertArrayEquals(chunked3[1], t.ids()[1]);
        // Short prompts are one window in both modes.
        assertArrayEquals(inputIds[1], tokenizer.encode(prompts.get(1)).ids()[0]);
    }

    @Test
    void negativePromptIsPaddedToTheSameChunkCount() {
        PromptPair pair = tokenizer.encode(prompts.get(3), "blurry");
        assertEquals(2, pair.chunks());
        assertEquals(2, pair.negative().chunks());
        long[] empty = tokenizer.encode("").ids()[0];
        assertArrayEquals(inputIds[2], empty);
        assertArrayEquals(empty, pair.negative().ids()[1]);
        assertArrayEquals(tokenizer.encode("blurry").ids()[0], pair.negative().ids()[0]);
        PromptPair swapped = tokenizer.encode("blurry", prompts.get(3));
        assertEquals(2, swapped.positive().chunks());
        assertEquals(1, tokenizer.encode("a", "b", LongPromptMode.TRUNCATE).chunks());
    }

    @Test
    void cleansWhitespaceAndCase() {
        assertArrayEquals(tokenizer.tokenize("a photo of a denim jacket"),
                tokenizer.tokenize("  A \t PHOTO\n of a   Denim JACKET "));
        // As in CLIP, decoding puts a space after every word-final symbol, punctuation included.
        assertEquals("a photo of a denim jacket , studio lighting",
                tokenizer.decode(tokenizer.encode(prompts.get(1)).ids()[0]));
        // Non-ASCII goes through the byte mapping and back.
        assertEquals("café über 東京", tokenizer.decode(tokenizer.encode("Café über 東京").ids()[0]));
        assertArrayEquals(new int[] {49406, 49407}, tokenizer.tokenize("<|startoftext|><|endoftext|>"));
        // Decomposed accents are composed first (NFC), as ftfy does in CLIP.
        assertArrayEquals(tokenizer.tokenize("caf\u00e9"), tokenizer.tokenize("cafe\u0301"));
    }

    @Test
    void contractionsDigitsAndNonLatinText() {
        // Expected ids from a Python port of simple_tokenizer.py run with the `regex` module on the
        // same vocabulary: they pin Java's regex classes to Python's (contractions, single digits,
        // supplementary-plane emoji, byte-level fallback for CJK and fractions).
        assertArrayEquals(new int[] {328, 1342, 655, 997, 282, 649, 982, 1700, 267, 889, 1200, 3601, 267, 328, 880,
                2481, 267, 797, 1896, 861}, tokenizer.tokenize("I'LL BE there; we're done, they've gone, I'm ok, he'd go"));
        assertArrayEquals(new int[] {3471, 69, 37761, 17697, 48338, 21078, 361, 32006, 964, 501, 16327, 1628, 34503},
                tokenizer.tokenize("caff\u00e8 latte \u6771\u4eac \ud83d\ude42\ud83d\udc57 emoji test \ud83d\ude00\ud83d\ude00"));
        assertArrayEquals(new int[] {6121, 272, 273, 274, 275, 276, 537, 274, 269, 272, 275, 537, 126, 376, 33613, 149, 352},
                tokenizer.tokenize("numbers 12345 and 3.14 and \u00bc \u00bd \u0663"));
    }

    @Test
    void smallVocabularyWithoutSpecialTokens(@TempDir Path dir) throws IOException {
        // Byte symbols for "ab" and the merges a+b</w> -> "ab</w>"; no special tokens in the file.
        Files.writeString(dir.resolve("vocab.json"), "{\"a\": 0, \"b\": 1, \"a</w>\": 2, \"b</w>\": 3, \"ab</w>\": 4}");
        Files.writeString(dir.resolve("merges.txt"), "#version: 0.2\na b</w>\n");
        ClipTokenizer small = ClipTokenizer.load(dir);
        assertEquals(5, small.bos());
        assertEquals(6, small.eos());
        // "-</w>" is not in the vocabulary: it becomes the unknown token, EOS.
        assertArrayEquals(new int[] {4, 2, 4, 6}, small.tokenize("AB a ab-"));
        assertArrayEquals(new long[] {5, 4, 6, 6}, java.util.Arrays.copyOf(small.encode("ab").ids()[0], 4));
    }

    @Test
    void malformedFilesNameTheFile(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("vocab.json"), "[1, 2]");
        Files.writeString(dir.resolve("merges.txt"), "#version: 0.2\na b c\n");
        FormatException e = assertThrows(FormatException.class, () -> ClipTokenizer.load(dir));
        assertTrue(e.getMessage().contains("vocab.json"), e.getMessage());
        Files.writeString(dir.resolve("vocab.json"), "{\"a\": 0}");
        e = assertThrows(FormatException.class, () -> ClipTokenizer.load(dir));
        assertTrue(e.getMessage().contains("merges.txt") && e.getMessage().contains("line 2"), e.getMessage());
        e = assertThrows(FormatException.class, () -> ClipTokenizer.load(dir.resolve("missing")));
        assertTrue(e.getMessage().contains("no such file"), e.getMessage());
    }
}
