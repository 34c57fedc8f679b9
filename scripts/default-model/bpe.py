"""A small byte-level BPE vocabulary in CLIP's file format (vocab.json + merges.txt), learned from
the project's own captions, so the default model needs no tokenizer data from elsewhere.

Format facts (CLIP's simple_tokenizer): the 256 byte symbols (bytes mapped to printable unicode
characters), the same 256 with "</w>" (end of word), then one token per merge in merge order, then
<|startoftext|> and <|endoftext|>; merges.txt starts with a "#version: 0.2" line.
"""
import collections
import json
import os


def byte_symbols():
    """The byte -> printable character map of GPT-2/CLIP byte-level BPE."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


def learn(word_counts):
    """Merges until every word of the corpus is one symbol. Ties break on the pair itself, so
    the result does not depend on dictionary order."""
    symbols = byte_symbols()
    words = {}
    for word, count in word_counts.items():
        chars = [symbols[b] for b in word.encode("utf-8")]
        chars[-1] += "</w>"
        words[tuple(chars)] = words.get(tuple(chars), 0) + count
    merges = []
    while True:
        pairs = collections.Counter()
        for word, count in words.items():
            for a, b in zip(word, word[1:]):
                pairs[(a, b)] += count
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        merged = {}
        for word, count in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + count
        words = merged
    base = list(byte_symbols().values())
    tokens = base + [s + "</w>" for s in base] + [a + b for a, b in merges] + ["<|startoftext|>", "<|endoftext|>"]
    vocab = {}
    for t in tokens:
        vocab.setdefault(t, len(vocab))
    return vocab, merges


def write(vocab, merges, folder):
    os.makedirs(folder, exist_ok=True)
    for name, text in (("vocab.json", json.dumps(vocab, ensure_ascii=False)),
                       ("merges.txt", "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))):
        tmp = os.path.join(folder, name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, os.path.join(folder, name))


class Tokenizer:
    """Enough of CLIP tokenization for captions made of corpus words: lower-case words, each one
    token after all merges; BOS, tokens, EOS, padded with EOS to 77 positions."""

    def __init__(self, vocab):
        self.vocab = vocab
        self.bos = vocab["<|startoftext|>"]
        self.eos = vocab["<|endoftext|>"]

    def ids(self, caption, length=77):
        out = [self.bos]
        for word in caption.lower().split():
            token = word + "</w>"
            if token not in self.vocab:
                raise ValueError(f"word {word!r} is not one token of the vocabulary")
            out.append(self.vocab[token])
        out.append(self.eos)
        if len(out) > length:
            raise ValueError(f"caption too long: {caption!r}")
        return out + [self.eos] * (length - len(out))
