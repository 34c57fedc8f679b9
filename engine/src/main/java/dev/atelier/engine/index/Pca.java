package dev.atelier.engine.index;

import static dev.atelier.bindings.atelier_h.*;

import dev.atelier.engine.core.NativeHandle;
import dev.atelier.engine.core.NativeLibrary;
import dev.atelier.engine.core.Status;
import dev.atelier.engine.core.TensorView;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * PCA from d_in to d_out dimensions ({@code atl_pca} over FAISS's {@code PCAMatrix}); the
 * paper reduces MobileNetV3's 960 features to 128. {@link #apply} is safe from many threads.
 */
public final class Pca extends NativeHandle {
    private Pca(MemorySegment pointer) {
        super("atl_pca", pointer, p -> atl_pca_destroy(p));
    }

    /** An untrained PCA; eigenPower 0 keeps the variances (no whitening), -0.5 whitens. */
    public static Pca create(int dIn, int dOut, float eigenPower) {
        return new Pca(create((arena, out) -> atl_pca_create(dIn, dOut, eigenPower, out)));
    }

    /**
     * A PCA to dOut dimensions without whitening (the paper's), trained on rows (at least dOut
     * of them, all of one length). The caller owns the result and closes it.
     */
    public static Pca fit(float[][] rows, int dOut) {
        if (rows.length < dOut) {
            throw new dev.atelier.engine.core.AtelierException.InvalidInputException(
                    "PCA to " + dOut + " dimensions needs at least " + dOut + " vectors, got " + rows.length);
        }
        int dIn = rows[0].length;
        Pca pca = create(dIn, dOut, 0f);
        try (Arena arena = Arena.ofConfined()) {
            pca.train(TensorView.ofRows(arena, rows, dIn));
            return pca;
        } catch (RuntimeException e) {
            pca.close();
            throw e;
        }
    }

    /** Reads a PCA serialised by {@link #toBytes()}; malformed data throws FormatException. */
    public static Pca fromBytes(MemorySegment data) {
        return new Pca(create((arena, out) -> atl_pca_read(data, data.byteSize(), out)));
    }

    /** {@link #fromBytes(MemorySegment)} naming source (the file the bytes came from) in errors. */
    public static Pca fromBytes(MemorySegment data, java.nio.file.Path source) {
        return new Pca(create((arena, out) -> atl_pca_read(data, data.byteSize(), out), source));
    }

    public byte[] toBytes() {
        return NativeBytes.toArray(out -> atl_pca_write(pointer(), out));
    }

    public int inputDimension() {
        return atl_pca_d_in(pointer());
    }

    public int outputDimension() {
        return atl_pca_d_out(pointer());
    }

    /** Trains on rows F32 [n, d_in], n >= d_out. */
    public void train(TensorView rows) {
        try (Arena arena = Arena.ofConfined()) {
            Status.check(atl_pca_train(pointer(), rows.toNative(arena)));
        }
    }

    /** out F32 [n, d_out] = PCA(in F32 [n, d_in]), each row then scaled to unit length when l2Normalize. */
    public void apply(TensorView in, TensorView out, boolean l2Normalize) {
        try (Arena arena = Arena.ofConfined()) {
            Status.check(atl_pca_apply(pointer(), in.toNative(arena), out.toNative(arena), l2Normalize ? 1 : 0));
        }
    }

    /** Scales each row of rows F32 [n, d] to unit L2 length in place (rows of zeros stay zero). */
    public static void normalizeRows(TensorView rows) {
        NativeLibrary.load();
        try (Arena arena = Arena.ofConfined()) {
            Status.check(atl_l2_normalize(rows.toNative(arena)));
        }
    }
}
