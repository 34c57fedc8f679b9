package dev.atelier.engine.index;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.TensorView;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Atelier's step before any vector leaves it: the catalog's PCA (when it has one) and then L2
 * normalisation, so that an inner product is a cosine similarity. The FAISS index does the same
 * inside {@link CatalogIndex}; remote backends (Elasticsearch) get only projected vectors.
 * Safe from many threads ({@link Pca#apply} is).
 */
public final class VectorProjection {
    private final Pca pca; // borrowed; null: normalisation only
    private final int inputDimension;

    /** @param pca borrowed, valid while this projection is used; null keeps the dimension */
    public VectorProjection(Pca pca, int inputDimension) {
        if (pca != null && pca.inputDimension() != inputDimension) {
            throw new InvalidInputException("PCA takes " + pca.inputDimension() + " values, vectors have " + inputDimension);
        }
        this.pca = pca;
        this.inputDimension = inputDimension;
    }

    public int inputDimension() {
        return inputDimension;
    }

    public int outputDimension() {
        return pca == null ? inputDimension : pca.outputDimension();
    }

    /** The PCA (null: none); borrowed. */
    public Pca pca() {
        return pca;
    }

    /** Rows of raw features -> rows of outputDimension() values of unit length. */
    public float[][] apply(float[][] raw) {
        for (int i = 0; i < raw.length; i++) {
            if (raw[i].length != inputDimension) {
                throw new InvalidInputException("vector " + i + " has " + raw[i].length + " values, expected " + inputDimension);
            }
        }
        if (raw.length == 0) {
            return new float[0][];
        }
        int dOut = outputDimension();
        try (Arena arena = Arena.ofConfined()) {
            TensorView inView = TensorView.ofRows(arena, raw, inputDimension);
            TensorView outView;
            if (pca == null) {
                Pca.normalizeRows(inView);
                outView = inView;
            } else {
                outView = TensorView.allocate(arena, DType.F32, raw.length, dOut);
                pca.apply(inView, outView, true);
            }
            float[][] out = new float[raw.length][dOut];
            MemorySegment data = outView.data();
            for (int i = 0; i < raw.length; i++) {
                MemorySegment.copy(data, ValueLayout.JAVA_FLOAT, (long) i * dOut * Float.BYTES, out[i], 0, dOut);
            }
            return out;
        }
    }
}
