package dev.atelier.tools;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.util.concurrent.Callable;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * Base of the subcommands: where their result goes. With {@code --json} the result is one JSON
 * object on stdout and nothing else is printed there; otherwise it is text for people. Progress
 * and logs go to stderr either way.
 */
abstract class CliCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    @Spec
    CommandSpec spec;

    /** Whether {@code --json} was given (it is inherited from the root command). */
    boolean json() {
        return spec != null && spec.root().userObject() instanceof Main m && m.json;
    }

    /** Where results go: stdout. */
    PrintStream out() {
        return System.out;
    }

    /** Prints the result as one JSON object on stdout. */
    void printJson(Object result) {
        try {
            out().println(JSON.writeValueAsString(result));
            out().flush();
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }
}
