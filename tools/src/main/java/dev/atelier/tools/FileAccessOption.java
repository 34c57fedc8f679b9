package dev.atelier.tools;

import dev.atelier.engine.core.FileAccess;
import picocli.CommandLine.Option;

/** {@code --no-mmap}: how the commands that load a model read its files. */
final class FileAccessOption {
    @Option(names = "--no-mmap",
            description = "Read the model's files into memory instead of memory-mapping them: costs their size in "
                    + "memory and a full read at load, but a file overwritten in place while Atelier runs cannot "
                    + "crash it (SIGBUS), as it can a mapping. For servers whose model files may change.")
    boolean noMmap;

    FileAccess access() {
        return noMmap ? FileAccess.READ : FileAccess.MAP;
    }
}
