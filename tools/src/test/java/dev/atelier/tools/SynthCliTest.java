package dev.atelier.tools;

import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.catalog.DeepFashionInShop;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** atelier synth wardrobe|catalog|training-set. */
class SynthCliTest {
    @TempDir
    Path dir;

    @Test
    void writesTheThreeDataSets() throws Exception {
        Path ana = dir.resolve("ana");
        CliRun w = CliRun.of("synth", "wardrobe", "--person", "ana", "--out", ana.toString(), "--count", "3", "--size", "64");
        assertEquals(0, w.code(), w.err());
        assertTrue(w.out().startsWith("wrote 3 garments of ana's wardrobe (burgundy, cream, striped)"), w.out());
        assertEquals("jacket", Files.readString(ana.resolve("01_jacket.txt")));

        Path shop = dir.resolve("shop");
        CliRun c = CliRun.of("synth", "catalog", "--out", shop.toString(), "--items", "12", "--size", "32", "--seed", "4");
        assertEquals(0, c.code(), c.err());
        assertTrue(c.out().startsWith("wrote 12 items ("), c.out());
        assertEquals(List.of(), DeepFashionInShop.read(shop).problems());

        Path train = dir.resolve("train");
        CliRun t = CliRun.of("synth", "training-set", "--out", train.toString(), "--count", "7", "--size", "32");
        assertEquals(0, t.code(), t.err());
        assertEquals(7, Files.readAllLines(train.resolve("metadata.jsonl")).size());

        CliRun again = CliRun.of("synth", "training-set", "--out", train.toString(), "--count", "7", "--size", "32");
        assertEquals(Main.EXIT_BAD_INPUT, again.code());
        assertTrue(again.err().startsWith("atelier: ") && again.err().contains("already exists and is not empty"), again.err());
        CliRun forced = CliRun.of("synth", "training-set", "--out", train.toString(), "--count", "4", "--size", "32", "--force");
        assertEquals(0, forced.code(), forced.err());
        assertEquals(4, Files.readAllLines(train.resolve("metadata.jsonl")).size());
    }

    @Test
    void badArgumentsExitWithTwoAndOneSentence() {
        CliRun person = CliRun.of("synth", "wardrobe", "--person", "zoe", "--out", dir.resolve("z").toString());
        assertEquals(Main.EXIT_BAD_INPUT, person.code());
        assertEquals("atelier: unknown person \"zoe\" (known: ana, ben, cleo, dan)", person.err().strip());
        CliRun count = CliRun.of("synth", "catalog", "--out", dir.resolve("c").toString(), "--items", "0");
        assertEquals(Main.EXIT_BAD_INPUT, count.code());
        assertEquals("atelier: items must be between 1 and 100000, got 0", count.err().strip());
        CliRun size = CliRun.of("synth", "training-set", "--out", dir.resolve("t").toString(), "--size", "abc");
        assertEquals(Main.EXIT_BAD_INPUT, size.code());
        assertTrue(size.err().contains("'abc'"), size.err());
        CliRun none = CliRun.of("synth");
        assertEquals(Main.EXIT_BAD_INPUT, none.code());
        assertTrue(none.err().contains("choose one of: synth wardrobe"), none.err());
        assertFalse(Files.exists(dir.resolve("c")) || Files.exists(dir.resolve("t")) || Files.exists(dir.resolve("z")));
    }

    @Test
    void helpHasExamples() {
        for (String sub : new String[] {"wardrobe", "catalog", "training-set"}) {
            CliRun r = CliRun.of("synth", sub, "--help");
            assertEquals(0, r.code());
            assertTrue(r.out().contains("Examples:") && r.out().contains("atelier synth " + sub), r.out());
        }
        assertTrue(CliRun.of("--help").out().contains("synth"));
    }
}
