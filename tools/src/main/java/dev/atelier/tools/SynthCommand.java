package dev.atelier.tools;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.synth.Person;
import dev.atelier.engine.synth.SyntheticCatalog;
import dev.atelier.engine.synth.TrainingSet;
import dev.atelier.engine.synth.Wardrobe;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code atelier synth wardrobe|catalog|training-set}: the demo's generated data sets. */
@Command(name = "synth", mixinStandardHelpOptions = true,
        description = "Write generated garment photos: a person's wardrobe, a shop catalog (DeepFashion In-shop "
                + "layout) or the base model's captioned training set. Deterministic: the same seed writes the same "
                + "pixels. Each folder is written beside its target and renamed into place when complete.",
        subcommands = {SynthCommand.WardrobeCommand.class, SynthCommand.CatalogCommand.class, SynthCommand.TrainingSetCommand.class},
        footer = {"", "Examples:",
                "  atelier synth wardrobe --person ana --out work/ana",
                "  atelier synth catalog --out work/shop --items 3000",
                "  atelier synth training-set --out work/base-train --count 20000 --seed 7"})
final class SynthCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        throw new InvalidInputException("choose one of: synth wardrobe, synth catalog, synth training-set (see atelier synth --help)");
    }

    /**
     * How a subcommand ends once it has written output.out since start ({@link System#nanoTime()}):
     * with --json one object, "out" then fields; otherwise "wrote WHAT to OUT in S".
     */
    private static Integer report(CliCommand command, SynthOutputOptions output, long start, String what,
            Map<String, Object> fields) {
        if (command.json()) {
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("out", output.out.toString());
            result.putAll(fields);
            command.printJson(result);
        } else {
            command.out().println("wrote " + what + " to " + output.out + " in "
                    + String.format("%.1f s", (System.nanoTime() - start) / 1e9));
        }
        return 0;
    }

    @Command(name = "wardrobe", mixinStandardHelpOptions = true, sortOptions = false,
            description = "A person's wardrobe: PNG photos of garments of different types in their signature style, "
                    + "each with a caption file (NAME.txt holding the garment word, e.g. jacket), ready for train-lora.",
            footer = {"", "People: ana (burgundy, cream, striped), ben (navy, mustard, checked), cleo (green, pink, dotted), "
                    + "dan (black, red, colorblock).", "", "Examples:",
                    "  atelier synth wardrobe --person ana --out work/ana",
                    "  atelier synth wardrobe --person ben --out work/ben --count 20 --size 256"})
    static final class WardrobeCommand extends CliCommand {
        @Option(names = "--person", required = true, paramLabel = "NAME", description = "Whose wardrobe: ana, ben, cleo or dan.")
        String person;
        @Mixin
        SynthOutputOptions output;
        @Option(names = "--count", paramLabel = "N", defaultValue = "10", description = "Garments (default ${DEFAULT-VALUE}).")
        int count;
        @Option(names = "--size", paramLabel = "N", defaultValue = "128", description = "Image side in pixels (default ${DEFAULT-VALUE}).")
        int size;

        @Override
        public Integer call() {
            Person p = Person.named(person);
            long start = System.nanoTime();
            int n = Wardrobe.write(p, output.out, count, size, output.seed, output.force).size();
            return report(this, output, start, n + " garments of " + p.name() + "'s wardrobe (" + p.colour().word() + ", "
                    + p.secondary().word() + ", " + p.pattern().word() + ")", Map.of("person", p.name(), "garments", n));
        }
    }

    @Command(name = "catalog", mixinStandardHelpOptions = true, sortOptions = false,
            description = "A shop catalog in DeepFashion In-shop layout (img/, Eval/list_eval_partition.txt, "
                    + "Anno/list_bbox_inshop.txt, Anno/list_item_inshop.txt): JPEG front views, and side views for "
                    + "about 60%% of the items, spread evenly over every garment, colour and pattern.",
            footer = {"", "Examples:",
                    "  atelier synth catalog --out work/shop",
                    "  atelier synth catalog --out work/shop --items 500 --size 256 --force",
                    "  atelier index build --model mnv3.pth --catalog work/shop --index work/shop.idx"})
    static final class CatalogCommand extends CliCommand {
        @Mixin
        SynthOutputOptions output;
        @Option(names = "--items", paramLabel = "N", defaultValue = "3000", description = "Catalog items (default ${DEFAULT-VALUE}).")
        int items;
        @Option(names = "--size", paramLabel = "N", defaultValue = "128", description = "Image side in pixels (default ${DEFAULT-VALUE}).")
        int size;

        @Override
        public Integer call() {
            long start = System.nanoTime();
            int images = SyntheticCatalog.write(output.out, items, size, output.seed, output.force,
                    json() ? dev.atelier.engine.core.Progress.NONE : new ProgressBar("catalog", "item"));
            return report(this, output, start, items + " items (" + images + " images) in DeepFashion In-shop layout",
                    Map.of("items", items, "images", images));
        }
    }

    @Command(name = "training-set", mixinStandardHelpOptions = true, sortOptions = false,
            description = "The base model's training set: PNG garments spread evenly over every garment, colour and "
                    + "pattern, and metadata.jsonl with one line per image: {\"file\", \"category\", \"color\", "
                    + "\"secondary\", \"pattern\", \"caption\": \"<color> <pattern> <category>\"}.",
            footer = {"", "Examples:",
                    "  atelier synth training-set --out work/base-train",
                    "  atelier synth training-set --out work/base-train --count 50000 --seed 1 --force"})
    static final class TrainingSetCommand extends CliCommand {
        @Mixin
        SynthOutputOptions output;
        @Option(names = "--count", paramLabel = "N", defaultValue = "20000", description = "Images (default ${DEFAULT-VALUE}).")
        int count;
        @Option(names = "--size", paramLabel = "N", defaultValue = "64", description = "Image side in pixels (default ${DEFAULT-VALUE}).")
        int size;

        @Override
        public Integer call() {
            long start = System.nanoTime();
            int n = TrainingSet.write(output.out, count, size, output.seed, output.force);
            return report(this, output, start, n + " images and " + TrainingSet.METADATA,
                    Map.of("images", n, "metadata", TrainingSet.METADATA));
        }
    }
}
