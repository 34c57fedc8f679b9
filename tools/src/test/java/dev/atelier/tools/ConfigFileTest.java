package dev.atelier.tools;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;

/** --config-file and --save-config: parsing only, no model is loaded. */
class ConfigFileTest {
    @TempDir
    Path dir;

    /** A command with every kind of option the mechanism handles, lists included. */
    @Command(name = "toy")
    static final class Toy implements Callable<Integer> {
        @Option(names = "--model", required = true) Path model;
        @Option(names = "--images", arity = "1..*") List<Path> images;
        @Option(names = "--tags", arity = "1..*") List<String> tags;
        @Option(names = "--steps", defaultValue = "20") int steps;
        @Option(names = "--seed", defaultValue = "-1") long seed;
        @Option(names = {"--lr", "--unet-lr"}, defaultValue = "1e-4") float lr;
        @Option(names = "--cfg", defaultValue = "7") double cfg;
        @Option(names = "--flip") boolean flip;
        @Option(names = "--prompt") String prompt;
        @Mixin ConfigOptions config;

        @Override
        public Integer call() {
            return 0;
        }
    }

    private static CommandSpec parse(Object command, String... args) {
        CommandLine cli = new CommandLine(command);
        cli.setDefaultValueProvider(new ConfigFile());
        cli.parseArgs(args);
        return cli.getCommandSpec();
    }

    private static CommandSpec parseAtelier(String... args) {
        CommandLine cli = Main.commandLine();
        return cli.parseArgs(args).subcommand().commandSpec();
    }

    private static void assertSameSettings(CommandSpec a, CommandSpec b) {
        for (OptionSpec o : a.options()) {
            if (ConfigFile.isSaved(o)) {
                assertEquals((Object) o.getValue(), b.findOption(o.longestName()).getValue(), o.longestName());
            }
        }
    }

    @Test
    void aSavedConfigReproducesTheParsedOptions() throws Exception {
        CommandSpec first = parse(new Toy(), "--model", "m.safetensors", "--images", "a b.png", "c.png", "--tags",
                "x: y", "007", "--steps", "25", "--seed", "4294967295", "--lr", "3e-5", "--cfg", "7.5", "--flip",
                "--prompt", "a \"denim\" jacket: blue");
        Path file = dir.resolve("toy.yaml");
        ConfigFile.save(first, file);
        CommandSpec second = parse(new Toy(), "--config-file", file.toString());
        assertSameSettings(first, second);
        assertEquals(List.of(Path.of("a b.png"), Path.of("c.png")), ((Toy) second.userObject()).images);
        assertEquals(3e-5f, ((Toy) second.userObject()).lr);
        assertEquals(ConfigFile.toYaml(first), ConfigFile.toYaml(second));
    }

    @Test
    void generateAndTrainLoraSettingsRoundTrip() throws Exception {
        String[][] runs = {
            {"generate", "--model", "rv6.safetensors", "--prompt", "a jacket, 8k", "--negative", "blurry", "--sampler",
                "dpmpp_2m_karras", "--steps", "25", "--cfg", "6.5", "--seed", "42", "--batch", "2", "--width", "576",
                "--eta", "0.3", "--out", "out/"},
            {"train-lora", "--model", "sd15.safetensors", "--images", "photos/", "--out", "j.safetensors", "--caption",
                "photo of sks jacket", "--rank", "16", "--alpha", "8", "--lr", "1e-4", "--text-lr", "3.3e-5", "--flip",
                "--schedule", "cosine", "--max-steps", "1000", "--precision", "bf16"},
        };
        for (String[] run : runs) {
            CommandSpec first = parseAtelier(run);
            Path file = dir.resolve(run[0] + ".yaml");
            ConfigFile.save(first, file);
            String yaml = Files.readString(file);
            assertTrue(yaml.contains("model: "), yaml);
            CommandSpec second = parseAtelier(run[0], "--config-file", file.toString());
            assertSameSettings(first, second);
            assertEquals(ConfigFile.toYaml(first), ConfigFile.toYaml(second));
        }
        assertTrue(Files.readString(dir.resolve("generate.yaml")).contains("batch-size: 2"), "the canonical name is saved");
    }

    @Test
    void commandLineFlagsWinOverTheFile() throws Exception {
        Path file = dir.resolve("c.yaml");
        Files.writeString(file, "model: from-file.safetensors\nsteps: 3\nunet-lr: 0.5\nimages: [x.png, y.png]\nflip: true\n");
        Toy toy = (Toy) parse(new Toy(), "--config-file", file.toString(), "--steps", "2", "--images", "z.png")
                .userObject();
        assertEquals(2, toy.steps);
        assertEquals(List.of(Path.of("z.png")), toy.images, "a list on the command line replaces the file's");
        assertEquals(Path.of("from-file.safetensors"), toy.model, "a required option may come from the file");
        assertEquals(0.5f, toy.lr, "an alias is a key too");
        assertTrue(toy.flip);
        assertEquals(20, ((Toy) parse(new Toy(), "--model", "m").userObject()).steps, "no file: the defaults");
    }

    @Test
    void unknownKeysAndWrongTypesAreBadInputNamingFileAndKey() throws Exception {
        String[][] cases = {{"stpes: 3\n", "\"stpes\""}, {"steps: many\n", "\"steps\" needs an integer"},
            {"cfg: [1, 2]\n", "\"cfg\""}, {"seed: 1.5\n", "\"seed\""}, {"json: true\n", "\"json\""},
            {"- steps\n", "key: value"}, {"steps: [\n", "not valid YAML"}};
        for (String[] c : cases) {
            Path file = dir.resolve("bad.yaml");
            Files.writeString(file, c[0].startsWith("- ") ? c[0] : "model: m.safetensors\nprompt: x\nout: o/\n" + c[0]);
            CliRun r = CliRun.of("generate", "--config-file", file.toString());
            assertEquals(Main.EXIT_BAD_INPUT, r.code(), c[0] + r.err());
            assertTrue(r.err().startsWith("atelier: " + file + ": "), r.err());
            assertTrue(r.err().contains(c[1]), c[0] + " -> " + r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
        }
        CliRun missing = CliRun.of("train-lora", "--config-file", dir.resolve("none.yaml").toString());
        assertEquals(Main.EXIT_BAD_INPUT, missing.code());
        assertTrue(missing.err().contains("none.yaml: no such config file"), missing.err());
    }
}
