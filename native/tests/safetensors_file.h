/* Reads a .safetensors file for the native tests and benchmark drivers, which run where there is
 * no JVM (the Java engine has the product's reader): the file is memory-mapped and each tensor is
 * a view of the mapping. Only what the fixtures and checkpoints use is understood: a header of
 * one JSON object whose members are "__metadata__" (skipped) or a tensor
 * {"dtype": "F32" | "F16" | "BF16" | "I64", "shape": [...], "data_offsets": [begin, end]};
 * anything else fails the load with a message. Plain C, static functions (header-only). */
#ifndef ATL_SAFETENSORS_FILE_H
#define ATL_SAFETENSORS_FILE_H

#include <ctype.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atelier.h"

#define ST_MAX_TENSORS 4096
#define ST_MAX_NAME 256

typedef struct st_tensor {
    char name[ST_MAX_NAME];
    atl_tensor_view view; /* data points into the mapping */
} st_tensor;

typedef struct st_file {
    void* map;
    size_t size;
    int count;
    st_tensor* tensors; /* count entries, in header order */
    char error[512];
} st_file;

typedef struct st_cursor {
    const char* p;
    const char* end;
} st_cursor;

static void st_skip_ws(st_cursor* c) {
    while (c->p < c->end && isspace((unsigned char)*c->p)) ++c->p;
}

static int st_expect(st_cursor* c, char ch) {
    st_skip_ws(c);
    if (c->p >= c->end || *c->p != ch) return 0;
    ++c->p;
    return 1;
}

/* A JSON string without escapes (tensor names and dtypes have none) into out[cap]. */
static int st_string(st_cursor* c, char* out, size_t cap) {
    if (!st_expect(c, '"')) return 0;
    size_t n = 0;
    while (c->p < c->end && *c->p != '"') {
        if (*c->p == '\\' || n + 1 >= cap) return 0;
        out[n++] = *c->p++;
    }
    out[n] = 0;
    return st_expect(c, '"');
}

static int st_integer(st_cursor* c, int64_t* out) {
    st_skip_ws(c);
    char* stop = NULL;
    long long v = strtoll(c->p, &stop, 10);
    if (stop == c->p || stop > c->end) return 0;
    c->p = stop;
    *out = (int64_t)v;
    return 1;
}

/* [a, b, ...] of at most cap integers; *n gets the count. */
static int st_integers(st_cursor* c, int64_t* out, int cap, int* n) {
    *n = 0;
    if (!st_expect(c, '[')) return 0;
    st_skip_ws(c);
    if (c->p < c->end && *c->p == ']') return st_expect(c, ']');
    do {
        if (*n >= cap || !st_integer(c, &out[*n])) return 0;
        ++*n;
    } while (st_expect(c, ','));
    return st_expect(c, ']');
}

/* Skips one JSON value of the __metadata__ object (strings only, as the format says). */
static int st_skip_object_of_strings(st_cursor* c) {
    char buf[8192];
    if (!st_expect(c, '{')) return 0;
    st_skip_ws(c);
    if (c->p < c->end && *c->p == '}') return st_expect(c, '}');
    do {
        if (!st_string(c, buf, sizeof buf) || !st_expect(c, ':')) return 0;
        /* values may hold escapes (JSON in JSON): scan to the closing quote */
        if (!st_expect(c, '"')) return 0;
        while (c->p < c->end && *c->p != '"') c->p += *c->p == '\\' ? 2 : 1;
        if (!st_expect(c, '"')) return 0;
    } while (st_expect(c, ','));
    return st_expect(c, '}');
}

static int st_dtype(const char* s) {
    if (strcmp(s, "F32") == 0) return ATL_DTYPE_F32;
    if (strcmp(s, "F16") == 0) return ATL_DTYPE_F16;
    if (strcmp(s, "BF16") == 0) return ATL_DTYPE_BF16;
    if (strcmp(s, "I64") == 0) return ATL_DTYPE_I64;
    return -1;
}

static void st_close(st_file* f) {
    if (f->map != NULL && f->map != MAP_FAILED) munmap(f->map, f->size);
    free(f->tensors);
    memset(f, 0, sizeof *f);
}

