package dev.atelier.engine.catalog;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

class SplitTest {
    /** The readers report a null split with the statuses their file allows, so fromName returns null, never throws. */
    @Test
    void namesAreTheEvaluationStatusesAndAnythingElseIsNull() {
        assertEquals(Split.TRAIN, Split.fromName("train"));
        assertEquals(Split.VAL, Split.fromName("Val"));
        assertEquals(Split.TEST, Split.fromName("TEST"));
        assertEquals(Split.QUERY, Split.fromName("query"));
        assertEquals(Split.GALLERY, Split.fromName(" gallery "));
        assertNull(Split.fromName("none"));
        assertNull(Split.fromName("holdout"));
        assertNull(Split.fromName(null));
    }
}
