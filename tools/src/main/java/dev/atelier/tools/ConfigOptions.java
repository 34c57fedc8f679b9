package dev.atelier.tools;

import java.nio.file.Path;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;

/**
 * {@code --threads}, {@code --config-file} and {@code --save-config}, for commands whose runs are
 * worth repeating. Reading is picocli's business through {@link ConfigFile}; the command calls
 * {@link #start} once its settings are final (a random seed drawn, aliases folded), so the file
 * repeats the run.
 */
final class ConfigOptions {
    @Mixin
    ThreadsOption threads;

    @Option(names = ConfigFile.CONFIG_FILE, paramLabel = "FILE.yaml",
            description = "Read settings from a YAML file: keys are the long option names without the dashes "
                    + "(steps: 25); flags on the command line win.")
    Path configFile;

    @Option(names = ConfigFile.SAVE_CONFIG, paramLabel = "FILE.yaml",
            description = "Write the effective settings (command line, config file and defaults merged) as YAML, "
                    + "for --config-file to repeat the run.")
    Path saveConfig;

    /** Writes the settings when --save-config asks, then applies --threads. */
    void start(CommandSpec spec) {
        if (saveConfig != null) {
            ConfigFile.save(spec, saveConfig);
        }
        threads.apply();
    }
}
