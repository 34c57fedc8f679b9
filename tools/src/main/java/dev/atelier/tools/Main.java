package dev.atelier.tools;

import dev.atelier.engine.core.AtelierException;
import java.io.FileNotFoundException;
import java.io.PrintWriter;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.util.Arrays;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The {@code atelier} command.
 *
 * <p>Conventions every subcommand follows (a new one should too):
 * <ul>
 *   <li>One flag name for one meaning: {@code --model} (weights read), {@code --out} (file or folder
 *       written, atomically), {@code --images} (input photos), {@code --index} (catalog index folder),
 *       {@code --seed N}, {@code --batch-size N}, {@code --threads N} (intra-op threads, 0 = default),
 *       {@code -k/--top N}, {@code --category NAME}, {@code --config YAML} (the LDM model YAML),
 *       {@code --precision fp32|bf16}. Renamed flags keep their old spelling as an alias
 *       ({@code generate --batch}, {@code train-lora --bf16}).</li>
 *   <li>{@code --json} (any position): the result as one JSON object on stdout and nothing else there;
 *       progress bars and logs always go to stderr ({@link CliCommand}).</li>
 *   <li>{@code --verbose}: debug logs (SLF4J, slf4j-simple) and stack traces of errors.</li>
 *   <li>{@code --config-file FILE} / {@code --save-config FILE} on runs worth repeating (generate,
 *       train-lora): YAML keys are the long option names ({@link ConfigFile}).</li>
 *   <li>Exit codes: 0 success, 2 bad input (arguments, config files, missing or malformed files),
 *       1 internal error. An error is one line on stderr, {@code atelier: <sentence>}.</li>
 *   <li>{@code --help} on every command, with an Examples footer; long steps show a progress bar
 *       with ETA on stderr ({@link ProgressBar}).</li>
 * </ul>
 */
@Command(name = "atelier", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Personalised fashion image generation: LoRA on Stable Diffusion 1.5, "
                + "style similarity and catalog search.",
        subcommands = {InfoCommand.class, DemoCommand.class, EmbedCommand.class, IndexCommand.class,
                SearchCommand.class, EvaluateCommand.class, ExportOnnxCommand.class, GenerateCommand.class,
                TrainLoraCommand.class, SynthCommand.class, ServeCommand.class, BatchCommand.class,
                CommandLine.HelpCommand.class},
        footer = {"", "Exit codes: 0 success, 2 bad input, 1 internal error.", "", "Examples:", "  atelier info",
                "  atelier info --json", "  atelier help generate",
                "  atelier generate --config-file run.yaml --seed 7 --json"})
public final class Main {
    public static final int EXIT_BAD_INPUT = 2;
    public static final int EXIT_INTERNAL = 1;

    @Option(names = "--verbose", scope = CommandLine.ScopeType.INHERIT, description = "Debug logs, and stack traces of errors.")
    boolean verbose;

    @Option(names = "--json", scope = CommandLine.ScopeType.INHERIT,
            description = "Print the result as one JSON object on stdout (progress and logs stay on stderr).")
    boolean json;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line and returns the exit code (used by tests too). */
    public static int run(String... args) {
        // Read before parsing: logging must be configured before the first logger exists, and a
        // parse error must know whether to print its stack trace.
        boolean verbose = Arrays.asList(args).contains("--verbose");
        if (verbose) {
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "debug");
            System.setProperty("org.slf4j.simpleLogger.log.dev.atelier.tools", "debug");
        }
        CommandLine cli = commandLine();
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) ->
                report(commandLine.getErr(), e, verbose));
        cli.setParameterExceptionHandler((e, a) -> {
            PrintWriter err = e.getCommandLine().getErr();
            err.println("atelier: " + firstLine(e.getMessage()) + " (see '"
                    + e.getCommandLine().getCommandSpec().qualifiedName() + " --help')");
            if (verbose) {
                e.printStackTrace(err);
            }
            err.flush();
            return EXIT_BAD_INPUT;
        });
        try {
            return cli.execute(args);
        } catch (Error e) {
            // picocli hands only Exceptions to the handler; an OutOfMemoryError still gets one line.
            return report(cli.getErr(), e, verbose);
        }
    }

    /** The command tree with its config-file support, without the error handling of {@link #run}. */
    static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new Main());
        cli.setDefaultValueProvider(new ConfigFile());
        return cli;
    }

    /** Prints one line (and the stack trace when verbose) and returns the exit code for e. */
    static int report(PrintWriter err, Throwable e, boolean verbose) {
        boolean badInput = isBadInput(e);
        err.println("atelier: " + (badInput ? "" : "internal error: ") + oneSentence(e)
                + (badInput || verbose ? "" : " (--verbose shows the stack trace)"));
        if (verbose) {
            e.printStackTrace(err);
        }
        err.flush();
        return badInput ? EXIT_BAD_INPUT : EXIT_INTERNAL;
    }

    /** Bad input: the user can fix it (arguments, settings, missing or malformed files). */
    static boolean isBadInput(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof AtelierException.InvalidInputException || t instanceof IllegalArgumentException
                    || t instanceof CommandLine.ParameterException || t instanceof NoSuchFileException
                    || t instanceof FileNotFoundException || t instanceof AccessDeniedException
                    || t instanceof NotDirectoryException) {
                return true;
            }
        }
        return false;
    }

    private static String oneSentence(Throwable e) {
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : firstLine(m);
    }

    private static String firstLine(String m) {
        int nl = m.indexOf('\n');
        return (nl < 0 ? m : m.substring(0, nl)).strip();
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"atelier " + (v == null ? "dev" : v)};
        }
    }
}
