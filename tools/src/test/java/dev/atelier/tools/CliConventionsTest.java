package dev.atelier.tools;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/** What every subcommand shares: help with examples, flag names, exit codes, errors, progress. */
class CliConventionsTest {
    /** Every command path below the root, e.g. ["index", "build"]. */
    private static List<List<String>> commands() {
        List<List<String>> out = new ArrayList<>();
        collect(Main.commandLine(), new ArrayList<>(), out);
        return out;
    }

    private static void collect(CommandLine cli, List<String> path, List<List<String>> out) {
        for (Map.Entry<String, CommandLine> e : cli.getSubcommands().entrySet()) {
            if (e.getKey().equals("help")) {
                continue;
            }
            List<String> p = new ArrayList<>(path);
            p.add(e.getKey());
            out.add(p);
            collect(e.getValue(), p, out);
        }
    }

    @Test
    void everySubcommandHasHelpWithExamples() {
        List<List<String>> all = commands();
        assertTrue(all.size() >= 12, all.toString());
        for (List<String> path : all) {
            List<String> args = new ArrayList<>(path);
            args.add("--help");
            CliRun r = CliRun.of(args.toArray(String[]::new));
            assertEquals(0, r.code(), path + r.err());
            assertTrue(r.out().contains("Examples:\n  atelier " + path.getFirst()), path + ": " + r.out());
            assertTrue(r.out().contains("--json") && r.out().contains("--verbose"), path + ": " + r.out());
        }
    }

    @Test
    void oneFlagNameForOneMeaning() {
        // Old spellings live on as aliases only; these names are the canonical ones.
        Map<String, String> canonical = Map.of("--batch", "--batch-size", "--bf16", "--precision");
        for (List<String> path : commands()) {
            CommandLine cli = Main.commandLine();
            for (String p : path) {
                cli = cli.getSubcommands().get(p);
            }
            for (OptionSpec o : cli.getCommandSpec().options()) {
                assertTrue(o.longestName().matches("--[a-z0-9]+(-[a-z0-9]+)*"), path + ": " + o.longestName());
                assertFalse(canonical.containsKey(o.longestName()) && !o.hidden(), path + ": " + o.longestName()
                        + " should be " + canonical.get(o.longestName()));
                if (o.longestName().equals("--threads") || o.longestName().equals("--batch-size")
                        || o.longestName().equals("--seed") || o.longestName().equals("-k")) {
                    assertEquals("N", o.paramLabel(), path + ": " + o.longestName());
                }
            }
        }
        CommandLine generate = Main.commandLine().getSubcommands().get("generate");
        assertNotNull(generate.getCommandSpec().findOption("--batch"), "generate --batch still works");
        CommandLine train = Main.commandLine().getSubcommands().get("train-lora");
        assertNotNull(train.getCommandSpec().findOption("--bf16"), "train-lora --bf16 still works");
    }

    @Test
    void parameterErrorsAreBadInputInOneLine() {
        CliRun unknown = CliRun.of("info", "--no-such-flag");
        assertEquals(Main.EXIT_BAD_INPUT, unknown.code());
        assertTrue(unknown.err().startsWith("atelier: Unknown option: '--no-such-flag'"), unknown.err());
        assertEquals(1, unknown.err().strip().lines().count(), unknown.err());
        CliRun missing = CliRun.of("generate", "--prompt", "x");
        assertEquals(Main.EXIT_BAD_INPUT, missing.code());
        assertTrue(missing.err().contains("Missing required options: '--model=PATH', '--out=DIR'"), missing.err());
        CliRun notANumber = CliRun.of("generate", "--model", "m", "--prompt", "x", "--out", "o", "--steps", "many");
        assertEquals(Main.EXIT_BAD_INPUT, notANumber.code());
        assertTrue(notANumber.err().contains("'many' is not an int"), notANumber.err());
    }

    @Test
    void missingFilesAreBadInputWithoutAStackTrace() {
        String tokenizer = CatalogCliTest.mobilenet().getParent().resolve("model/tokenizer").toString();
        CliRun r = CliRun.of("generate", "--model", "/nonexistent/model.safetensors", "--tokenizer", tokenizer,
                "--prompt", "x", "--out", "o");
        assertEquals(Main.EXIT_BAD_INPUT, r.code(), r.err());
        assertTrue(r.err().startsWith("atelier: ") && r.err().contains("model.safetensors"), r.err());
        assertFalse(r.err().contains("\tat "), r.err());
        assertTrue(Main.isBadInput(new UncheckedIOException("x", new NoSuchFileException("f"))));
    }

    @Test
    void internalErrorsExitWithOneAndShowTheStackTraceOnlyWhenVerbose() {
        StringWriter quiet = new StringWriter();
        assertEquals(Main.EXIT_INTERNAL, Main.report(new PrintWriter(quiet), new IllegalStateException("boom"), false));
        assertEquals("atelier: internal error: boom (--verbose shows the stack trace)", quiet.toString().strip());
        StringWriter loud = new StringWriter();
        assertEquals(Main.EXIT_INTERNAL, Main.report(new PrintWriter(loud), new NullPointerException(), true));
        assertTrue(loud.toString().startsWith("atelier: internal error: NullPointerException\n"), loud.toString());
        assertTrue(loud.toString().contains("\tat dev.atelier.tools.CliConventionsTest"), loud.toString());
    }

    @Test
    void progressIsPlainLinesOffATerminalAndOneRedrawnLineOnIt() {
        ByteArrayOutputStream plain = new ByteArrayOutputStream();
        ProgressBar bar = new ProgressBar("embed", "img", new PrintStream(plain, true), false);
        for (int i = 1; i <= 10; i++) {
            bar.update(i, 10, "loss 0.5");
        }
        List<String> lines = plain.toString().lines().toList();
        assertEquals(2, lines.size(), "the first and the last line (the 5 s period is not reached): " + lines);
        assertTrue(lines.get(0).startsWith("embed: 1/10 img (10%), ") && lines.get(0).contains("ETA")
                && lines.get(0).endsWith("loss 0.5"), lines.get(0));
        assertTrue(lines.get(1).startsWith("embed: 10/10 img (100%), ") && lines.get(1).contains(" in 0:"), lines.get(1));
        assertFalse(plain.toString().contains("\r"));

        ByteArrayOutputStream tty = new ByteArrayOutputStream();
        ProgressBar live = new ProgressBar("generate", "step", new PrintStream(tty, true), true);
        live.update(1, 4, "");
        live.update(4, 4, "");
        assertTrue(tty.toString().startsWith("\rgenerate   [######"), tty.toString());
        assertTrue(tty.toString().contains("ETA") && tty.toString().endsWith("\n"), tty.toString());
    }
}
