package dev.atelier.engine.text;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.util.TextFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * CLIP's byte-level BPE tokenizer, read from a {@code vocab.json} + {@code merges.txt} pair (the
 * layout of a diffusers {@code tokenizer/} folder), behaving as OpenAI CLIP's
 * {@code simple_tokenizer.py}: whitespace collapsed and stripped, lower-cased, split by CLIP's
 * pre-tokenizer pattern, each piece's UTF-8 bytes mapped to printable characters, merged by
 * rank with {@code </w>} marking the end of each word. Unlike CLIP it does not run ftfy (only
 * its final NFC normalisation) or HTML unescaping on the text.
 *
 * <p>Every sequence is {@code BOS, tokens..., EOS} padded with EOS to {@link #CONTEXT_LENGTH}.
 * BOS and EOS are the vocabulary's {@code <|startoftext|>} and {@code <|endoftext|>} (49406 and
 * 49407 in CLIP's vocabulary). A symbol missing from a small vocabulary becomes EOS, the unknown
 * token of Hugging Face's CLIPTokenizer.
 *
 * <p>Instances are immutable apart from a thread-safe cache of BPE results.
 */
public final class ClipTokenizer {
    /** Positions in one CLIP window: 75 tokens plus BOS and EOS. */
    public static final int CONTEXT_LENGTH = 77;
    /** Tokens of a prompt that fit in one window. */
    public static final int CHUNK_TOKENS = CONTEXT_LENGTH - 2;

    public static final String START_OF_TEXT = "<|startoftext|>";
    public static final String END_OF_TEXT = "<|endoftext|>";
    private static final String END_OF_WORD = "</w>";
    private static final int CACHE_LIMIT = 100_000;

    // CLIP simple_tokenizer.py pre-tokenizer pattern (its regex module's \p classes are Java's too).
    private static final Pattern PIECES = Pattern.compile(
            "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
            Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE | Pattern.UNICODE_CHARACTER_CLASS);
    private static final Pattern WHITESPACE = Pattern.compile("\\s+", Pattern.UNICODE_CHARACTER_CLASS);
    private static final char[] BYTE_TO_CHAR = byteToUnicode();

    private final Map<String, Integer> vocabulary;
    private final Map<String, Integer> mergeRanks;
    private final int bos;
    private final int eos;
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    private ClipTokenizer(Map<String, Integer> vocabulary, Map<String, Integer> mergeRanks) {
        this.vocabulary = vocabulary;
        this.mergeRanks = mergeRanks;
        // CLIP's vocabulary ends with the two special tokens; a vocabulary without them gets
        // the next two ids, where CLIP would have put them.
        this.bos = vocabulary.getOrDefault(START_OF_TEXT, vocabulary.size());
        this.eos = vocabulary.getOrDefault(END_OF_TEXT, vocabulary.containsKey(START_OF_TEXT)
                ? vocabulary.size() : vocabulary.size() + 1);
    }

    /** Reads {@code vocab.json} and {@code merges.txt} from dir; errors name the file and problem. */
    public static ClipTokenizer load(Path dir) {
        return load(dir.resolve("vocab.json"), dir.resolve("merges.txt"));
    }

    /** Reads a vocabulary ({@code {"token": id, ...}}) and a merges file (one "a b" pair per line). */
    public static ClipTokenizer load(Path vocabJson, Path mergesTxt) {
        return new ClipTokenizer(readVocabulary(vocabJson), readMerges(mergesTxt));
    }

    private static Map<String, Integer> readVocabulary(Path file) {
        Map<String, Integer> vocab = new HashMap<>();
        try (JsonParser p = new ObjectMapper().getFactory().createParser(file.toFile())) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new FormatException(file + ": not a JSON object of token -> id");
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String token = p.currentName();
                if (p.nextToken() != JsonToken.VALUE_NUMBER_INT) {
                    throw new FormatException(file + ": the id of token \"" + token + "\" is not an integer");
                }
                int id = p.getIntValue();
                if (id < 0) {
                    throw new FormatException(file + ": token \"" + token + "\" has negative id " + id);
                }
                if (vocab.put(token, id) != null) {
                    throw new FormatException(file + ": token \"" + token + "\" appears twice");
                }
            }
            if (p.currentToken() != JsonToken.END_OBJECT || p.nextToken() != null) {
                throw new FormatException(file + ": unexpected content after the token -> id object");
            }
        } catch (NoSuchFileException | java.io.FileNotFoundException e) {
            throw new FormatException(AtelierException.IO, file + ": no such file");
        } catch (IOException e) {
            throw new FormatException(file + ": cannot read the vocabulary: " + e.getMessage(), e);
        }
        if (vocab.isEmpty()) {
            throw new FormatException(file + ": the vocabulary is empty");
        }
        return Map.copyOf(vocab);
    }

    private static Map<String, Integer> readMerges(Path file) {
        Map<String, Integer> ranks = new HashMap<>();
        try {
            int lineNumber = 0;
            for (String line : TextFiles.readLines(file)) {
                lineNumber++;
                // The first line is a "#version: 0.2" comment in CLIP's and Hugging Face's files.
                if ((lineNumber == 1 && line.startsWith("#")) || line.isBlank()) {
                    continue;
                }
                String[] pair = line.strip().split(" ");
                if (pair.length != 2) {
                    throw new FormatException(file + ": line " + lineNumber + " is not a pair \"a b\": " + line);
                }
                ranks.putIfAbsent(pair[0] + " " + pair[1], ranks.size());
            }
        } catch (NoSuchFileException e) {
            throw new FormatException(AtelierException.IO, file + ": no such file");
        } catch (IOException e) {
            throw new FormatException(file + ": cannot read the merges: " + e.getMessage(), e);
        }
        return Map.copyOf(ranks);
    }

    /** Id of {@code <|startoftext|>}. */
    public int bos() {
        return bos;
    }

    /** Id of {@code <|endoftext|>}, also the padding. */
    public int eos() {
        return eos;
    }

    public int vocabularySize() {
        return vocabulary.size();
    }

    /** The BPE token ids of text, without BOS, EOS or padding. */
    public int[] tokenize(String text) {
        // ftfy.fix_text (which CLIP runs first) ends with NFC normalisation; its mojibake repairs are not done.
        String nfc = Normalizer.normalize(text, Normalizer.Form.NFC);
        String clean = WHITESPACE.matcher(nfc).replaceAll(" ").strip().toLowerCase(Locale.ROOT);
        List<int[]> parts = new ArrayList<>();
        int total = 0;
        Matcher m = PIECES.matcher(clean);
        while (m.find()) {
            int[] ids = cache.get(m.group());
            if (ids == null) {
                ids = encodePiece(m.group());
                if (cache.size() >= CACHE_LIMIT) {
                    cache.clear();
                }
                cache.put(m.group(), ids);
            }
            parts.add(ids);
            total += ids.length;
        }
        int[] out = new int[total];
        int at = 0;
        for (int[] ids : parts) {
            System.arraycopy(ids, 0, out, at, ids.length);
            at += ids.length;
        }
        return out;
    }

    private int[] encodePiece(String piece) {
        if (piece.equals(START_OF_TEXT)) {
            return new int[] {bos};
        }
        if (piece.equals(END_OF_TEXT)) {
            return new int[] {eos};
        }
        byte[] utf8 = piece.getBytes(StandardCharsets.UTF_8);
        char[] chars = new char[utf8.length];
        for (int i = 0; i < utf8.length; i++) {
            chars[i] = BYTE_TO_CHAR[utf8[i] & 0xff];
        }
        List<String> symbols = bpe(new String(chars));
        int[] ids = new int[symbols.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = vocabulary.getOrDefault(symbols.get(i), eos);
        }
        return ids;
    }

    // CLIP simple_tokenizer.py bpe(): repeatedly merge the lowest-ranked adjacent pair, every
    // occurrence left to right, until no adjacent pair has a rank.
    private List<String> bpe(String word) {
        List<String> symbols = new ArrayList<>(word.length());
        for (int i = 0; i < word.length(); i++) {
            symbols.add(i == word.length() - 1 ? word.charAt(i) + END_OF_WORD : String.valueOf(word.charAt(i)));
        }
        while (symbols.size() > 1) {
            int bestRank = Integer.MAX_VALUE;
            String first = null;
            String second = null;
            for (int i = 0; i + 1 < symbols.size(); i++) {
                Integer rank = mergeRanks.get(symbols.get(i) + " " + symbols.get(i + 1));
                if (rank != null && rank < bestRank) {
                    bestRank = rank;
                    first = symbols.get(i);
                    second = symbols.get(i + 1);
                }
            }
            if (first == null) {
                break;
            }
            List<String> merged = new ArrayList<>(symbols.size());
            for (int i = 0; i < symbols.size(); i++) {
                if (i + 1 < symbols.size() && symbols.get(i).equals(first) && symbols.get(i + 1).equals(second)) {
                    merged.add(first + second);
                    i++;
                } else {
                    merged.add(symbols.get(i));
                }
            }
            symbols = merged;
        }
        return symbols;
    }

    /** text truncated or chunked into windows of 77 ids. */
    public TokenizedPrompt encode(String text, LongPromptMode mode) {
        int[] tokens = tokenize(text);
        int chunks = mode == LongPromptMode.TRUNCATE ? 1 : Math.max(1, (tokens.length + CHUNK_TOKENS - 1) / CHUNK_TOKENS);
        return new TokenizedPrompt(windows(tokens, chunks), tokens.length,
                mode == LongPromptMode.TRUNCATE && tokens.length > CHUNK_TOKENS);
    }

    /** text in the default mode, {@link LongPromptMode#CHUNKED}. */
    public TokenizedPrompt encode(String text) {
        return encode(text, LongPromptMode.CHUNKED);
    }

    /**
     * A prompt and its negative in the same number of chunks: in chunked mode the one with fewer
     * chunks gets empty windows ({@code BOS, EOS, padding}) appended, as A1111 does.
     */
    public PromptPair encode(String prompt, String negative, LongPromptMode mode) {
        TokenizedPrompt p = encode(prompt, mode);
        TokenizedPrompt n = encode(negative, mode);
        int chunks = Math.max(p.chunks(), n.chunks());
        return new PromptPair(padTo(p, chunks), padTo(n, chunks));
    }

    /** {@link #encode(String, String, LongPromptMode)} in the default chunked mode. */
    public PromptPair encode(String prompt, String negative) {
        return encode(prompt, negative, LongPromptMode.CHUNKED);
    }

    private TokenizedPrompt padTo(TokenizedPrompt t, int chunks) {
        if (t.chunks() == chunks) {
            return t;
        }
        long[][] ids = Arrays.copyOf(t.ids(), chunks);
        for (int i = t.chunks(); i < chunks; i++) {
            ids[i] = windows(new int[0], 1)[0];
        }
        return new TokenizedPrompt(ids, t.tokenCount(), t.truncated());
    }

    private long[][] windows(int[] tokens, int chunks) {
        long[][] out = new long[chunks][CONTEXT_LENGTH];
        for (int c = 0; c < chunks; c++) {
            long[] row = out[c];
            Arrays.fill(row, eos);
            row[0] = bos;
            int from = c * CHUNK_TOKENS;
            int n = Math.max(0, Math.min(CHUNK_TOKENS, tokens.length - from));
            for (int i = 0; i < n; i++) {
                row[1 + i] = tokens[from + i];
            }
            row[1 + n] = eos;
        }
        return out;
    }

    /** Text of ids (BOS, EOS and padding dropped), for messages and tests. */
    public String decode(long[] ids) {
        Map<Integer, String> inverse = new HashMap<>();
        vocabulary.forEach((k, v) -> inverse.putIfAbsent(v, k));
        StringBuilder symbols = new StringBuilder();
        for (long id : ids) {
            if (id != bos && id != eos) {
                symbols.append(inverse.getOrDefault((int) id, ""));
            }
        }
        String text = symbols.toString().replace(END_OF_WORD, " ");
        byte[] bytes = new byte[text.length()];
        int n = 0;
        for (char c : text.toCharArray()) {
            int b = charToByte(c);
            if (b >= 0) {
                bytes[n++] = (byte) b;
            } else if (c == ' ') {
                bytes[n++] = ' ';
            }
        }
        return new String(bytes, 0, n, StandardCharsets.UTF_8).strip();
    }

    private static int charToByte(char c) {
        for (int b = 0; b < 256; b++) {
            if (BYTE_TO_CHAR[b] == c) {
                return b;
            }
        }
        return -1;
    }

    // GPT-2 / CLIP bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68
    // bytes to U+0100 onwards in byte order, so every byte becomes a visible character.
    private static char[] byteToUnicode() {
        char[] table = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[b] = (char) (printable ? b : next++);
        }
        return table;
    }
}
