package dev.atelier.engine.text;

/**
 * A prompt and its negative prompt tokenized to the same number of chunks, as classifier-free
 * guidance needs both conditionings to have the same sequence length.
 *
 * @param positive the prompt
 * @param negative the negative prompt, padded with empty chunks where it is shorter
 */
public record PromptPair(TokenizedPrompt positive, TokenizedPrompt negative) {
    public int chunks() {
        return positive.chunks();
    }
}
