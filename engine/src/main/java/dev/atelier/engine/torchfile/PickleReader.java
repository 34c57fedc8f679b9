package dev.atelier.engine.torchfile;

import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.torchfile.Pickled.Global;
import dev.atelier.engine.torchfile.Pickled.Opaque;
import dev.atelier.engine.torchfile.Pickled.StorageRef;
import dev.atelier.engine.torchfile.Pickled.TensorRef;
import dev.atelier.engine.torchfile.Pickled.Tuple;
import java.lang.foreign.MemorySegment;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A minimal pickle virtual machine for the {@code data.pkl} of a torch.save archive: enough
 * opcodes for (nested) state dicts of tensors, protocols 2 to 4. It never imports or calls
 * anything: {@code GLOBAL} resolves only a whitelist (OrderedDict, torch's tensor rebuild
 * functions and storage types), and every other class is an error naming it, or, in lenient
 * mode, an inert {@link Opaque} record (for training checkpoints that also pickle callbacks or
 * numpy scalars next to the weights).
 *
 * <p>A pickle is a program, and a hostile one can describe far more than its size: a few hundred
 * bytes of memo references ({@code BINGET}) build a list whose expansion holds 2^40 items, one byte
 * ({@code EMPTY_DICT}) builds a 64-byte object, and an object can contain itself. So the machine
 * charges every value it builds or stores against {@link #MAX_BUILT_BYTES}, allows only
 * scalars and flat tuples of them as dict keys (as Python allows only hashable keys; this keeps
 * hashing from recursing), and renders values in messages within a fixed budget
 * ({@link PickledText}). Walking the result (see {@code TorchFile}) is bounded separately: depth,
 * visits and cycles. The bytes are read through {@link PickleInput}.
 *
 * <p>Opcode semantics from CPython's {@code Lib/pickletools.py} documentation.
 */
final class PickleReader {
    private static final Object MARK = new Object();

    /**
     * The most the values of one pickle may take in memory, estimated as they are built (an
     * object header per container, string or record, a reference per stack slot, memo entry and
     * container item). The {@code data.pkl} of torchvision's MobileNetV3-Large (312 tensors) builds
     * 0.5 MiB, so an SD 1.5 checkpoint (about 1,100 tensors) builds about 2 MiB and a training
     * checkpoint with EMA weights and optimizer state (a few times the tensors) some 10 MiB;
     * 128 MiB leaves room for pickles of a million opcodes and more, while a pickle of one-byte
     * {@code EMPTY_DICT}s is refused before its maps take more than a few hundred MB of heap.
     */
    static final long MAX_BUILT_BYTES = 128L << 20;

    /** Estimated sizes for {@link #MAX_BUILT_BYTES}: a Java object header and a reference. */
    private static final long OBJECT = 48, REFERENCE = 8;

    private static final Map<String, DType> STORAGES = Map.of(
            "FloatStorage", DType.F32, "DoubleStorage", DType.F64, "HalfStorage", DType.F16,
            "BFloat16Storage", DType.BF16, "LongStorage", DType.I64, "IntStorage", DType.I32,
            "ShortStorage", DType.I16, "CharStorage", DType.I8, "ByteStorage", DType.U8, "BoolStorage", DType.BOOL);
    private static final Global ORDERED_DICT = new Global("collections", "OrderedDict");
    private static final Global REBUILD_TENSOR = new Global("torch._utils", "_rebuild_tensor_v2");
    private static final Global REBUILD_PARAMETER = new Global("torch._utils", "_rebuild_parameter");

    private final PickleInput input;
    private final boolean lenient;
    private final List<Object> stack = new ArrayList<>();
    private final List<Integer> marks = new ArrayList<>();
    private final Map<Long, Object> memo = new HashMap<>();
    private long built; // estimated bytes of every value built or stored so far

    private PickleReader(String where, MemorySegment in, boolean lenient) {
        this.input = new PickleInput(where, in);
        this.lenient = lenient;
    }

    /** Runs the pickle in data; where names it in errors (file and entry). */
    static Object read(String where, MemorySegment data, boolean lenient) {
        return new PickleReader(where, data, lenient).run();
    }

    private Object run() {
        while (true) {
            long at = input.pos();
            int op = input.u8();
            switch (op) {
                case 0x80 -> { // PROTO
                    int protocol = input.u8();
                    if (protocol > 5) {
                        throw error(at, "pickle protocol " + protocol + " is newer than 5");
                    }
                }
                case 0x95 -> input.skip(8); // FRAME: a length hint only
                case '.' -> { // STOP
                    if (stack.size() != 1 || !marks.isEmpty()) {
                        throw error(at, "STOP with " + stack.size() + " values and " + marks.size() + " marks on the stack");
                    }
                    return stack.get(0);
                }
                case '(' -> { // MARK
                    charge(at, 2 * REFERENCE);
                    marks.add(stack.size());
                    stack.add(MARK);
                }
                case '}' -> push(built(at, new LinkedHashMap<>(), OBJECT)); // EMPTY_DICT
                case ']' -> push(built(at, new ArrayList<>(), OBJECT)); // EMPTY_LIST
                case ')' -> push(new Tuple(List.of())); // EMPTY_TUPLE
                case 'd' -> { // DICT
                    List<Object> items = popMark(at);
                    Map<Object, Object> m = new LinkedHashMap<>();
                    putPairs(at, m, items);
                    push(m);
                }
                case 'l' -> push(items(at, popMark(at))); // LIST
                case 't' -> push(new Tuple(items(at, popMark(at)))); // TUPLE
                case 0x85 -> push(new Tuple(items(at, popN(at, 1)))); // TUPLE1
                case 0x86 -> push(new Tuple(items(at, popN(at, 2)))); // TUPLE2
                case 0x87 -> push(new Tuple(items(at, popN(at, 3)))); // TUPLE3
                case 'X' -> push(utf8(input.u32())); // BINUNICODE
                case 0x8c -> push(utf8(input.u8())); // SHORT_BINUNICODE
                case 0x8d -> push(utf8(input.len64(at))); // BINUNICODE8
                case 'B' -> push(bytes(input.u32())); // BINBYTES
                case 0x8e -> push(bytes(input.len64(at))); // BINBYTES8
                case 0x8f -> push(built(at, new ArrayList<>(), OBJECT)); // EMPTY_SET: a set is kept as a list
                case 0x90 -> { // ADDITEMS
                    List<Object> items = popMark(at);
                    charge(at, REFERENCE * items.size());
                    list(at).addAll(items);
                }
                case 0x91 -> push(items(at, popMark(at))); // FROZENSET
                case 'C' -> push(bytes(input.u8())); // SHORT_BINBYTES
                case 'J' -> push((long) input.i32()); // BININT
                case 'K' -> push((long) input.u8()); // BININT1
                case 'M' -> push((long) input.u16()); // BININT2
                case 0x8a -> push(input.long1(input.u8())); // LONG1
                case 'G' -> { // BINFLOAT: 8 bytes, big endian
                    input.need(8);
                    push(input.f64());
                }
                case 0x88 -> push(Boolean.TRUE); // NEWTRUE
                case 0x89 -> push(Boolean.FALSE); // NEWFALSE
                case 'N' -> push(null); // NONE
                case 'q' -> memoize(at, input.u8()); // BINPUT
                case 'r' -> memoize(at, Integer.toUnsignedLong(input.i32())); // LONG_BINPUT
                case 0x94 -> memoize(at, memo.size()); // MEMOIZE
                case 'h' -> push(recall(at, input.u8())); // BINGET
                case 'j' -> push(recall(at, Integer.toUnsignedLong(input.i32()))); // LONG_BINGET
                case '0' -> pop(at); // POP
                case '1' -> popMark(at); // POP_MARK
                case '2' -> push(peek(at)); // DUP
                case 's' -> { // SETITEM
                    Object value = pop(at);
                    Object key = pop(at);
                    put(at, dict(at), key, value);
                }
                case 'u' -> { // SETITEMS
                    List<Object> items = popMark(at);
                    putPairs(at, dict(at), items);
                }
                case 'a' -> { // APPEND
                    Object value = pop(at);
                    charge(at, REFERENCE);
                    list(at).add(value);
                }
                case 'e' -> { // APPENDS
                    List<Object> items = popMark(at);
                    charge(at, REFERENCE * items.size());
                    list(at).addAll(items);
                }
                case 'c' -> push(global(at, input.line(at), input.line(at))); // GLOBAL
                case 0x93 -> { // STACK_GLOBAL
                    Object name = pop(at);
                    Object module = pop(at);
                    if (!(module instanceof String m) || !(name instanceof String n)) {
                        throw error(at, "STACK_GLOBAL needs two strings");
                    }
                    push(global(at, m, n));
                }
                case 'R' -> { // REDUCE
                    Object args = pop(at);
                    Object callable = pop(at);
                    push(reduce(at, callable, args));
                }
                case 0x81 -> { // NEWOBJ: cls.__new__(cls, *args)
                    Object args = pop(at);
                    Object cls = pop(at);
                    push(reduce(at, cls, args));
                }
                case 0x92 -> { // NEWOBJ_EX: cls.__new__(cls, *args, **kwargs)
                    pop(at);
                    Object args = pop(at);
                    Object cls = pop(at);
                    push(reduce(at, cls, args));
                }
                case 'b' -> { // BUILD
                    pop(at); // the state: OrderedDict's _metadata, or an opaque object's fields
                    Object target = peek(at);
                    if (!(target instanceof Map || target instanceof Opaque)) {
                        throw error(at, "BUILD on " + PickledText.describe(target) + " is not supported");
                    }
                }
                case 'Q' -> push(persistentLoad(at, pop(at))); // BINPERSID
                default -> throw error(at, String.format("unsupported pickle opcode 0x%02x", op)
                        + (op >= 0x20 && op < 0x7f ? " ('" + (char) op + "')" : ""));
            }
        }
    }

    private Global global(long at, String module, String name) {
        Global g = built(at, new Global(module, name), OBJECT);
        if (g.equals(ORDERED_DICT) || g.equals(REBUILD_TENSOR) || g.equals(REBUILD_PARAMETER)
                || (module.equals("torch") && STORAGES.containsKey(name)) || lenient) {
            return g;
        }
        throw error(at, "refuses to load class or function " + g
                + ": only tensors and (ordered) dicts of them are read without Python");
    }

    private <T> T built(long at, T value, long bytes) {
        charge(at, bytes);
        return value;
    }

    private Object reduce(long at, Object callable, Object args) {
        if (!(callable instanceof Global g) || !(args instanceof Tuple t)) {
            throw error(at, "REDUCE needs a global and a tuple, got " + PickledText.describe(callable) + " and " + PickledText.describe(args));
        }
        if (g.equals(ORDERED_DICT)) {
            if (t.size() != 0) {
                throw error(at, "OrderedDict with arguments is not supported");
            }
            return built(at, new LinkedHashMap<>(), OBJECT);
        }
        if (g.equals(REBUILD_TENSOR)) {
            // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
            if (t.size() < 4 || !(t.get(0) instanceof StorageRef storage) || !(t.get(1) instanceof Long offset)) {
                throw error(at, "malformed _rebuild_tensor_v2 arguments " + PickledText.describe(t));
            }
            long[] shape = longs(at, t.get(2), "size");
            long[] stride = longs(at, t.get(3), "stride");
            if (shape.length != stride.length) {
                throw error(at, "tensor size " + Arrays.toString(shape) + " and stride " + Arrays.toString(stride)
                        + " differ in rank");
            }
            return built(at, new TensorRef(storage, offset, shape, stride), OBJECT + 16L * shape.length);
        }
        if (g.equals(REBUILD_PARAMETER)) {
            // _rebuild_parameter(data, requires_grad, backward_hooks): a Parameter is its tensor here.
            if (t.size() < 1 || !(t.get(0) instanceof TensorRef tensor)) {
                throw error(at, "malformed _rebuild_parameter arguments " + PickledText.describe(t));
            }
            return tensor;
        }
        if (lenient) {
            return built(at, new Opaque(g, t), OBJECT);
        }
        throw error(at, "cannot call " + g);
    }

    private StorageRef persistentLoad(long at, Object pid) {
        // torch/serialization.py persistent_id: ('storage', storage_type, key, location, numel)
        if (!(pid instanceof Tuple t) || t.size() != 5 || !"storage".equals(t.get(0))
                || !(t.get(1) instanceof Global type) || !(t.get(2) instanceof String key)
                || !(t.get(3) instanceof String location) || !(t.get(4) instanceof Long numel)) {
            throw error(at, "unsupported persistent id " + PickledText.describe(pid));
        }
        DType dtype = type.module().equals("torch") ? STORAGES.get(type.name()) : null;
        if (dtype == null) {
            throw error(at, "unsupported storage type " + type);
        }
        return built(at, new StorageRef(dtype, key, location, numel), OBJECT);
    }

    private long[] longs(long at, Object o, String what) {
        if (!(o instanceof Tuple t)) {
            throw error(at, "tensor " + what + " is not a tuple: " + PickledText.describe(o));
        }
        long[] out = new long[t.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(t.get(i) instanceof Long v) || v < 0) {
                throw error(at, "tensor " + what + " has a bad entry " + PickledText.describe(t.get(i)));
            }
            out[i] = v;
        }
        return out;
    }

    private void putPairs(long at, Map<Object, Object> m, List<Object> items) {
        if (items.size() % 2 != 0) {
            throw error(at, "odd number of items for a dict");
        }
        for (int i = 0; i < items.size(); i += 2) {
            put(at, m, items.get(i), items.get(i + 1));
        }
    }

    /**
     * Puts one dict item. Keys are scalars or tuples of scalars, as Python requires hashable keys
     * (a list or dict key is an error there too); an opaque object is its own identity. This
     * keeps {@code hashCode} and {@code equals} from walking a deep or self-containing key.
     */
    private void put(long at, Map<Object, Object> m, Object key, Object value) {
        if (!hashable(key, true)) {
            throw error(at, "a dict key of type " + typeName(key) + " is not hashable (only strings, numbers, "
                    + "booleans, None and tuples of them are read as keys)");
        }
        charge(at, OBJECT);
        m.put(key, value);
    }

    private static boolean hashable(Object key, boolean tupleAllowed) {
        if (key instanceof Tuple t && tupleAllowed) {
            for (Object item : t.items()) {
                if (!hashable(item, false)) {
                    return false;
                }
            }
            return true;
        }
        return key == null || key instanceof String || key instanceof Long || key instanceof BigInteger
                || key instanceof Double || key instanceof Boolean || key instanceof byte[] || key instanceof Global
                || key instanceof Opaque;
    }

    private static String typeName(Object o) {
        return switch (o) {
            case null -> "None";
            case Map<?, ?> m -> "dict";
            case List<?> l -> "list";
            case Tuple t -> "tuple (of a list, dict or tuple)";
            default -> o.getClass().getSimpleName();
        };
    }

    /** A new list of items, charged. */
    private List<Object> items(long at, List<Object> items) {
        charge(at, OBJECT + REFERENCE * items.size());
        return new ArrayList<>(items);
    }

    private void memoize(long at, long key) {
        Object value = peek(at);
        charge(at, OBJECT);
        memo.put(key, value);
    }

    private void charge(long at, long bytes) {
        built += bytes;
        if (built > MAX_BUILT_BYTES) {
            throw error(at, "the pickle builds more than " + (MAX_BUILT_BYTES >> 20)
                    + " MiB of values (a checkpoint's data.pkl builds a few MiB): refused as a memory bomb");
        }
    }

    @SuppressWarnings("unchecked")
    private Map<Object, Object> dict(long at) {
        Object top = peek(at);
        if (top instanceof Map<?, ?> m) {
            return (Map<Object, Object>) m;
        }
        if (top instanceof Opaque && lenient) {
            return new HashMap<>(); // items of an opaque mapping are dropped with it
        }
        throw error(at, "SETITEM on " + PickledText.describe(top));
    }

    @SuppressWarnings("unchecked")
    private List<Object> list(long at) {
        Object top = peek(at);
        if (top instanceof List<?> l) {
            return (List<Object>) l;
        }
        if (top instanceof Opaque && lenient) {
            return new ArrayList<>();
        }
        throw error(at, "APPEND on " + PickledText.describe(top));
    }

    private void push(Object o) {
        charge(input.pos(), REFERENCE);
        stack.add(o);
    }

    private Object pop(long at) {
        if (stack.isEmpty() || stack.get(stack.size() - 1) == MARK) {
            throw error(at, "stack underflow");
        }
        return stack.remove(stack.size() - 1);
    }

    private Object peek(long at) {
        if (stack.isEmpty() || stack.get(stack.size() - 1) == MARK) {
            throw error(at, "stack underflow");
        }
        return stack.get(stack.size() - 1);
    }

    private List<Object> popN(long at, int n) {
        List<Object> items = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            items.add(0, pop(at));
        }
        return items;
    }

    private List<Object> popMark(long at) {
        if (marks.isEmpty()) {
            throw error(at, "no MARK on the stack");
        }
        int m = marks.remove(marks.size() - 1);
        List<Object> items = new ArrayList<>(stack.subList(m + 1, stack.size()));
        stack.subList(m, stack.size()).clear();
        return items;
    }

    private Object recall(long at, long key) {
        if (!memo.containsKey(key)) {
            throw error(at, "memo key " + key + " was never stored");
        }
        return memo.get(key);
    }

    private String utf8(long n) {
        return new String(bytes(n), StandardCharsets.UTF_8);
    }

    private byte[] bytes(long n) {
        input.require(n);
        charge(input.pos(), OBJECT + 2 * n); // a String may hold UTF-16
        return input.take(n);
    }

    private FormatException error(long at, String problem) {
        return input.error(at, problem);
    }
}
