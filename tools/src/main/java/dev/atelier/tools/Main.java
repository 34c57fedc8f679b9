package dev.atelier.tools;

import dev.atelier.engine.core.AtelierException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The {@code atelier} command. Exit codes: 0 success, 2 bad input (arguments, files),
 * 1 internal error. Errors print as one sentence; {@code --verbose} adds the stack trace.
 */
@Command(name = "atelier", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Personalised fashion image generation: LoRA on Stable Diffusion 1.5, "
                + "style similarity and catalog search.",
        subcommands = {InfoCommand.class, DemoCommand.class, EmbedCommand.class, IndexCommand.class,
                SearchCommand.class, EvaluateCommand.class, ExportOnnxCommand.class, GenerateCommand.class, TrainLoraCommand.class, SynthCommand.class, CommandLine.HelpCommand.class},
        footer = {"", "Examples:", "  atelier info", "  atelier info --json", "  atelier help info"})
public final class Main {
    public static final int EXIT_BAD_INPUT = 2;
    public static final int EXIT_INTERNAL = 1;

    @Option(names = "--verbose", scope = CommandLine.ScopeType.INHERIT, description = "Show stack traces and debug logs.")
    static boolean verbose;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line and returns the exit code (used by tests too). */
    public static int run(String... args) {
        if (java.util.Arrays.asList(args).contains("--verbose")) {
            // Must happen before the first logger is created.
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "debug");
        }
        CommandLine cli = new CommandLine(new Main());
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> report(commandLine, e));
        cli.setParameterExceptionHandler((e, a) -> {
            e.getCommandLine().getErr().println("atelier: " + e.getMessage());
            e.getCommandLine().getErr().println("Try '" + e.getCommandLine().getCommandSpec().qualifiedName() + " --help'.");
            return EXIT_BAD_INPUT;
        });
        return cli.execute(args);
    }

    private static int report(CommandLine cli, Exception e) {
        boolean badInput = e instanceof AtelierException.InvalidInputException || e instanceof IllegalArgumentException;
        cli.getErr().println("atelier: " + oneSentence(e));
        if (verbose) {
            e.printStackTrace(cli.getErr());
        }
        return badInput ? EXIT_BAD_INPUT : EXIT_INTERNAL;
    }

    private static String oneSentence(Throwable e) {
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"atelier " + (v == null ? "dev" : v)};
        }
    }
}