/* 1 on success; 0 with f->error set (f holds nothing to close then). */
static int st_open(st_file* f, const char* path) {
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || sb.st_size < 8) {
        snprintf(f->error, sizeof f->error, "%s: cannot open, or shorter than 8 bytes", path);
        if (fd >= 0) close(fd);
        return 0;
    }
    f->size = (size_t)sb.st_size;
    f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f->map == MAP_FAILED) {
        snprintf(f->error, sizeof f->error, "%s: mmap failed", path);
        f->map = NULL;
        return 0;
    }
    uint64_t header = 0;
    memcpy(&header, f->map, 8); /* little-endian u64, as on x86-64 */
    if (header > f->size - 8) {
        snprintf(f->error, sizeof f->error, "%s: header length %llu exceeds the file", path, (unsigned long long)header);
        st_close(f);
        return 0;
    }
    const char* base = (const char*)f->map + 8 + header;
    const size_t data_size = f->size - 8 - header;
    f->tensors = (st_tensor*)calloc(ST_MAX_TENSORS, sizeof(st_tensor));
    st_cursor c = {(const char*)f->map + 8, (const char*)f->map + 8 + header};
    int ok = f->tensors != NULL && st_expect(&c, '{');
    while (ok) {
        char key[ST_MAX_NAME];
        if (!st_string(&c, key, sizeof key) || !st_expect(&c, ':')) {
            ok = 0;
            break;
        }
        if (strcmp(key, "__metadata__") == 0) {
            ok = st_skip_object_of_strings(&c);
        } else if (f->count >= ST_MAX_TENSORS) {
            ok = 0;
        } else {
            st_tensor* t = &f->tensors[f->count];
            char field[32], dtype[16] = "";
            int64_t shape[ATL_MAX_DIMS], offsets[2];
            int ndim = -1, noff = 0;
            ok = st_expect(&c, '{');
            while (ok) {
                ok = st_string(&c, field, sizeof field) && st_expect(&c, ':');
                if (!ok) break;
                if (strcmp(field, "dtype") == 0) {
                    ok = st_string(&c, dtype, sizeof dtype);
                } else if (strcmp(field, "shape") == 0) {
                    ok = st_integers(&c, shape, ATL_MAX_DIMS, &ndim);
                } else if (strcmp(field, "data_offsets") == 0) {
                    ok = st_integers(&c, offsets, 2, &noff) && noff == 2;
                } else {
                    ok = 0;
                }
                if (ok && !st_expect(&c, ',')) {
                    ok = st_expect(&c, '}');
                    break;
                }
            }
            const int code = st_dtype(dtype);
            int64_t numel = 1;
            for (int d = 0; d < ndim; ++d) numel *= shape[d];
            ok = ok && code >= 0 && ndim >= 0 && offsets[0] >= 0 && offsets[1] >= offsets[0] &&
                 (size_t)offsets[1] <= data_size && offsets[1] - offsets[0] == numel * atl_dtype_size(code);
            if (!ok) {
                snprintf(f->error, sizeof f->error, "%s: tensor %s: bad or unsupported entry", path, key);
                st_close(f);
                return 0;
            }
            snprintf(t->name, sizeof t->name, "%s", key);
            t->view.data = (void*)(base + offsets[0]);
            t->view.dtype = code;
            t->view.ndim = ndim;
            t->view.device = ATL_DEVICE_CPU;
            int64_t stride = 1;
            for (int d = ndim - 1; d >= 0; --d) {
                t->view.shape[d] = shape[d];
                t->view.strides[d] = stride;
                stride *= shape[d];
            }
            ++f->count;
        }
        if (ok && !st_expect(&c, ',')) {
            ok = st_expect(&c, '}');
            break;
        }
    }
    if (!ok) {
        if (f->error[0] == 0) snprintf(f->error, sizeof f->error, "%s: cannot read the header", path);
        st_close(f);
        return 0;
    }
    return 1;
}

/* The tensor named name, or NULL. */
static const atl_tensor_view* st_find(const st_file* f, const char* name) {
    for (int i = 0; i < f->count; ++i) {
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i].view;
    }
    return NULL;
}

/* A weight set of the tensors whose names start with prefix, the prefix stripped (views of the
 * mapping: f must stay open while w and what is made from it live). NULL on failure. */
static atl_weights* st_weights(const st_file* f, const char* prefix) {
    atl_weights* w = NULL;
    if (atl_weights_create(&w) != NULL) return NULL;
    const size_t n = strlen(prefix);
    for (int i = 0; i < f->count; ++i) {
        if (strncmp(f->tensors[i].name, prefix, n) != 0) continue;
        atl_status* s = atl_weights_add(w, f->tensors[i].name + n, &f->tensors[i].view);
        if (s != NULL) {
            fprintf(stderr, "%s: %s\n", f->tensors[i].name, atl_status_message(s));
            atl_status_destroy(s);
            atl_weights_destroy(w);
            return NULL;
        }
    }
    return w;
}

#endif
