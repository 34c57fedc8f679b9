package dev.atelier.engine.onnx;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Map;

/**
 * Builds an ONNX {@code ModelProto} in memory: graph inputs and outputs, float initializers and
 * nodes, encoded with {@link ProtoWriter}. Field numbers are those of onnx.proto (ONNX 1.12).
 */
final class OnnxGraph {
    /** {@code TensorProto.DataType} values. */
    static final int FLOAT = 1, INT64 = 7;

    // onnx.proto field numbers, grouped by message.
    private static final int MODEL_IR_VERSION = 1, MODEL_PRODUCER_NAME = 2, MODEL_PRODUCER_VERSION = 3,
            MODEL_DOC_STRING = 6, MODEL_GRAPH = 7, MODEL_OPSET_IMPORT = 8, MODEL_METADATA_PROPS = 14;
    private static final int OPSET_DOMAIN = 1, OPSET_VERSION = 2;
    private static final int ENTRY_KEY = 1, ENTRY_VALUE = 2;
    private static final int GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INITIALIZER = 5, GRAPH_INPUT = 11,
            GRAPH_OUTPUT = 12;
    private static final int NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP_TYPE = 4, NODE_ATTRIBUTE = 5;
    private static final int ATTR_NAME = 1, ATTR_F = 2, ATTR_I = 3, ATTR_INTS = 8, ATTR_TYPE = 20;
    private static final int ATTR_TYPE_FLOAT = 1, ATTR_TYPE_INT = 2, ATTR_TYPE_INTS = 7;
    private static final int TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_NAME = 8, TENSOR_RAW_DATA = 9;
    private static final int VALUE_NAME = 1, VALUE_TYPE = 2;
    private static final int TYPE_TENSOR = 1, TENSOR_TYPE_ELEM = 1, TENSOR_TYPE_SHAPE = 2;
    private static final int SHAPE_DIM = 1, DIM_VALUE = 1, DIM_PARAM = 2;

    /**
     * IR version 7 goes with opset 13 (the ONNX versioning table); ONNX Runtime reads older IRs.
     */
    static final int IR_VERSION = 7;

    /** A node attribute: exactly one of the value kinds, as its {@code type} says. */
    record Attr(String name, int type, float f, long i, long[] ints) {
        static Attr f(String name, float value) {
            return new Attr(name, ATTR_TYPE_FLOAT, value, 0, null);
        }

        static Attr i(String name, long value) {
            return new Attr(name, ATTR_TYPE_INT, 0, value, null);
        }

        static Attr ints(String name, long... values) {
            return new Attr(name, ATTR_TYPE_INTS, 0, 0, values.clone());
        }

        private ProtoWriter encode() {
            ProtoWriter w = new ProtoWriter().string(ATTR_NAME, name);
            switch (type) {
                case ATTR_TYPE_FLOAT -> w.float32(ATTR_F, f);
                case ATTR_TYPE_INT -> w.int64(ATTR_I, i);
                case ATTR_TYPE_INTS -> w.packedInt64(ATTR_INTS, ints);
                default -> throw new IllegalStateException("attribute type " + type);
            }
            return w.int32(ATTR_TYPE, type);
        }
    }

    private final ProtoWriter graph = new ProtoWriter(1 << 20);
    // The protobuf text of inputs and outputs goes after nodes and initializers; field order on the
    // wire does not matter to parsers, but keeping them apart lets callers declare them in any order.
    private final ProtoWriter inputs = new ProtoWriter();
    private final ProtoWriter outputs = new ProtoWriter();
    private int nodeCount;

    OnnxGraph(String name) {
        graph.string(GRAPH_NAME, name);
    }

    /** Declares a graph input; each dim is a Long (fixed size) or a String (a named free dimension). */
    OnnxGraph input(String name, int elemType, Object... dims) {
        inputs.message(GRAPH_INPUT, valueInfo(name, elemType, dims));
        return this;
    }

