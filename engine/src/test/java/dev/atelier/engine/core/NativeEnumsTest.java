package dev.atelier.engine.core;

import static dev.atelier.bindings.atelier_h.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.index.IndexSpec;
import dev.atelier.engine.index.SearchKernel;
import dev.atelier.engine.index.VectorIndex;
import dev.atelier.engine.lora.LoraMode;
import dev.atelier.engine.sd.Sampler;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashSet;
import java.util.Set;
import java.util.function.Function;
import java.util.function.IntFunction;
import java.util.function.ToIntFunction;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Java mirrors of the C enums against the C library itself (atl_*_name, atl_*_from_name),
 * not against themselves: every constant has the library's code for its name, and the library
 * knows no value the enum lacks.
 */
class NativeEnumsTest {
    /** Codes beyond the largest Java one that the library is asked about. */
    private static final int PROBE = 16;

    @BeforeAll
    static void load() {
        NativeLibrary.load();
    }

    @Test
    void samplers() {
        mirrors(Sampler.values(), Sampler::code, Sampler::nativeName, c -> atl_sampler_name(c), n -> atl_sampler_from_name(n),
                Sampler::fromCode);
        for (Sampler s : Sampler.values()) {
            assertEquals(s, Sampler.fromName(s.id()));
        }
    }

    @Test
    void loraModes() {
        mirrors(LoraMode.values(), LoraMode::code, LoraMode::nativeName, c -> atl_lora_mode_name(c),
                n -> atl_lora_mode_from_name(n), LoraMode::fromCode);
    }

    @Test
    void searchKernels() {
        mirrors(SearchKernel.values(), SearchKernel::code, SearchKernel::nativeName, c -> atl_search_kernel_name(c),
                n -> atl_search_kernel_from_name(n), SearchKernel::fromCode);
        for (SearchKernel k : SearchKernel.values()) {
            assertEquals(k, SearchKernel.fromName(k.nativeName()));
        }
    }

    @Test
    void dtypes() {
        // The library names dtypes as safetensors does, which are the Java constants' names; it has no from_name.
        mirrors(DType.values(), DType::code, DType::nativeName, c -> atl_dtype_name(c), null, DType::fromCode);
        for (DType d : DType.values()) {
            assertEquals(d.byteSize(), atl_dtype_size(d.code()), d.name());
            assertEquals(d, DType.fromName(d.name()).orElseThrow());
        }
    }

    @Test
    void statusCodesMapOntoTheirExceptions() {
        // A real status from the library: an unknown search kernel is ATL_ERR_INVALID_ARGUMENT.
        try (VectorIndex index = VectorIndex.create(IndexSpec.flat(), 4)) {
            MemorySegment status = atl_index_set_search_kernel(index.pointer(), 1000);
            try {
                assertEquals(AtelierException.INVALID_ARGUMENT, atl_status_code(status));
            } finally {
                atl_status_destroy(status);
            }
        }
        assertTrue(AtelierException.fromStatus(AtelierException.IO, "x") instanceof AtelierException.FormatException);
        assertTrue(AtelierException.fromStatus(AtelierException.SHAPE, "x") instanceof AtelierException.InvalidInputException);
        assertTrue(AtelierException.fromStatus(AtelierException.BACKEND, "x") instanceof AtelierException.BackendException);
        assertEquals(AtelierException.INTERNAL, AtelierException.fromStatus(AtelierException.OK, "x").code());
    }

    /**
     * Each constant's code names it in the library and its name gives the code back (fromName
     * null: the library has no from_name); every code the library names is a constant.
     */
    private static <E extends Enum<E>> void mirrors(E[] values, ToIntFunction<E> code, Function<E, String> name,
            IntFunction<MemorySegment> cName, ToIntFunction<MemorySegment> cFromName, IntFunction<E> fromCode) {
        Set<Integer> codes = new HashSet<>();
        int max = -1;
        try (Arena arena = Arena.ofConfined()) {
            for (E e : values) {
                int c = code.applyAsInt(e);
                assertTrue(codes.add(c), e + ": code " + c + " used twice");
                max = Math.max(max, c);
                MemorySegment n = cName.apply(c);
                assertTrue(!n.equals(MemorySegment.NULL), e + ": the library has no name for code " + c);
                assertEquals(name.apply(e), n.reinterpret(Long.MAX_VALUE).getString(0), e.name());
                if (cFromName != null) {
                    assertEquals(c, cFromName.applyAsInt(arena.allocateFrom(name.apply(e))), e.name());
                }
                assertEquals(e, fromCode.apply(c));
            }
            if (cFromName != null) {
                assertEquals(-1, cFromName.applyAsInt(arena.allocateFrom("no such value")));
            }
        }
        for (int c = -1; c <= max + PROBE; c++) {
            boolean named = !cName.apply(c).equals(MemorySegment.NULL);
            assertEquals(codes.contains(c), named, values[0].getDeclaringClass().getSimpleName() + " code " + c
                    + (named ? " is named by the library but has no constant" : " has a constant but no library name"));
        }
    }
}
