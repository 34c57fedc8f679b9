package dev.atelier.engine.core;

/**
 * Base of every error Atelier raises. Native status codes map onto the subclasses in
 * {@link #fromStatus(int, String)}, the one place where that mapping lives.
 */
public class AtelierException extends RuntimeException {
    /** Status codes of {@code atl_code} in atelier.h. */
    public static final int OK = 0, INVALID_ARGUMENT = 1, IO = 2, FORMAT = 3, SHAPE = 4, BACKEND = 5,
            CANCELLED = 6, OUT_OF_MEMORY = 7, UNSUPPORTED = 8, INTERNAL = 9;

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
        return switch (code) {
            case INVALID_ARGUMENT, SHAPE -> new InvalidInputException(code, message);
            case IO, FORMAT -> new FormatException(code, message);
            case CANCELLED -> new CancelledException(message);
            case UNSUPPORTED -> new UnavailableException(message);
            case BACKEND, OUT_OF_MEMORY -> new BackendException(code, message);
            default -> new AtelierException(code == OK ? INTERNAL : code, message);
        };
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
