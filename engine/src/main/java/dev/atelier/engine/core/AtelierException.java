package dev.atelier.engine.core;

import static dev.atelier.bindings.atelier_h.*;

/**
 * Base of every error Atelier raises. Native status codes map onto the subclasses in
 * {@link #fromStatus(int, String)}, the one place where that mapping lives.
 */
public class AtelierException extends RuntimeException {
    /** Status codes of {@code atl_code} in atelier.h, from the bindings. */
    public static final int OK = ATL_OK(), INVALID_ARGUMENT = ATL_ERR_INVALID_ARGUMENT(), IO = ATL_ERR_IO(),
            FORMAT = ATL_ERR_FORMAT(), SHAPE = ATL_ERR_SHAPE(), BACKEND = ATL_ERR_BACKEND(),
            CANCELLED = ATL_ERR_CANCELLED(), OUT_OF_MEMORY = ATL_ERR_OUT_OF_MEMORY(),
            UNSUPPORTED = ATL_ERR_UNSUPPORTED(), INTERNAL = ATL_ERR_INTERNAL();

    private final int code;

    public AtelierException(int code, String message) {
        super(message);
        this.code = code;
    }

    public AtelierException(int code, String message, Throwable cause) {
        super(message, cause);
        this.code = code;
    }

    /** The {@code atl_code} this error corresponds to. */
    public int code() {
        return code;
    }

    /** Maps a native status code and message onto the exception hierarchy. */
    public static AtelierException fromStatus(int code, String message) {
        // The codes come from the bindings, so they are not compile-time constants for a switch.
        if (code == INVALID_ARGUMENT || code == SHAPE) {
            return new InvalidInputException(code, message);
        }
        if (code == IO || code == FORMAT) {
            return new FormatException(code, message);
        }
        if (code == CANCELLED) {
            return new CancelledException(message);
        }
        if (code == UNSUPPORTED) {
            return new UnavailableException(message);
        }
        if (code == BACKEND || code == OUT_OF_MEMORY) {
            return new BackendException(code, message);
        }
        return new AtelierException(code == OK ? INTERNAL : code, message);
    }

    /** Bad input from the user: arguments, shapes, files. The CLI exits with 2. */
    public static class InvalidInputException extends AtelierException {
        public InvalidInputException(String message) {
            super(INVALID_ARGUMENT, message);
        }

        public InvalidInputException(int code, String message) {
            super(code, message);
        }

        public InvalidInputException(int code, String message, Throwable cause) {
            super(code, message, cause);
        }
    }

    /** A file that cannot be read or is malformed; the message names the file and the problem. */
    public static class FormatException extends InvalidInputException {
        public FormatException(String message) {
            super(FORMAT, message);
        }

        public FormatException(int code, String message) {
            super(code, message);
        }

        public FormatException(String message, Throwable cause) {
            super(FORMAT, message, cause);
        }
    }

    /** libtorch or FAISS reported an error; the message is theirs. */
    public static class BackendException extends AtelierException {
        public BackendException(int code, String message) {
            super(code, message);
        }
    }

    /** A long operation stopped because its progress callback asked it to. */
    public static class CancelledException extends AtelierException {
        public CancelledException(String message) {
            super(CANCELLED, message);
        }
    }

    /** A feature this build or machine does not have (CUDA, a CPU extension). */
    public static class UnavailableException extends AtelierException {
        public UnavailableException(String message) {
            super(UNSUPPORTED, message);
        }
    }
}