    OnnxGraph output(String name, int elemType, Object... dims) {
        outputs.message(GRAPH_OUTPUT, valueInfo(name, elemType, dims));
        return this;
    }

    /** A constant float tensor, stored as little-endian raw_data. */
    OnnxGraph initializer(String name, long[] dims, float[] values) {
        long count = 1;
        for (long d : dims) {
            count *= d;
        }
        if (count != values.length) {
            throw new IllegalArgumentException(name + ": " + values.length + " values for " + count + " elements");
        }
        ByteBuffer raw = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        raw.asFloatBuffer().put(values);
        ProtoWriter t = new ProtoWriter(values.length * 4 + 64)
                .packedInt64(TENSOR_DIMS, dims)
                .int32(TENSOR_DATA_TYPE, FLOAT)
                .string(TENSOR_NAME, name)
                .bytes(TENSOR_RAW_DATA, raw.array());
        graph.message(GRAPH_INITIALIZER, t);
        return this;
    }

    /** Appends a node (nodes must be in topological order, as ONNX requires). */
    OnnxGraph node(String opType, List<String> in, List<String> out, Attr... attrs) {
        ProtoWriter n = new ProtoWriter();
        for (String s : in) {
            n.string(NODE_INPUT, s);
        }
        for (String s : out) {
            n.string(NODE_OUTPUT, s);
        }
        n.string(NODE_NAME, opType + "_" + nodeCount++);
        n.string(NODE_OP_TYPE, opType);
        for (Attr a : attrs) {
            n.message(NODE_ATTRIBUTE, a.encode());
        }
        graph.message(GRAPH_NODE, n);
        return this;
    }

    /** The whole model file: the default ("ai.onnx") domain at the given opset. */
    byte[] toModel(int opset, String producer, String producerVersion, String doc, Map<String, String> metadata) {
        byte[] g = graph.toByteArray();
        byte[] in = inputs.toByteArray();
        byte[] out = outputs.toByteArray();
        // A graph's serialised fields may be concatenated: that is how protobuf merges messages.
        byte[] graphBytes = new byte[g.length + in.length + out.length];
        System.arraycopy(g, 0, graphBytes, 0, g.length);
        System.arraycopy(in, 0, graphBytes, g.length, in.length);
        System.arraycopy(out, 0, graphBytes, g.length + in.length, out.length);
        ProtoWriter model = new ProtoWriter(graphBytes.length + 1024)
                .int64(MODEL_IR_VERSION, IR_VERSION)
                .string(MODEL_PRODUCER_NAME, producer)
                .string(MODEL_PRODUCER_VERSION, producerVersion)
                .string(MODEL_DOC_STRING, doc)
                .message(MODEL_OPSET_IMPORT, new ProtoWriter().string(OPSET_DOMAIN, "").int64(OPSET_VERSION, opset));
        metadata.forEach((k, v) -> model.message(MODEL_METADATA_PROPS,
                new ProtoWriter().string(ENTRY_KEY, k).string(ENTRY_VALUE, v)));
        model.bytes(MODEL_GRAPH, graphBytes);
        return model.toByteArray();
    }

    private static ProtoWriter valueInfo(String name, int elemType, Object... dims) {
        ProtoWriter shape = new ProtoWriter();
        for (Object d : dims) {
            ProtoWriter dim = switch (d) {
                case Long v -> new ProtoWriter().int64(DIM_VALUE, v);
                case Integer v -> new ProtoWriter().int64(DIM_VALUE, v);
                case String p -> new ProtoWriter().string(DIM_PARAM, p);
                default -> throw new IllegalArgumentException("dim " + d + ": a number or a name");
            };
            shape.message(SHAPE_DIM, dim);
        }
        ProtoWriter tensorType = new ProtoWriter().int32(TENSOR_TYPE_ELEM, elemType).message(TENSOR_TYPE_SHAPE, shape);
        ProtoWriter type = new ProtoWriter().message(TYPE_TENSOR, tensorType);
        return new ProtoWriter().string(VALUE_NAME, name).message(VALUE_TYPE, type);
    }
}
