package dev.atelier.engine.util;

import java.nio.file.InvalidPathException;
import java.nio.file.Path;

/**
 * Names that come from files or requests (a dataset's list files, a prompt's LoRA tags, a
 * manifest) and are taken relative to a folder: such a name must not reach files elsewhere.
 */
public final class RelativeNames {
    private RelativeNames() {}

    /**
     * Whether name, resolved against a folder, names a path inside it: a path on this system (no
     * NUL character), not absolute, and not climbing out once normalised ("../x", "a/../../x").
     */
    public static boolean staysInside(String name) {
        Path p;
        try {
            p = Path.of(name);
        } catch (InvalidPathException e) {
            return false;
        }
        return !p.isAbsolute() && !p.normalize().startsWith("..");
    }
}
